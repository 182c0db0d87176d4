"""Benchmarks: `python -m benchmarks.run` measures every view against the seed's naive pipeline."""
