#!/usr/bin/env bash
# Set everything up and run the benchmarks: ./bench.sh [--model-dir DIR] [--requests N] [--skip-browser]
# Captures what the page sends in headless Chromium (installed here), replays it over HTTP, times the naive
# pipeline on the same digits; prints a table and writes benchmarks/results.json and benchmarks/RESULTS.md.
# The load test is separate: .venv/bin/python -m benchmarks.load [--seconds 20] (writes LOAD.md, load.json);
# so are users' models (benchmarks.models, MODELS.md) and the test-set views (benchmarks.testset, TESTSET.md).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-system-packages.sh
scripts/setup-venv.sh requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m benchmarks.run "$@"
