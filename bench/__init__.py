"""Benchmarks: `python -m bench` runs every module's main()."""
