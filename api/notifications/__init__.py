"""Customer e-mail settings and templates, and what was sent for each shipment."""
