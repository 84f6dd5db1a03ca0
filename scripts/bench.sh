#!/usr/bin/env bash
# The whole benchmark suite behind BENCHMARKS.md, on a release build:
#   matcher  decode + match throughput, index memory, start-up load, the naive design side by side
#   scale    start-up time and RSS of the server binary, idle and with 1,000,000 alerts
#   trigger  trade frame to committed trigger at 50,000 trades/s, server CPU
#   API      wrk against the server binary (scripts/bench-api.sh)
# Takes about 10 minutes. Usage: scripts/bench.sh [seconds per API run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench matcher --bench scale --bench trigger
scripts/bench-api.sh "${1:-10}"
