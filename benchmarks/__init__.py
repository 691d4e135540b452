"""Benchmarks run by `make bench`; each prints a table with ratios to a baseline."""
