//! Each engine's durable commit, proven from the syscalls: this test runs
//! `appends_then_says_so` (below) in a child process under `strace`, and checks that
//! before each append was reported done the engine `fsync`ed or `fdatasync`ed a file
//! of the store. `sync_file_range` does not count, and is what sled 0.34's own
//! `flush` stops at: the trace shows both for sled.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::collections::HashMap;
use std::io::Write as _;
use std::process::Command;

use weft_store::{EngineKind, NewEvent, Store, StoreConfig};

const APPENDS: usize = 20;
const ACK: &str = "weft-audit-ack";

#[test]
fn every_durable_append_is_fsynced_before_it_returns() {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "this test needs `strace` on PATH; scripts/setup.sh installs it"
    );
    for kind in EngineKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::new(dir.path().join("weft.redb"));
        let trace = dir.path().join("strace.txt");
        let out = Command::new("strace")
            .args(["-f", "-y", "-s", "64", "-o"])
            .arg(&trace)
            .args(["-e", "trace=fsync,fdatasync,sync_file_range,write"])
            .arg(std::env::current_exe().unwrap())
            .args([
                "appends_then_says_so",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("WEFT_AUDIT_ENGINE", kind.name())
            .env("WEFT_AUDIT_PATH", &config.path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{kind}: the child failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut at = StoreConfig::new(&config.path);
        at.engine = kind;
        let audit = audit(
            &std::fs::read_to_string(&trace).unwrap(),
            &at.engine_path().to_string_lossy(),
        );
        eprintln!("{kind}: {audit:?}");
        assert_eq!(audit.acks, APPENDS, "{kind}: acknowledgements in the trace");
        assert_eq!(
            audit.unsynced, 0,
            "{kind}: appends returned without an fsync"
        );
        if kind == EngineKind::Sled {
            assert!(
                audit.sync_file_ranges > 0,
                "sled's flush is expected to call sync_file_range"
            );
        }
    }
}

/// The child: durable appends, each followed by a line on stderr (a `write` in the
/// trace). Does nothing unless started by the test above.
#[tokio::test]
#[ignore = "run by every_durable_append_is_fsynced_before_it_returns, under strace"]
async fn appends_then_says_so() {
    let (Ok(engine), Ok(path)) = (
        std::env::var("WEFT_AUDIT_ENGINE"),
        std::env::var("WEFT_AUDIT_PATH"),
    ) else {
        return;
    };
    let mut config = StoreConfig::new(path);
    config.engine = engine.parse().unwrap();
    let store = Store::open(config).unwrap();
    let q = store.queue("q").await.unwrap();
    for i in 0..APPENDS {
        let event = NewEvent {
            dedup: Some(format!("k{i}").into_bytes()),
            payload: vec![b'x'; 1024],
            queues: vec![q],
        };
        assert_eq!(store.append(vec![event]).await.unwrap(), [true]);
        std::io::stderr()
            .write_all(format!("{ACK} {i}\n").as_bytes())
            .unwrap();
    }
    store.close().await.unwrap();
}

#[derive(Debug, Default)]
struct Audit {
    acks: usize,
    unsynced: usize,
    /// Completed fsync/fdatasync calls on the store's files.
    syncs: usize,
    sync_file_ranges: usize,
}

/// Every `ACK` line must follow a successful fsync/fdatasync of a file under `store`
/// made since the previous one.
fn audit(trace: &str, store: &str) -> Audit {
    let mut audit = Audit::default();
    let mut synced = false;
    let mut pending: HashMap<&str, &str> = HashMap::new();
    for line in trace.lines() {
        let Some((pid, call)) = line.split_once(' ') else {
            continue;
        };
        let call = call.trim_start();
        let whole = if let Some(resumed) = call.strip_prefix("<... ") {
            let Some(started) = pending.remove(pid) else {
                continue;
            };
            format!(
                "{started}{}",
                resumed.split_once("resumed>").map_or("", |r| r.1)
            )
        } else if let Some(started) = call.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, started);
            continue;
        } else {
            call.to_owned()
        };
        let Some((name, args)) = whole.split_once('(') else {
            continue;
        };
        let on_store = args.split(',').next().is_some_and(|fd| fd.contains(store));
        let ok = whole.ends_with(") = 0");
        match name {
            "fsync" | "fdatasync" if on_store && ok => {
                audit.syncs += 1;
                synced = true;
            }
            "sync_file_range" if on_store => audit.sync_file_ranges += 1,
            "write" if args.contains(ACK) => {
                audit.acks += 1;
                if !synced {
                    audit.unsynced += 1;
                }
                synced = false;
            }
            _ => {}
        }
    }
    audit
}
