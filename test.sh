#!/usr/bin/env bash
# Set everything up and run every test, browser tests included: ./test.sh [pytest flags]
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-system-packages.sh
scripts/setup-venv.sh requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# Two processes, each taking whole test files (their session fixtures: one trained model per process).
# TEST_WORKERS=0 runs the suite in this process.
exec .venv/bin/python -m pytest --headless -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
