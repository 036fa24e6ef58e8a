#!/usr/bin/env bash
# The test command: bootstrap, start the real local services, run pytest, stop the services.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
trap '.venv/bin/aml services down || true' EXIT
.venv/bin/aml services up
.venv/bin/python -m pytest "$@"
