#!/usr/bin/env bash
# Builds {{name}}.wasm from app.js against the contract in wit/ (world `processor`)
# with componentize-js 0.23.0 (pinned in package.json). Installs it into
# node_modules/ first if it is not there: `npm ci` when package-lock.json exists
# (commit the one the first install writes), else `npm install`. Safe to run again.
set -euo pipefail

COMPONENTIZE_JS_VERSION=0.23.0

cd "$(dirname "${BASH_SOURCE[0]}")"

command -v node >/dev/null && command -v npm >/dev/null || {
    echo "needs Node.js 20.19+ (or 22.12+) and npm" >&2
    exit 1
}
installed=$(node -p 'require("./node_modules/@bytecodealliance/componentize-js/package.json").version' 2>/dev/null || true)
if [[ "$installed" != "$COMPONENTIZE_JS_VERSION" ]]; then
    echo "installing @bytecodealliance/componentize-js@${COMPONENTIZE_JS_VERSION}" >&2
    if [[ -f package-lock.json ]]; then
        npm ci --no-audit --no-fund
    else
        npm install --no-audit --no-fund
    fi
fi

# `--disable http fetch-event`: a processor makes no HTTP requests, so the component
# imports no wasi:http. Written beside the output, then renamed: a failed build leaves
# the old file whole.
node_modules/.bin/componentize-js app.js --wit wit -n processor \
    -o .{{name}}.wasm.tmp --disable http fetch-event
mv .{{name}}.wasm.tmp {{name}}.wasm
echo "built {{name}}.wasm" >&2
