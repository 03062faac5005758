"""Waybill's pure model: no I/O, no framework imports (checked by tests/unit/test_layering.py)."""
