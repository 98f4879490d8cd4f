//! Module manifests (`weft_runtime::manifest::Manifest::parse`): a module author's
//! TOML, every table of it.

use weft_fuzz::{Bound, Dictionary, clear, mutate, text};
use weft_runtime::manifest::{Defaults, Manifest};

const FULL: &[u8] = br#"subscribe = ["orders/created"]
publish   = ["orders/enriched/>"]
[ingress]
interval = "5s"
route = true
await_reply = "5s"
watch = "inbox"
[http]
allow = ["https://api.example.com", "http://10.0.0.5:8080"]
addresses = ["127.0.0.1", "10.0.0.0/8"]
timeout = "10s"
deadline = "60s"
max_response = "4MiB"
[folders]
"/out" = { path = "out", write = true }
[limits]
memory = "64MiB"
call_timeout = "100ms"
max_queue_events = 1000000
max_queue_bytes = "1GiB"
[delivery]
batch_max = 64
retry = { attempts = 5, initial = "100ms", max = "30s" }
workers = 1
key = "subject"
[config]
currency = "EUR"
token = { secret = "API_TOKEN" }
nested = { a = [1, 2.5, true, "x"] }
"#;
const SEEDS: &[&[u8]] = &[
    FULL,
    b"subscribe = [\"a/*\"]\n",
    b"publish = [\"a/>\"]\n[ingress]\ninterval = \"1s\"\n",
    b"[http]\nallow = [\"http://[::1]:80\"]\n",
];
const DICT: Dictionary = &[
    b"\n",
    b"=",
    b"\"",
    b"'",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b".",
    b"#",
    b"[[x]]\n",
    b"\"\"\"",
    b"0",
    b"-1",
    b"18446744073709551616",
    b"1e400",
    b"nan",
    b"inf",
    b"0ms",
    b"1h",
    b"99999999999d",
    b"KiB",
    b"GiB",
    b"EiB",
    b"*",
    b">",
    b"/",
    b"..",
    b"/etc",
    b"http://",
    b"https://",
    b":0",
    b"0.0.0.0/0",
    b"::/0",
    b"169.254.169.254",
    b"{ secret = \"NOPE\" }",
    b"a = 1\n",
    b"[a]\n",
    b"\xc3\xa9",
    b"\\u0000",
    b"[config]\n",
    b"[http]\n",
    b"[limits]\n",
    b"[delivery]\n",
];

#[test]
fn manifests() {
    let defaults = Defaults::default();
    weft_fuzz::run(
        "manifests",
        3_000,
        Some(Bound {
            per_byte: 256,
            base: 1 << 20,
        }),
        |u| {
            let s = text(&mutate(u, SEEDS, DICT, 64 * 1024)?);
            let size = s.len();
            Ok((s, size))
        },
        |s| match Manifest::parse(&s, &defaults) {
            Ok(_) => Ok(()),
            Err(e) => clear(&e.to_string()),
        },
    );
}
