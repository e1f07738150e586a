#!/usr/bin/env bash
# Headless-browser tests of the admin UI: the first-run flow and Test connection
# (seed_flow.test.mjs), alerts (alerts.test.mjs), the analytics dashboard (dashboard.test.mjs)
# and the Playground (playground.test.mjs), sharing harness.mjs.
# Usage: bash tests/browser/run.sh   (from anywhere; installs what it needs on Debian as root)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
chromium_bin="${CHROMIUM_BIN:-/usr/bin/chromium}"

# 1. Debian's Chromium (never a downloaded browser build).
if [ ! -x "$chromium_bin" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: $chromium_bin is missing; install it with 'apt-get install -y chromium' (needs root)" >&2
    exit 1
  fi
  echo "installing chromium from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
  echo "error: node (20 or newer) is required" >&2
  exit 1
fi

# 2. The driver, pinned in package-lock.json; no browser download.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cd "$here"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi

# 3. The binaries under test.
cd "$root"
hub_bin="${AIGNE_HUB_BIN:-$root/target/debug/aigne-hub}"
sim_bin="${UPSTREAM_SIM_BIN:-$root/target/debug/upstream-sim}"
if [ ! -x "$hub_bin" ] || [ ! -x "$sim_bin" ]; then
  cargo build -p aigne-hub -p upstream-sim
fi

mkdir -p "$root/target/browser-artifacts"
exec node --test tests/browser/
