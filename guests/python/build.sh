#!/usr/bin/env bash
# Builds every guest folder under guests/python/ that has an app.py into <dir>/<name>.wasm,
# from the shared WIT in ../../wit (world `processor`). Safe to run repeatedly.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1
WORLD=${WORLD:-processor}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

if ! command -v componentize-py >/dev/null 2>&1 \
    || [[ "$(componentize-py --version 2>/dev/null)" != "componentize-py ${COMPONENTIZE_PY_VERSION}" ]]; then
    echo "installing componentize-py==${COMPONENTIZE_PY_VERSION}" >&2
    python3 -m pip install --quiet "componentize-py==${COMPONENTIZE_PY_VERSION}"
fi

built=0
for app in */app.py; do
    [[ -e "$app" ]] || continue
    dir=${app%/app.py}
    name=$(basename "$dir")
    echo "building ${dir}/${name}.wasm" >&2
    # The WIT path is relative to the guest folder: guests/python/<name> -> wit/.
    (cd "$dir" && componentize-py -d ../../../wit -w "$WORLD" componentize app -o "${name}.wasm")
    built=$((built + 1))
done

if [[ $built -eq 0 ]]; then
    echo "no guest folders with an app.py under ${here}" >&2
    exit 1
fi
