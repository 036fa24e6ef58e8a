#!/usr/bin/env bash
# The test command: bootstrap, start the real local services, run pytest, stop the services.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m unit`).
#
# The tests run on AML_TEST_WORKERS pytest-xdist workers (default 0: in this process; 2 spreads
# them over two workers, each with a Spark session of its own: on a 2-core machine the whole
# suite took as long as in one process, hence not the default). A module's tests stay on one
# worker: see tests/conftest.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
trap '.venv/bin/aml services down || true' EXIT
.venv/bin/aml services up
workers=${AML_TEST_WORKERS:-0}
parallel=()
if [[ $workers != 0 ]]; then
  parallel=(-n "$workers" --dist loadgroup --no-loadscope-reorder)
fi
.venv/bin/python -m pytest "${parallel[@]}" --durations=25 "$@"
