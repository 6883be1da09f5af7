#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine, then runs it:
# Debian's Chromium and PostgreSQL, the npm tools (Agents Playground, manifest schemas, Adaptive
# Cards renderer), a Python virtual environment with the project, then ruff, mypy and pytest (all
# tiers). The tests start their own throwaway PostgreSQL cluster (as the postgres user when run as
# root) on a Unix socket, and stop it after (tests/pgcluster.py).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund --loglevel=error

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[test]"

ruff check .
ruff format --check .
mypy
lint-imports
vulture
# pytest-randomly shuffles the test order on every run; it prints the seed, and
# --randomly-seed=N replays that order.
python -m pytest "$@"
