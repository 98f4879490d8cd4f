#!/usr/bin/env bash
# Builds the example guests and runs weft on them with its embedded store.
#   scripts/run.sh [extra `weft run` flags]
# Modules go to target/demo/modules, data to target/demo/data; the API listens on
# 127.0.0.1:8080 unless --listen says otherwise. Safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
target=${CARGO_TARGET_DIR:-$root/target}
demo=$root/target/demo
mkdir -p "$demo/modules" "$demo/data"

echo "building the example guests..." >&2
(cd "$root/guests" && CARGO_TARGET_DIR="$target/guests" cargo build --release --target wasm32-wasip2 --quiet)
for name in json-transform schema-validator router; do
  cp "$target/guests/wasm32-wasip2/release/${name//-/_}.wasm" "$demo/modules/$name.wasm"
  cp "$root/guests/processors/$name/$name.toml" "$demo/modules/$name.toml"
done

echo "building weft..." >&2
(cd "$root" && cargo build --release -p weft --quiet)
cat > "$demo/weft.toml" <<'TOML'
# A pull subscription, so routed orders wait for a consumer (GET /v1/subscriptions/routed/events).
[subscriptions.routed]
subscribe = ["orders/routed/>"]
TOML
exec "$target/release/weft" run --modules "$demo/modules" --data "$demo/data" --config "$demo/weft.toml" "$@"
