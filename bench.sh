#!/usr/bin/env bash
# Set everything up and run the benchmarks: ./bench.sh [--model-dir DIR] [--requests N] [--skip-browser]
# Prints a table and writes benchmarks/results.json and benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-system-packages.sh
scripts/setup-venv.sh requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m benchmarks.run "$@"
