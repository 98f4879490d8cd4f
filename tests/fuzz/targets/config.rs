//! The host config (`weft_server::HostConfig::parse`): the operator's TOML, with
//! secrets read from the environment and from files.

use weft_fuzz::{Bound, Dictionary, clear, mutate, text};
use weft_server::HostConfig;

const FULL: &[u8] = br#"[ingest]
max_body = "1MiB"
max_batch_events = 1000
dedup_window = "2m"
[http]
header_timeout = "10s"
idle_timeout = "30s"
body_timeout = "10s"
body_min_rate = "16KiB/s"
max_connections = "auto"
[store]
engine = "redb"
durability = "always"
commit_max_events = 1024
commit_max_delay = "0ms"
cache = "64MiB"
max_disk = "10GiB"
min_free_disk = "64MiB"
[modules]
memory = "64MiB"
call_timeout = "500ms"
batch_max = 64
max_queue_events = 1000000
max_queue_bytes = "1GiB"
pool_instances = 128
tiered = false
[errors]
max_replays = 3
retention = "7d"
max_records = 100000
[requests]
timeout = "30s"
max_timeout = "5m"
keep_replies = "60s"
max_waiting = 10000
[subscriptions.audit]
subscribe = ["orders/>"]
max_queue_bytes = "1GiB"
[secrets.API_TOKEN]
env = "HOME"
modules = ["deliver"]
[secrets.FROM_FILE]
file = "/etc/hostname"
[tokens.ci]
digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
expires = "2030-01-01T00:00:00Z"
publish = ["orders/>"]
tap = ["orders/*"]
[tokens.admin]
token = { secret = "API_TOKEN" }
admin = true
"#;
const MESH: &[u8] = br#"[mesh]
servers = ["nats://127.0.0.1:4222"]
name = "edge-1"
prefix = "weft"
stream = "WEFT"
replicas = 3
max_age = "7d"
duplicate_window = "2m"
max_hops = 8
window = 256
[mesh.export]
topics = ["orders/>"]
mode = "structured"
[mesh.import.commands]
topics = ["commands/>"]
group = "workers"
start = "new"
ack_wait = "30s"
"#;
/// Kept as a seed: found while writing this target (its dictionary holds device
/// paths). A secret file that was a device was read until memory ran out
/// (`/dev/zero`), or blocked the start (a FIFO); now it is refused.
const FOUND: &[u8] = b"[secrets.Z]\nfile = \"/dev/zero\"\n";
const SEEDS: &[&[u8]] = &[FULL, MESH, FOUND, b"", b"[http]\nmax_connections = 10\n"];
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
    b"\"\"\"",
    b"0",
    b"-1",
    b"18446744073709551616",
    b"1e400",
    b"0s",
    b"1ns",
    b"99999999999d",
    b"KiB/s",
    b"EiB",
    b"sled",
    b"interval",
    b"*",
    b">",
    b"/",
    b"file = \"/dev/zero\"",
    b"file = \"/proc/self/status\"",
    b"file = \"/nonexistent\"",
    b"env = \"PATH\"",
    b"[secrets.X]\n",
    b"[tokens.t]\n",
    b"[subscriptions.s]\n",
    b"[mesh]\n",
    b"[http.tls]\ncert = \"c\"\nkey = \"k\"\n",
    b"tls://",
    b"sha256:",
    b"\xc3\xa9",
    b"\\u0000",
];

#[test]
fn host_config() {
    weft_fuzz::run(
        "host_config",
        2_000,
        Some(Bound {
            per_byte: 256,
            base: 1 << 20,
        }),
        |u| {
            let s = text(&mutate(u, SEEDS, DICT, 64 * 1024)?);
            let size = s.len();
            Ok((s, size))
        },
        |s| match HostConfig::parse(&s) {
            Ok(_) => Ok(()),
            Err(e) => clear(&format!("{e:#}")),
        },
    );
}
