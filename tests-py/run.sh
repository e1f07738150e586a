#!/usr/bin/env bash
# Runs the OpenAI Python SDK compatibility tests against AIGNE Hub.
#
#   bash tests-py/run.sh            # build the binaries, then run every test
#   bash tests-py/run.sh -k stream  # extra arguments go to pytest
#
# Environment:
#   AIGNE_HUB_BIN, UPSTREAM_SIM_BIN  use these binaries (nothing is built)
#   PYTHON                           interpreter for the virtualenv (default: python3)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/.." && pwd)
VENV="$HERE/.venv"
PY=${PYTHON:-python3}

if [[ -z "${AIGNE_HUB_BIN:-}" || -z "${UPSTREAM_SIM_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --quiet -p aigne-hub -p upstream-sim)
fi
export AIGNE_HUB_BIN=${AIGNE_HUB_BIN:-$REPO/target/debug/aigne-hub}
export UPSTREAM_SIM_BIN=${UPSTREAM_SIM_BIN:-$REPO/target/debug/upstream-sim}

if [[ ! -x "$VENV/bin/python" ]]; then
  "$PY" -m venv "$VENV"
fi
# Reinstall only when the pinned requirements change.
STAMP="$VENV/.requirements.sha256"
WANT=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  echo "$WANT" > "$STAMP"
fi

cd "$HERE"
exec "$VENV/bin/python" -m pytest "$@"
