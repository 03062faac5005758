"""Request limits: page sizes, query cost with a per-key leaky bucket, batch size, introspection."""
