#!/usr/bin/env bash
# Release binaries and the container image, built and tried the way a user gets them:
#   dist/pricealert-x86_64-linux-musl, dist/pricealert-aarch64-linux-musl, dist/SHA256SUMS
# Both are static musl binaries (no glibc, no NSS: DNS works without shared libraries). Each is
# started and must answer /healthz, the aarch64 one under qemu-user as on a Raspberry Pi; its
# own `healthcheck` subcommand asks by the name `localhost`, so name resolution is tried too.
# Then the Dockerfile's runtime stage is built around the x86_64 binary with podman (base
# images can't be pulled here; the build stage is replaced by dist/), run, and an alert
# created in it must survive a container restart.
# Installs what it needs (Debian packages, rustup targets). Usage: .ci/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- %s ---\n' "$*"; }
fail() { echo "release: $*" >&2; exit 1; }

step "tools: musl-gcc, zig (the aarch64 C toolchain), qemu-user, podman"
need=()
command -v musl-gcc >/dev/null || need+=(musl-tools)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's aarch64 gcc compiles the bundled SQLite against glibc's headers, whose open64 and
# friends musl lacks; zig carries musl's own headers for every target.
python3 -m pip install --quiet --disable-pip-version-check ziglang cargo-zigbuild
PATH="$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl

step "build both targets"
# The bundled SQLite and ring compile C: with musl-gcc for x86_64, with zig for aarch64.
started=$SECONDS
CC_x86_64_unknown_linux_musl=musl-gcc \
  cargo build --release --locked --target x86_64-unknown-linux-musl
echo "x86_64 built in $((SECONDS - started)) s"
started=$SECONDS
cargo zigbuild --release --locked --target aarch64-unknown-linux-musl
echo "aarch64 built in $((SECONDS - started)) s"
rm -rf dist && mkdir dist
strip -o dist/pricealert-x86_64-linux-musl target/x86_64-unknown-linux-musl/release/pricealert
# zig links it stripped already.
cp target/aarch64-unknown-linux-musl/release/pricealert dist/pricealert-aarch64-linux-musl
(cd dist && sha256sum pricealert-* > SHA256SUMS && cat SHA256SUMS)
ls -l dist

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# try_binary NAME RUNNER...: statically linked, starts, answers /healthz by the name localhost.
try_binary() {
  local name=$1; shift
  local bin=dist/pricealert-$name data port server
  file "$bin"
  file "$bin" | grep -q 'statically linked\|static-pie linked' || fail "$bin is not static"
  ! file "$bin" | grep -q 'not stripped' || fail "$bin is not stripped"
  "$@" "$bin" --version
  data=$(mktemp -d)
  port=$(free_port)
  PRICEALERT_MARKET__ENABLED=false "$@" "$bin" serve --data-dir "$data" \
    --listen "127.0.0.1:$port" >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    "$@" "$bin" healthcheck --url "http://localhost:$port" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$data/server.log"; fail "$bin exited"; }
    sleep 0.1
  done
  "$@" "$bin" healthcheck --url "http://localhost:$port" || { cat "$data/server.log"; fail "$bin: no /healthz"; }
  kill "$server" && wait "$server" || fail "$bin did not stop cleanly on SIGTERM"
  rm -rf "$data"
}

step "x86_64: run it"
try_binary x86_64-linux-musl
step "aarch64: run it under qemu-user"
try_binary aarch64-linux-musl qemu-aarch64-static

step "container: the Dockerfile's runtime stage around dist/pricealert-x86_64-linux-musl"
# This sandbox: crun can't run with its hybrid cgroups (runc can), and limits may only be
# lowered. Neither is needed on a normal Docker or Podman host.
pm() { podman --runtime runc "$@"; }
stage=$(mktemp -d)
install -D -m 0755 dist/pricealert-x86_64-linux-musl "$stage/out/pricealert"
install -d -m 0700 "$stage/out/data"
pm build --quiet --format docker --target runtime --build-context "build=$stage" \
  -t pricealert:ci -f Dockerfile "$stage" >/dev/null
pm image inspect pricealert:ci --format '{{.Size}} bytes, user {{.Config.User}}, healthcheck {{.Config.Healthcheck.Test}}'
port=$(free_port)
name=pricealert-ci-$$
volume=pricealert-ci-$$
cleanup() {
  pm rm -f "$name" >/dev/null 2>&1 || true
  pm volume rm -f "$volume" >/dev/null 2>&1 || true
  pm rmi -f pricealert:ci >/dev/null 2>&1 || true
  rm -rf "$stage"
}
trap cleanup EXIT
# Podman logs that it cannot start health-check timers without systemd: harmless here, as
# `podman healthcheck run` below runs the image's HEALTHCHECK once by hand.
pm run -d --name "$name" -p "127.0.0.1:$port:8080" -v "$volume:/data" \
  -e PRICEALERT_MARKET__ENABLED=false --health-interval disable \
  --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 pricealert:ci >/dev/null
base="http://127.0.0.1:$port"
wait_healthy() {
  for _ in $(seq 1 300); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  pm logs "$name" >&2
  fail "the container never answered /healthz"
}
wait_healthy
curl -fsS "$base/healthz"; echo
pm healthcheck run "$name" || fail "the image's HEALTHCHECK failed"
[ "$(pm exec "$name" /pricealert --version)" = "$(dist/pricealert-x86_64-linux-musl --version)" ]
curl -fsS -X POST "$base/auth/register/" -H 'content-type: application/json' \
  -d '{"username":"alice","password":"correct horse battery","email":"alice@example.com"}' >/dev/null
token=$(curl -fsS -X POST "$base/auth/login/" -H 'content-type: application/json' \
  -d '{"username":"alice","password":"correct horse battery"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
curl -fsS -X POST "$base/alerts/create/" -H "authorization: Bearer $token" \
  -H 'content-type: application/json' \
  -d '{"cryptocurrency":"BTCUSDT","target_price":"65000.50","condition":"above"}' >/dev/null
pm restart --time 10 "$name" >/dev/null
wait_healthy
alerts=$(curl -fsS "$base/alerts/" -H "authorization: Bearer $token")
echo "$alerts" | python3 -c '
import json, sys
page = json.load(sys.stdin)
targets = [a["target_price"] for a in page["results"]]
assert targets == ["65000.50"], f"after a restart the alerts are {targets}"
print("the alert survived a container restart")'
echo "release: ok"
