#!/usr/bin/env bash
# The test command: bootstrap, start the real local services, run pytest, stop the services.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`).
#
# The tests run on AML_TEST_WORKERS pytest-xdist workers (default 2, one per core here; 0 runs
# them in this process), each with a Spark session of its own. A module's tests stay on one
# worker (its fixtures are built once): see tests/conftest.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
trap '.venv/bin/aml services down || true' EXIT
.venv/bin/aml services up
workers=${AML_TEST_WORKERS:-2}
parallel=()
if [[ $workers != 0 ]]; then
  parallel=(-n "$workers" --dist loadgroup --no-loadscope-reorder)
fi
.venv/bin/python -m pytest "${parallel[@]}" --durations=25 "$@"
