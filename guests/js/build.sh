#!/usr/bin/env bash
# Builds the JavaScript guests: every folder under guests/js/ with an app.js becomes
# <dir>/<dir>.wasm, built by componentize-js (its own CLI, the version pinned in
# package.json and package-lock.json) straight from the shared contract in ../../wit,
# never a copy.
#
#   guests/js/build.sh              # every guest
#   guests/js/build.sh http-post    # only these
#
# Runs `npm ci` first when node_modules does not match package-lock.json. Safe to run
# twice, also at the same time (a lock): a guest whose sources, the WIT, the lock file
# and this script did not change since its last build is skipped (the hash is in
# <dir>/.build-stamp), since each build takes 10-20 s.
#
# The world comes from the object app.js exports: `handler` -> processor, `sink` ->
# egress, `source` -> ingress. Connectors (egress, ingress) keep componentize-js's
# `fetch`, which makes the component import wasi:http (the host grants each module's
# requests by its manifest's `[http]`); processors are built without it
# (`--disable http`), so they import no wasi:http at all.
set -euo pipefail

COMPONENTIZE_JS_VERSION=0.23.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=$(cd "$here/../../wit" && pwd)
cd "$here"

exec 9>"$here/.build.lock"
flock 9

# componentize-js 0.23's tools (oxc-parser, rolldown) need Node.js 20.19+ or 22.12+.
node_ok=$(node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  console.log(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? "yes" : "no")' 2>/dev/null || true)
if [[ "$node_ok" != yes ]] || ! command -v npm >/dev/null 2>&1; then
    echo "the JavaScript guests need Node.js 20.19+ (or 22.12+) and npm; found node" \
        "$(node --version 2>/dev/null || echo none), npm $(npm --version 2>/dev/null || echo none)" \
        "(Debian 12's nodejs is 18: take Node.js from https://nodejs.org or NodeSource)" >&2
    exit 1
fi

# node_modules as package-lock.json pins it (npm ci), unless it already is.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
installed=$(node -p 'require("./node_modules/@bytecodealliance/componentize-js/package.json").version' 2>/dev/null || true)
if [[ "$installed" != "$COMPONENTIZE_JS_VERSION" \
    || "$(cat node_modules/.weft-lock-hash 2>/dev/null)" != "$lock_hash" ]]; then
    echo "installing @bytecodealliance/componentize-js@${COMPONENTIZE_JS_VERSION} (npm ci)" >&2
    npm ci --no-audit --no-fund >&2
    echo "$lock_hash" >node_modules/.weft-lock-hash
fi
cli="$here/node_modules/.bin/componentize-js"

world_of() {
    local export='^[[:space:]]*export[[:space:]]+(const|let|var|function|async[[:space:]]+function|class)[[:space:]]+'
    if grep -qE "${export}handler\\b" "$1"; then echo processor
    elif grep -qE "${export}sink\\b" "$1"; then echo egress
    elif grep -qE "${export}source\\b" "$1"; then echo ingress
    else
        echo "$1 exports no object handler (processor), sink (egress) or source (ingress)" >&2
        return 1
    fi
}

# What a build depends on: the guest's JS files, the WIT, the lock file, this script.
inputs_hash() {
    {
        echo "componentize-js ${COMPONENTIZE_JS_VERSION} $2 ${lock_hash}"
        sha256sum "$here/build.sh" "$wit"/*.wit | sed 's| .*/| |'
        (cd "$1" && find . \( -name '*.js' -o -name '*.mjs' \) -type f | LC_ALL=C sort | xargs -r sha256sum)
    } | sha256sum | cut -d' ' -f1
}

if [[ $# -gt 0 ]]; then
    dirs=("$@")
else
    dirs=()
    for app in */app.js; do
        [[ -e "$app" && "$app" != node_modules/* ]] && dirs+=("${app%/app.js}")
    done
fi
if [[ ${#dirs[@]} -eq 0 ]]; then
    echo "no guest folders with an app.js under ${here}" >&2
    exit 1
fi

for dir in "${dirs[@]}"; do
    dir=${dir%/}
    name=$(basename "$dir")
    [[ -f "$dir/app.js" ]] || { echo "${here}/${dir} has no app.js" >&2; exit 1; }
    world=$(world_of "$dir/app.js")
    hash=$(inputs_hash "$dir" "$world")
    if [[ -f "$dir/${name}.wasm" && "$(cat "$dir/.build-stamp" 2>/dev/null)" == "$hash" ]]; then
        echo "${dir}/${name}.wasm is up to date" >&2
        continue
    fi
    disable=(fetch-event)
    [[ "$world" == processor ]] && disable+=(http)
    echo "building ${dir}/${name}.wasm (world ${world}, --disable ${disable[*]})" >&2
    start=$(date +%s%N)
    rm -f "$dir/.build-stamp"
    # Written beside the output, then renamed: a failed build leaves the old file whole.
    (cd "$dir" && "$cli" app.js --wit "$wit" -n "$world" -o ".${name}.wasm.tmp" --disable "${disable[@]}" >&2)
    mv "$dir/.${name}.wasm.tmp" "$dir/${name}.wasm"
    echo "$hash" >"$dir/.build-stamp"
    echo "built ${dir}/${name}.wasm in $(( ($(date +%s%N) - start) / 1000000 )) ms ($(stat -c %s "$dir/${name}.wasm") bytes)" >&2
done
