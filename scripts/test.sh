#!/usr/bin/env bash
# The whole test suite: lints, Rust unit and integration tests (real hub processes against the
# upstream simulator), the published OpenAI Python SDK and AIGNE SDK (npm) against the hub, and
# the admin UI in headless Chromium. Run from anywhere: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "building the binaries used by the client tests"
cargo build --workspace --bins --quiet

step "Rust unit and integration tests"
cargo test --workspace --quiet

step "OpenAI Python SDK against the hub"
bash tests-py/run.sh

step "AIGNE SDK (@aigne/aigne-hub on Node.js) against the hub"
bash tests-js/run.sh

step "admin UI in headless Chromium"
bash tests/browser/run.sh
