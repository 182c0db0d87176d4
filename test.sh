#!/usr/bin/env bash
# Set everything up and run every test, browser tests included: ./test.sh [pytest flags]
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-system-packages.sh
scripts/setup-venv.sh requirements-dev.txt
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/python -m pytest --headless "$@"
