#!/usr/bin/env bash
# Time the dashboard's queries on a large usage ledger (SQLite).
#
#   bash bench/dashboard.sh              # 200 000 records (about a minute with the build)
#   bash bench/dashboard.sh 5000000      # 5 million records
#
# Generates RECORDS usage records over the last 30 days into a fresh database through the
# usage writer's insert (rollups included), then prints a Markdown table of query times.
# The goal is under 200 ms for each. See bench/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
records="${1:-200000}"
BENCH_RECORDS="$records" nice -n 10 cargo test --release -p hub-store --test store bench_dashboard_queries -- --ignored --nocapture --test-threads 1
