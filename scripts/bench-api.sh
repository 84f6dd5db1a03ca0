#!/usr/bin/env bash
# API under load: builds the release binary, seeds a user with 1,000 alerts, and drives the
# server with wrk (64 connections, 2 threads) from a second process on 127.0.0.1.
# Rate limits are off and the alert cap is raised for the run. Logins queue for argon2 for up to
# ~1 s at 64 connections, so wrk waits up to 10 s instead of its default 2 s (a request it gives
# up on is still hashed, wasting a slot), and the password-hash queue is raised: when wrk ends a
# run it hangs up on up to 64 queued logins, which the server still finishes, and with the
# default queue (64) the next run's logins would find it full (503).
# Figures go to stdout as a table.
# Each row is the median of ROUNDS runs (default 3).
# Usage: scripts/bench-api.sh [seconds per run, default 10]
# BIN=path/to/pricealert runs another build (e.g. a copy of an older one, for an A/B) instead of
# building this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/pricealert
fi
DATA=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
SERVER=""

start() { # $1: cache enabled (true|false)
  PRICEALERT_LIMITS__ENABLED=false PRICEALERT_LIMITS__MAX_ALERTS_PER_USER=100000000 \
  PRICEALERT_MARKET__ENABLED=false PRICEALERT_CACHE__ENABLED="$1" PRICEALERT_AUTH__ACCESS_TTL=6h \
  PRICEALERT_AUTH__HASH_QUEUE=256 \
  RUST_LOG=warn "$BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >>"$DATA/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 200); do curl -fsS "$BASE/healthz" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; }
trap 'kill $SERVER 2>/dev/null || true' EXIT

# wrk's latency as milliseconds ("850.00us", "2.67ms", "1.20s").
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$1"; }
median() { sort -n | awk 'NF {a[++n]=$1} END {print a[int((n+1)/2)]}'; }

# Runs wrk ROUNDS times; prints the median req/s and median p99. Any response that is not 2xx
# (a 409, a 500) fails the run: it would inflate the figures.
run() { # $1: label, rest: wrk arguments
  local label=$1; shift
  local rates="" p99s="" out bad
  for _ in $(seq 1 "$ROUNDS"); do
    out=$(wrk -t2 -c64 -d"${SECS}s" --timeout 10s --latency "$@")
    bad=$(awk '/Non-2xx or 3xx responses/ {print $NF}' <<<"$out")
    if [ -n "$bad" ]; then echo "$label: $bad responses were not 2xx" >&2; exit 1; fi
    rates+="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"$'\n'
    p99s+="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"$'\n'
  done
  printf '| %-40s | %12.0f | %9s ms |\n' "$label" "$(median <<<"$rates")" "$(median <<<"$p99s")"
}

start true
curl -fsS -X POST "$BASE/auth/register/" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password","email":"bench@example.com"}' >/dev/null
TOKEN=$(curl -fsS -X POST "$BASE/auth/login/" -H 'content-type: application/json' \
  -d '{"username":"bench","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
python3 - "$BASE" "$TOKEN" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
for i in range(1000):
    body = json.dumps({"cryptocurrency": "BTCUSDT", "target_price": str(70000 + i), "condition": "above"}).encode()
    req = urllib.request.Request(base + "/alerts/create/", body, {"Content-Type": "application/json", "Authorization": "Bearer " + token})
    urllib.request.urlopen(req).read()
PY

printf '| %-40s | %12s | %12s |\n|%s|%s|%s|\n' "operation (64 connections, ${SECS}s x $ROUNDS)" "req/s" "p99" "------------------------------------------" "--------------" "--------------"
run "GET /healthz" "$BASE/healthz"
run "GET /alerts/ (1,000 alerts, cached)" -H "Authorization: Bearer $TOKEN" "$BASE/alerts/"
stop
start false
run "GET /alerts/ (1,000 alerts, cache off)" -H "Authorization: Bearer $TOKEN" "$BASE/alerts/"
stop
start true
# Last: these add alerts (create) and are bounded by argon2 (login).
BODY='{"cryptocurrency":"ETHUSDT","target_price":"4000.5","condition":"above"}' TOKEN=$TOKEN \
  run "POST /alerts/create/" -s scripts/wrk-post.lua "$BASE/alerts/create/"
BODY='{"username":"bench","password":"bench-password"}' TOKEN="" \
  run "POST /auth/login/ (argon2id, by design)" -s scripts/wrk-post.lua "$BASE/auth/login/"
stop
rm -rf "$DATA"
