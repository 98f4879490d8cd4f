#!/usr/bin/env bash
# Runs weft's tests: unit and model tests of every crate, and the end-to-end tests
# (the real binary, the real guests built from source, real HTTP on loopback).
# Installs what a fresh machine lacks first. Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
cargo fmt --all -- --check
cargo test --workspace --locked
