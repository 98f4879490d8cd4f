#!/usr/bin/env bash
# Builds the Python guests: every folder under guests/python/ with an app.py becomes
# <dir>/<dir>.wasm, built by componentize-py (pinned below) straight from the shared
# contract in ../../wit, never a copy.
#
#   guests/python/build.sh              # every guest
#   guests/python/build.sh router ...   # only these
#
# Installs the pinned componentize-py first if `componentize-py` on PATH is another
# version (or missing): into guests/python/.venv, so the system Python is untouched.
# Safe to run twice, also at the same time (a lock): a guest whose sources, the WIT,
# the toolchain and this script did not change since its last build is skipped (the
# hash is in <dir>/.build-stamp), since each build takes 10-20 s.
#
# The world comes from the class app.py exports: `Handler` -> processor,
# `Source` -> ingress, `Sink` -> egress.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=$(cd "$here/../../wit" && pwd)
cd "$here"

exec 9>"$here/.build.lock"
flock 9

# The pinned componentize-py: the one on PATH if it is that version, else a venv's.
componentize_py() {
    local venv="$here/.venv" want="componentize-py ${COMPONENTIZE_PY_VERSION}"
    if [[ "$(componentize-py --version 2>/dev/null)" == "$want" ]]; then
        command -v componentize-py
        return
    fi
    if [[ "$("$venv/bin/componentize-py" --version 2>/dev/null)" != "$want" ]]; then
        echo "installing componentize-py==${COMPONENTIZE_PY_VERSION} into ${venv}" >&2
        python3 -m venv "$venv" >&2 || {
            echo "python3 -m venv failed: install python3-venv (scripts/setup.sh does)" >&2
            exit 1
        }
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "componentize-py==${COMPONENTIZE_PY_VERSION}" >&2
    fi
    echo "$venv/bin/componentize-py"
}

world_of() {
    if grep -qE '^class[[:space:]]+Handler\b' "$1"; then echo processor
    elif grep -qE '^class[[:space:]]+Sink\b' "$1"; then echo egress
    elif grep -qE '^class[[:space:]]+Source\b' "$1"; then echo ingress
    else
        echo "$1 defines no class Handler (processor), Sink (egress) or Source (ingress)" >&2
        return 1
    fi
}

# What a build depends on: the guest's Python files, the WIT, the toolchain, this script.
inputs_hash() {
    {
        echo "componentize-py ${COMPONENTIZE_PY_VERSION} $2"
        sha256sum "$here/build.sh" "$wit"/*.wit | sed 's| .*/| |'
        (cd "$1" && find . -name '*.py' -not -path '*/__pycache__/*' -type f | LC_ALL=C sort | xargs -r sha256sum)
    } | sha256sum | cut -d' ' -f1
}

if [[ $# -gt 0 ]]; then
    dirs=("$@")
else
    dirs=()
    for app in */app.py; do
        [[ -e "$app" ]] && dirs+=("${app%/app.py}")
    done
fi
if [[ ${#dirs[@]} -eq 0 ]]; then
    echo "no guest folders with an app.py under ${here}" >&2
    exit 1
fi

tool=""
for dir in "${dirs[@]}"; do
    dir=${dir%/}
    name=$(basename "$dir")
    [[ -f "$dir/app.py" ]] || { echo "${here}/${dir} has no app.py" >&2; exit 1; }
    world=$(world_of "$dir/app.py")
    hash=$(inputs_hash "$dir" "$world")
    if [[ -f "$dir/${name}.wasm" && "$(cat "$dir/.build-stamp" 2>/dev/null)" == "$hash" ]]; then
        echo "${dir}/${name}.wasm is up to date" >&2
        continue
    fi
    [[ -n "$tool" ]] || tool=$(componentize_py)
    echo "building ${dir}/${name}.wasm (world ${world})" >&2
    start=$(date +%s%N)
    rm -f "$dir/.build-stamp"
    # Written beside the output, then renamed: a failed build leaves the old file whole.
    (cd "$dir" && "$tool" -d "$wit" -w "$world" componentize app -o ".${name}.wasm.tmp" >&2)
    mv "$dir/.${name}.wasm.tmp" "$dir/${name}.wasm"
    echo "$hash" >"$dir/.build-stamp"
    echo "built ${dir}/${name}.wasm in $(( ($(date +%s%N) - start) / 1000000 )) ms ($(stat -c %s "$dir/${name}.wasm") bytes)" >&2
done
