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
for name in json-transform schema-validator router receipt; do
  cp "$target/guests/wasm32-wasip2/release/${name//-/_}.wasm" "$demo/modules/$name.wasm"
  cp "$root/guests/processors/$name/$name.toml" "$demo/modules/$name.toml"
done

# The connectors of the tour: a webhook into the pipeline, an HTTP delivery out of it.
rel=$target/guests/wasm32-wasip2/release
cp "$rel/webhook.wasm" "$demo/modules/shop.wasm"
cat > "$demo/modules/shop.toml" <<'TOML'
# shop: POST /hooks/shop with an order; header x-shop-event names the event.
publish = ["orders/>"]
[ingress]
route = true
[config]
topic_prefix = "orders"          # x-shop-event: created -> orders/created
type_prefix = "com.example.shop"
event_header = "x-shop-event"
delivery_header = "x-shop-delivery"
TOML
cp "$rel/http_post.wasm" "$demo/modules/deliver.wasm"
cat > "$demo/modules/deliver.toml" <<'TOML'
# deliver: POSTs routed EU orders to a local endpoint (scripts/sink.py 9090).
subscribe = ["orders/routed/eu"]
[http]
allow = ["http://127.0.0.1:9090"]
timeout = "5s"
[limits]
call_timeout = "60s"
[delivery]
batch_max = 8
retry = { attempts = 20, initial = "500ms", max = "30s" }
[config]
url = "http://127.0.0.1:9090/orders"
TOML

echo "building weft..." >&2
(cd "$root" && cargo build --release -p weft --quiet)
cat > "$demo/weft.toml" <<'TOML'
# A pull subscription, so routed orders wait for a consumer (GET /v1/subscriptions/routed/events).
[subscriptions.routed]
subscribe = ["orders/routed/>"]
TOML
exec "$target/release/weft" run --modules "$demo/modules" --data "$demo/data" --config "$demo/weft.toml" "$@"
