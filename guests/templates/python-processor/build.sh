#!/usr/bin/env bash
# Builds {{name}}.wasm from app.py against the contract in wit/ (world `processor`)
# with componentize-py 0.25.1. Installs that version into .venv/ first unless the
# `componentize-py` on PATH is that version. Safe to run again.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

cd "$(dirname "${BASH_SOURCE[0]}")"

tool=componentize-py
if [[ "$(componentize-py --version 2>/dev/null)" != "componentize-py ${COMPONENTIZE_PY_VERSION}" ]]; then
    tool=.venv/bin/componentize-py
    if [[ "$("$tool" --version 2>/dev/null)" != "componentize-py ${COMPONENTIZE_PY_VERSION}" ]]; then
        echo "installing componentize-py==${COMPONENTIZE_PY_VERSION} into .venv/" >&2
        python3 -m venv .venv || {
            echo "python3 -m venv failed: install Python 3 with venv (Debian: apt-get install python3-venv)" >&2
            exit 1
        }
        .venv/bin/python -m pip install --quiet --disable-pip-version-check \
            "componentize-py==${COMPONENTIZE_PY_VERSION}"
    fi
fi

# Written beside the output, then renamed: a failed build leaves the old file whole.
"$tool" -d wit -w processor componentize app -o .{{name}}.wasm.tmp
mv .{{name}}.wasm.tmp {{name}}.wasm
echo "built {{name}}.wasm" >&2
