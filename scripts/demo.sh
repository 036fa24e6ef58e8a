#!/usr/bin/env bash
# The main job end to end on local defaults: bootstrap, start the services, generate a small
# SAML-D dataset, load it into PostgreSQL, run the pipeline, print a summary.
# Services stay up afterwards (stop them with `.venv/bin/aml services down`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/aml services up
.venv/bin/aml demo "$@"
