"""Order imports that do not come from a channel's API: CSV uploads."""
