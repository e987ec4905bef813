#!/usr/bin/env bash
# Creates .venv with the project and its development tools. Idempotent; safe to run every time.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

# Node tools the tests drive (the Adaptive Cards library, the Agents Playground, a browser driver), pinned in
# tests/node/package-lock.json; reinstalled only when node_modules is missing or the lockfile has changed.
LOCK_SUM="$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)"
STAMP=tests/node/node_modules/.installed-lock.sha256
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_SUM" ]; then
  if ! command -v npm >/dev/null; then
    echo "install.sh: npm (Node.js 20 or newer) is needed for the tests' Node tools" >&2
    exit 1
  fi
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null
  echo "$LOCK_SUM" > "$STAMP"
fi

# The end-to-end tests drive the Agents Playground in Debian's Chromium. CI (CI=true) and anyone asking for
# them (E2E=1) get it installed when missing; elsewhere those tests skip and say why.
if { [ "${CI:-}" = "true" ] || [ "${E2E:-}" = "1" ]; } && [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  if ! command -v apt-get >/dev/null; then
    echo "install.sh: the end-to-end tests need Chromium; install it (Debian package 'chromium')" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# The exported forms: the PDF embeds DejaVu Sans (fonts-dejavu-core), and the tests turn the DOCX into PDF with
# LibreOffice (libreoffice-writer-nogui) to look at it. CI (CI=true) gets both when missing; elsewhere the DOCX
# test skips and says why.
if [ "${CI:-}" = "true" ] && { ! command -v soffice >/dev/null || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; }; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libreoffice-writer-nogui fonts-dejavu-core >/dev/null
fi

# The PostgreSQL restart test (tests/resilience/test_postgres_restart.py) makes a private cluster with
# PostgreSQL's own programs (initdb, pg_ctl). CI (CI=true) gets them when missing; elsewhere that test skips
# and says why.
if [ "${CI:-}" = "true" ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && [ -z "${PG_BIN:-}" ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
