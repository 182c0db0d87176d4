#!/usr/bin/env bash
# Set everything up and run the dashboard: ./run.sh [app.py flags, e.g. --port 8050 --epochs 5]
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup-venv.sh requirements.txt
exec .venv/bin/python app.py "$@"
