"""Benchmarks of what the browser really sends: `python -m benchmarks.run` (captured actions replayed, against the
seed's naive pipeline), `python -m benchmarks.load` (gunicorn under captured digit changes), `benchmarks.training`."""
