#!/usr/bin/env bash
# Runs weft's benchmarks (benches/README.md): installs what they need beyond the
# build (scripts/setup.sh: the pinned nats-server for the JetStream and mesh
# comparisons), builds the weft binary they run, then `cargo bench`. Safe to run twice.
#   scripts/bench.sh                  # every benchmark
#   scripts/bench.sh --bench jetstream  # one of them
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"

# The pinned nats-server setup.sh installed, for the JetStream and mesh comparisons.
NATS_SERVER=${NATS_SERVER:-$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server}
export NATS_SERVER

cd "$root"
echo "building weft..." >&2
cargo build --release -p weft --quiet
cargo bench -p weft-benches "$@"
