#!/usr/bin/env python3
"""Edit saved -> new version serving under `weft dev`, per language.

For each language: `weft new processor NAME --lang L` in a temporary folder,
`weft dev` started on it (its own local host), the first version served, then
ROUNDS edits: the `processedby` value in the source changed (a real code change,
so the component's bytes change), the clock started just before the file is
written and stopped when `weft dev` prints `swapped:` (the host's swap history
has the new version serving). Prints every round and the median.

Usage: scripts/dev-loop-bench.py [rust|python|js ...]   (default: all three)
Env: WEFT (the binary; default target/release/weft or $CARGO_TARGET_DIR's),
ROUNDS (default 5). Python and JavaScript reuse the repository's pinned
toolchains (guests/python/.venv, guests/js/node_modules) when they are there.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = {"rust": "src/lib.rs", "python": "app.py", "js": "app.js"}


def weft_bin():
    if os.environ.get("WEFT"):
        return os.environ["WEFT"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "weft")
        if os.path.exists(path):
            return path
    sys.exit("no weft binary: build one (cargo build --release -p weft) or set WEFT")


def measure(lang, rounds, weft):
    work = tempfile.mkdtemp(prefix=f"weft-dev-{lang}-")
    name = f"bench-{lang}"
    subprocess.run([weft, "new", "processor", name, "--lang", lang, "--dir", work],
                   check=True, stdout=subprocess.DEVNULL)
    project = os.path.join(work, name)
    env = dict(os.environ)
    env.setdefault("WEFT_CACHE", os.path.join(work, "cache"))
    if lang == "python":
        venv = os.path.join(ROOT, "guests/python/.venv/bin")
        env["PATH"] = venv + ":" + env["PATH"]
    if lang == "js":
        modules = os.path.join(ROOT, "guests/js/node_modules")
        if os.path.isdir(modules):
            os.symlink(modules, os.path.join(project, "node_modules"))
    dev = subprocess.Popen([weft, "dev"], cwd=project, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in dev.stdout], daemon=True).start()

    def wait_for(text, within=600):
        deadline = time.monotonic() + within
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if text in line:
                return line
            if "failed" in line:
                print("  " + line.rstrip())

    try:
        wait_for("loaded:")
        wait_for("watching for changes")
        source = os.path.join(project, SOURCES[lang])
        text = open(source).read()
        took = []
        for i in range(1, rounds + 1):
            changed = text.replace(f'"{name}"', f'"{name}-{i}"', 1)
            assert changed != text, "the template's processedby value was not found"
            start = time.monotonic()
            with open(source, "w") as f:
                f.write(changed)
            line = wait_for("swapped:")
            took.append(time.monotonic() - start)
            wait_for("watching for changes")
            print(f"  {lang} round {i}: {took[-1]:.2f} s   ({line.split('] ', 1)[-1].strip()})")
        return took
    finally:
        dev.terminate()
        dev.wait()


def main():
    langs = sys.argv[1:] or ["rust", "python", "js"]
    rounds = int(os.environ.get("ROUNDS", "5"))
    weft = weft_bin()
    results = {lang: measure(lang, rounds, weft) for lang in langs}
    print("\nedit saved -> new version serving under `weft dev` (median of rounds)")
    for lang, took in results.items():
        print(f"  {lang:7} {statistics.median(took):6.2f} s   rounds: "
              + ", ".join(f"{t:.2f}" for t in took))


if __name__ == "__main__":
    main()
