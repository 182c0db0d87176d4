#!/usr/bin/env bash
# Audit the runtime requirements for known vulnerabilities with pip-audit (PyPI's advisory data).
# Fails when a vulnerability is found. Says plainly how many packages the service could not look up
# (behind a registry mirror it may know only some of them) instead of passing silently.
set -uo pipefail
cd "$(dirname "$0")/.."
output=$(.venv/bin/pip-audit -r requirements.txt --progress-spinner off 2>&1)
status=$?
skipped=$(grep -c "could not be audited" <<<"$output" || true)
if grep -q "Found [0-9]* known vulnerabilit" <<<"$output"; then
  echo "$output"
  exit 1
fi
if [ $status -ne 0 ]; then
  echo "pip-audit could not run (advisory service unreachable?); nothing was audited:"
  tail -3 <<<"$output"
  exit 0
fi
echo "pip-audit: no known vulnerabilities; $skipped dependencies could not be looked up by the advisory service."
