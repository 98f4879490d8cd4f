//! A power cut right after a fresh store's first acknowledged appends loses nothing,
//! on either engine: the store lives on weft-powercut's filesystem (tests/powercut),
//! which keeps only what was fsynced — file data, and a folder's entries once that
//! folder is synced. Needs /dev/fuse and fusermount3 (scripts/setup.sh).
//!
//! The appends run in a child process (`appends_then_waits`, below), which is
//! SIGKILLed at the instant of the cut, as a machine losing power stops its programs:
//! in this process, the store's handles would go on writing at drop (and sled 0.34
//! panics when its `fsync` at drop fails). The end-to-end version, with the real
//! binary under load and many cuts, is `tests/e2e/powercut.rs`.

#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use weft_powercut::{Disk, Survivors};
use weft_store::{EngineKind, NewEvent, Store, StoreConfig};

const APPENDS: usize = 3;
const DONE: &str = "weft-powercut-appended";

fn config(kind: EngineKind, mount: &Path) -> StoreConfig {
    // Two folders the store creates itself, so their parents' syncs count too.
    let mut config = StoreConfig::new(mount.join("data/store/weft.redb"));
    config.engine = kind;
    config
}

#[tokio::test]
async fn a_fresh_stores_acknowledged_appends_survive_a_power_cut() {
    for kind in EngineKind::ALL {
        let dir = tempfile::tempdir().unwrap();
        let (backing, mount) = (dir.path().join("backing"), dir.path().join("mnt"));
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mount).unwrap();

        let disk = Disk::mount(&backing, &mount).unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["appends_then_waits", "--exact", "--ignored", "--nocapture"])
            .env("WEFT_POWERCUT_ENGINE", kind.name())
            .env("WEFT_POWERCUT_MOUNT", &mount)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let acked = lines.any(|l| l.is_ok_and(|l| l == DONE));
        // The power goes, and the child with it.
        disk.cut();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(acked, "{kind}: the child did not finish its appends");
        disk.unmount_after_cut(Survivors::SyncedOnly).unwrap();

        let disk = Disk::mount(&backing, &mount).unwrap();
        let store = Store::open(config(kind, &mount)).unwrap();
        let Some(q) = store.queue_id("q") else {
            panic!("{kind}: the store lost its queue (and its appends) in the cut");
        };
        let payloads: Vec<Vec<u8>> = store
            .peek(q, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.payload)
            .collect();
        let expected: Vec<Vec<u8>> = (0..APPENDS)
            .map(|i| format!("event {i}").into_bytes())
            .collect();
        assert_eq!(payloads, expected, "{kind}: the acknowledged appends");
        store.close().await.unwrap();
        drop(store);
        disk.unmount().unwrap();
    }
}

/// The child: a fresh store on the mount, durable appends, a line once all are
/// acknowledged, then nothing until killed. Does nothing unless started by the test
/// above.
#[tokio::test]
#[ignore = "run by a_fresh_stores_acknowledged_appends_survive_a_power_cut, in a child"]
async fn appends_then_waits() {
    let (Ok(engine), Ok(mount)) = (
        std::env::var("WEFT_POWERCUT_ENGINE"),
        std::env::var("WEFT_POWERCUT_MOUNT"),
    ) else {
        return;
    };
    let store = Store::open(config(engine.parse().unwrap(), Path::new(&mount))).unwrap();
    let q = store.queue("q").await.unwrap();
    for i in 0..APPENDS {
        let event = NewEvent {
            dedup: None,
            payload: format!("event {i}").into_bytes(),
            queues: vec![q],
        };
        assert_eq!(store.append(vec![event]).await.unwrap(), [true]);
    }
    let mut out = std::io::stdout();
    writeln!(out, "{DONE}").unwrap();
    out.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(600));
}
