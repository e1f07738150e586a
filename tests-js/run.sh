#!/usr/bin/env bash
# Runs the published AIGNE SDK (@aigne/aigne-hub, npm) against AIGNE Hub.
#
#   bash tests-js/run.sh                      # build the binaries, then run every test
#   bash tests-js/run.sh --test-name-pattern=stream   # extra arguments go to node --test
#
# Environment:
#   AIGNE_HUB_BIN, UPSTREAM_SIM_BIN  use these binaries (nothing is built)
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$HERE/.." && pwd)

if [[ -z "${AIGNE_HUB_BIN:-}" || -z "${UPSTREAM_SIM_BIN:-}" ]]; then
  (cd "$REPO" && cargo build --quiet -p aigne-hub -p upstream-sim)
fi
export AIGNE_HUB_BIN=${AIGNE_HUB_BIN:-$REPO/target/debug/aigne-hub}
export UPSTREAM_SIM_BIN=${UPSTREAM_SIM_BIN:-$REPO/target/debug/upstream-sim}

cd "$HERE"
# Reinstall only when the pinned lock file changes.
STAMP="node_modules/.package-lock.sha256"
WANT=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$WANT" > "$STAMP"
fi

# The SDK's own logs and any proxy settings stay out of the way.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
exec node --test --test-concurrency=1 "$@" test/*.test.mjs
