"""Waybill's benchmarks: `python -m bench` (or `make bench`). See docs/BENCHMARKS.md."""
