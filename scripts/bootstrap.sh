#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. system packages: JDK 17, Maven, PostgreSQL, MariaDB, kcat (apt, only what is missing)
#   2. a virtualenv in .venv with the project and its pinned Python dependencies
#   3. the Spark JVM dependencies (spark-conf/pom.xml) resolved by Maven into var/jars/spark
#   4. the driver JVM's class-data archive for those jars (var/jars/cds: job processes start
#      faster; aml.class_archive), written once per JDK and jar set
# Safe to run again: each step checks first and does nothing when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*" >&2; }

# --- 1. system packages --------------------------------------------------------------------
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 || missing+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || missing+=(mariadb-client)
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing system packages: ${missing[*]}"
    say "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing system packages: ${missing[*]}"
  apt-get update -qq
  # Debian's postinst scripts try to start the servers; the project starts its own instances.
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# --- 2. Python virtualenv ------------------------------------------------------------------
PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.aml-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp || constraints.txt -nt $stamp ]]; then
  say "installing the project and its pinned dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  touch "$stamp"
fi

# --- 3. Spark JVM dependencies -------------------------------------------------------------
.venv/bin/aml jars resolve

# --- 4. class-data archive of the driver JVM -----------------------------------------------
# About two minutes the first time, nothing afterwards. Sessions work without it (slower to
# start), so a failure here is reported and does not stop the installation.
.venv/bin/aml jars archive >/dev/null ||
  say "no class-data archive: job processes will start slower (see the error above)"
say "ready: .venv/bin/aml --help"
