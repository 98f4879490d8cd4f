#!/usr/bin/env bash
# Two weft hosts and one nats-server on this machine: the README's mesh walkthrough.
#   scripts/mesh-demo.sh        # starts them, prints what to try, stops them on Ctrl-C
# Host A (127.0.0.1:8081) exports `orders/>`; host B (127.0.0.1:8082) imports it,
# runs the `json-transform` example on `orders/created` and keeps a pull
# subscription `enriched`. NATS listens on 127.0.0.1:4222 with JetStream in
# target/mesh-demo/nats. Everything lives under target/mesh-demo; safe to run twice.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
target=${CARGO_TARGET_DIR:-$root/target}
demo=$root/target/mesh-demo
nats=${NATS_SERVER:-$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server}
mkdir -p "$demo/a" "$demo/b/modules" "$demo/nats"

echo "building weft and the example guests..." >&2
(cd "$root" && cargo build --release -p weft --quiet)
(cd "$root/guests" && CARGO_TARGET_DIR="$target/guests" cargo build --release --target wasm32-wasip2 --quiet -p json-transform)
cp "$target/guests/wasm32-wasip2/release/json_transform.wasm" "$demo/b/modules/json-transform.wasm"
cp "$root/guests/processors/json-transform/json-transform.toml" "$demo/b/modules/"

cat > "$demo/a/weft.toml" <<'TOML'
[mesh]
servers = ["nats://127.0.0.1:4222"]
name = "a"
[mesh.export]
topics = ["orders/>"]
TOML
cat > "$demo/b/weft.toml" <<'TOML'
[mesh]
servers = ["nats://127.0.0.1:4222"]
name = "b"
[mesh.import.orders]
topics = ["orders/>"]
[subscriptions.enriched]
subscribe = ["orders/enriched"]
TOML

weft=$target/release/weft
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
"$nats" -js -sd "$demo/nats" -a 127.0.0.1 -p 4222 >"$demo/nats.log" 2>&1 &
pids+=($!)
"$weft" run --config "$demo/a/weft.toml" --data "$demo/a/data" --modules "$demo/a/modules" \
  --listen 127.0.0.1:8081 >"$demo/a.log" 2>&1 &
pids+=($!)
"$weft" run --config "$demo/b/weft.toml" --data "$demo/b/data" --modules "$demo/b/modules" \
  --listen 127.0.0.1:8082 >"$demo/b.log" 2>&1 &
pids+=($!)
for port in 8081 8082; do
  for _ in $(seq 100); do
    "$weft" status --host "http://127.0.0.1:$port" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
cat <<EOF
Two hosts and NATS are running (logs in $demo/*.log). In another terminal:

  $weft tap 'orders/>' --host http://127.0.0.1:8082
  $weft publish orders/created '{"cust":"Ada","amount":42.5,"country":"DE"}' --host http://127.0.0.1:8081
  $weft status --host http://127.0.0.1:8081      # mesh: linked, export published 1
  $weft status --host http://127.0.0.1:8082      # mesh: linked, import imported 1
  curl -s 127.0.0.1:8082/v1/subscriptions/enriched/events

Ctrl-C stops all three.
EOF
wait
