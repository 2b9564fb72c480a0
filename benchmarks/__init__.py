"""Side-by-side serving benchmarks: `python -m benchmarks --help`."""
