#!/usr/bin/env bash
# Runs weft's tests: unit and model tests of every crate, and the end-to-end tests
# (the real binary, the real guests built from source, real HTTP on loopback).
# Installs what a fresh machine lacks first. Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
# The pinned nats-server setup.sh installed, for the mesh's tests.
NATS_SERVER=${NATS_SERVER:-$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server}
export NATS_SERVER
cd "$root"
cargo fmt --all -- --check
(cd guests && cargo fmt --all -- --check)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Doc tests are skipped: the crates have no examples in their docs yet.
cargo test --workspace --locked --lib --bins --tests 2>&1 | tee "$log"
# One closing line for the whole run: cargo prints one "test result" per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "weft: %d passed, %d failed\n", p, f }' "$log"
