#!/usr/bin/env bash
# Installs what a fresh machine lacks to build weft and its guests. Safe to run twice.
set -euo pipefail
if ! command -v cargo >/dev/null 2>&1; then
  echo "weft needs a Rust toolchain (rustup, rustc 1.95): https://rustup.rs" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "installing the wasm32-wasip2 target (for guests)..." >&2
  rustup target add wasm32-wasip2
fi
# strace: the e2e audit proves from the syscalls that every 202 follows an fsync.
command -v strace >/dev/null || { apt-get update -qq && apt-get install -y -qq strace; }
