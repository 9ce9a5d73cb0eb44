"""Locus's benchmarks: `make bench` (or `python -m bench [NAME ...]`) runs them and reports."""
