#!/usr/bin/env bash
# The whole benchmark suite behind BENCHMARKS.md, on a release build:
#   matcher     decode + match throughput, index memory, start-up load, the naive design side by side
#   scale       start-up time and RSS of the server binary, idle and with 1,000,000 alerts
#   trigger     trade frame to committed trigger at 50,000 trades/s, server CPU
#   hostile     made-up methods, idle connections under ulimit -n 1024, throttled-login log volume
#   deliveries  10,000 fires to a webhook in one burst, with and without a dead second channel
#   API         wrk against the server binary (scripts/bench-api.sh)
# Takes about 25 minutes. Usage: scripts/bench.sh [seconds per API run, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench matcher --bench scale --bench trigger --bench hostile --bench deliveries
scripts/bench-api.sh "${1:-10}"
