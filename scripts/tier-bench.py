#!/usr/bin/env python3
"""`.wasm` settled in the modules folder -> first event served, without and with
tiered compilation (`[modules] tiered`), each on a fresh compile cache.

For each setting: a `weft run` with empty folders and its own cache, a pull
subscription on the module's output, the module's .wasm and .toml renamed into
the folder (the clock starts), an event published every 50 ms until the first
output arrives (the clock stops). With tiering, also the time until Cranelift's
code took over (`tiered_up` in `weft status`). Prints each round and the median.

Usage: scripts/tier-bench.py MODULE.wasm MODULE.toml INPUT_TOPIC OUTPUT_PATTERN
Env: WEFT (the binary), ROUNDS (default 3).
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weft_bin():
    if os.environ.get("WEFT"):
        return os.environ["WEFT"]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "weft")
        if os.path.exists(path):
            return path
    sys.exit("no weft binary: build one or set WEFT")


def http(url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def one(weft, wasm, toml, topic, pattern, tiered):
    work = tempfile.mkdtemp(prefix="weft-tier-")
    modules = os.path.join(work, "modules")
    os.makedirs(modules)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with open(os.path.join(work, "weft.toml"), "w") as f:
        f.write(f"[modules]\ntiered = {'true' if tiered else 'false'}\n"
                f"[subscriptions.out]\nsubscribe = [\"{pattern}\"]\n")
    log = open(os.path.join(work, "weft.log"), "w")
    host = subprocess.Popen([weft, "run", "--modules", modules, "--data", os.path.join(work, "data"),
                             "--listen", f"127.0.0.1:{port}", "--config", os.path.join(work, "weft.toml"),
                             "--cache", os.path.join(work, "cache")], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/readyz", timeout=1)
                break
            except Exception:
                time.sleep(0.05)
        name = os.path.splitext(os.path.basename(wasm))[0]
        shutil.copy(toml, os.path.join(modules, f".{name}.toml"))
        shutil.copy(wasm, os.path.join(modules, f".{name}.wasm"))
        start = time.monotonic()
        os.rename(os.path.join(modules, f".{name}.toml"), os.path.join(modules, f"{name}.toml"))
        os.rename(os.path.join(modules, f".{name}.wasm"), os.path.join(modules, f"{name}.wasm"))
        served = None
        i = 0
        while served is None and time.monotonic() - start < 300:
            i += 1
            http(f"{base}/v1/events/{topic}", json.dumps({"n": i}).encode(),
                 {"ce-specversion": "1.0", "ce-id": f"b{i}", "ce-source": "/bench",
                  "ce-type": "bench", "content-type": "application/json"})
            page = http(f"{base}/v1/subscriptions/out/events?max=1")
            if page.get("events"):
                served = time.monotonic() - start
            else:
                time.sleep(0.05)
        up = None
        if tiered:
            while up is None and time.monotonic() - start < 600:
                mods = http(base + "/v1/status")["modules"]
                if any(c["action"] == "tiered_up" for m in mods for c in m["history"]):
                    up = time.monotonic() - start
                else:
                    time.sleep(0.1)
        return served, up
    finally:
        host.terminate()
        host.wait()
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    wasm, toml, topic, pattern = sys.argv[1:]
    rounds = int(os.environ.get("ROUNDS", "3"))
    weft = weft_bin()
    for tiered in (False, True):
        served, ups = [], []
        for r in range(rounds):
            s, u = one(weft, wasm, toml, topic, pattern, tiered)
            served.append(s)
            if u is not None:
                ups.append(u)
            print(f"  tiered={tiered} round {r + 1}: first event served {s:.2f} s"
                  + (f", Cranelift's code serving at {u:.2f} s" if u else ""))
        line = f"{os.path.basename(wasm)} tiered={str(tiered).lower():5}: first event {statistics.median(served):.2f} s (median)"
        if ups:
            line += f", tiered up at {statistics.median(ups):.2f} s"
        print(line)


if __name__ == "__main__":
    main()
