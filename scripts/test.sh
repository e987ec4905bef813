#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
# Two workers (TEST_WORKERS=0 runs in one process). The tests that start real processes (the bot served, the
# Playground, PostgreSQL clusters) share one worker, in order (tests/conftest.py), so they never race each other.
exec .venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" "$@"
