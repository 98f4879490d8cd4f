#!/usr/bin/env bash
# Builds every guest folder under guests/js/ that has an app.js into <dir>/<name>.wasm,
# from the shared WIT in ../../wit (world `processor`), with the componentize-js
# version pinned in package.json / package-lock.json. Safe to run repeatedly.
set -euo pipefail

COMPONENTIZE_JS_VERSION=0.23.0
WORLD=${WORLD:-processor}
# By default componentize-js links its `fetch` support, which makes the component import
# wasi:http/types and wasi:http/outgoing-handler; a host that links only wasmtime-wasi p2
# then refuses to instantiate it. Processors get no HTTP unless WEFT_JS_HTTP=1.
disable=(http fetch-event)
[[ "${WEFT_JS_HTTP:-0}" == 1 ]] && disable=(fetch-event)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

installed=$(node -p 'require("./node_modules/@bytecodealliance/componentize-js/package.json").version' 2>/dev/null || true)
if [[ "$installed" != "$COMPONENTIZE_JS_VERSION" ]]; then
    echo "installing @bytecodealliance/componentize-js@${COMPONENTIZE_JS_VERSION} (npm ci)" >&2
    npm ci --no-audit --no-fund
fi

cli="$here/node_modules/.bin/componentize-js"
built=0
for app in */app.js; do
    [[ -e "$app" ]] || continue
    dir=${app%/app.js}
    [[ "$dir" == node_modules ]] && continue
    name=$(basename "$dir")
    echo "building ${dir}/${name}.wasm" >&2
    # The WIT path is relative to the guest folder: guests/js/<name> -> wit/.
    (cd "$dir" && "$cli" app.js --wit ../../../wit -n "$WORLD" -o "${name}.wasm" --disable "${disable[@]}")
    built=$((built + 1))
done

if [[ $built -eq 0 ]]; then
    echo "no guest folders with an app.js under ${here}" >&2
    exit 1
fi
