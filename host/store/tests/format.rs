//! Store format 2 against format 1: a store written by the format-1 code is migrated
//! at open, or refused with what to do, never misread; on both engines.
//!
//! The format-1 store is written here table by table, as format 1's writer laid it
//! out (the crate docs of the release that wrote it, and `migrate`, say how): the
//! tables are the same engine tables, so what a format-1 host left on disk is what
//! these tests open.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;

use weft_store::{
    Completion, Engine, EngineKind, Error, NewEvent, Redb, Sled, Store, StoreConfig, Table,
};

macro_rules! for_each_engine {
    ($($name:ident),* $(,)?) => {
        mod redb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(weft_store::EngineKind::Redb).await
            })*
        }
        mod sled {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(weft_store::EngineKind::Sled).await
            })*
        }
    };
}

for_each_engine!(
    a_format_1_store_is_migrated_on_open,
    a_format_1_store_is_refused_without_an_upgrade_and_left_as_it_was,
    a_payload_that_cannot_be_upgraded_leaves_format_1_whole,
);

fn config(dir: &tempfile::TempDir, engine: EngineKind) -> StoreConfig {
    let mut c = StoreConfig::new(dir.path().join("weft.redb"));
    c.engine = engine;
    c.durable = false;
    c
}

fn open_engine(c: &StoreConfig) -> Arc<dyn Engine> {
    match c.engine {
        EngineKind::Redb => Arc::new(Redb::open(&c.engine_path()).unwrap()),
        EngineKind::Sled => Arc::new(Sled::open(&c.engine_path()).unwrap()),
    }
}

fn u64_be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn queued(queue: u32, seq: u64) -> Vec<u8> {
    [&queue.to_be_bytes()[..], &seq.to_be_bytes()].concat()
}

fn entry(event: u64, size: u32, at: u64) -> Vec<u8> {
    [
        &event.to_be_bytes()[..],
        &size.to_be_bytes(),
        &at.to_be_bytes(),
    ]
    .concat()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Format 1 as its writer left it: queue `a` (id 0) holds events 0 and 1, queue `b`
/// (id 1) holds event 0; both were published with dedup keys `src\0e0`, `src\0e1`.
fn write_format_1(engine: &dyn Engine) {
    let now = now_ms();
    engine
        .write(true, &mut |w| {
            w.put(Table::Meta, b"format", b"1")?;
            w.put(Table::Meta, b"engine", engine.name().as_bytes())?;
            w.put(Table::Meta, b"next_event", &u64_be(2))?;
            w.put(Table::Meta, b"next_queue", &u64_be(2))?;
            w.put(Table::Meta, b"q:0", &u64_be(2))?;
            w.put(Table::Meta, b"q:1", &u64_be(1))?;
            w.put(Table::QueueNames, b"a", &0u32.to_be_bytes())?;
            w.put(Table::QueueNames, b"b", &1u32.to_be_bytes())?;
            for (seq, payload, refs) in [(0u64, "e0", 2u32), (1, "e1", 1)] {
                w.put(Table::Events, &u64_be(seq), payload.as_bytes())?;
                w.put(Table::Refs, &u64_be(seq), &refs.to_be_bytes())?;
                let key = format!("src\0{payload}");
                let value = [u64_be(now), u64_be(seq)].concat();
                w.put(Table::Dedup, key.as_bytes(), &value)?;
                let by_time = [&u64_be(now)[..], key.as_bytes()].concat();
                w.put(Table::DedupByTime, &by_time, &[])?;
            }
            w.put(Table::Queues, &queued(0, 0), &entry(0, 2, now))?;
            w.put(Table::Queues, &queued(0, 1), &entry(1, 2, now))?;
            w.put(Table::Queues, &queued(1, 0), &entry(0, 2, now))
        })
        .unwrap();
}

/// What the caller's format-1 code would re-encode; here, a visible mark.
fn upgrade(old: &[u8]) -> Result<Vec<u8>, String> {
    match old {
        b"bad" => Err("not a format-1 event".into()),
        old => Ok([b"v2:", old].concat()),
    }
}

fn payloads(store: &Store, q: u32) -> Vec<String> {
    store
        .peek(q, 100)
        .unwrap()
        .into_iter()
        .map(|d| String::from_utf8(d.payload).unwrap())
        .collect()
}

fn count(engine: &dyn Engine, table: Table) -> usize {
    engine
        .read()
        .unwrap()
        .range(table, &[], &[0xff; 64], usize::MAX)
        .unwrap()
        .len()
}

async fn a_format_1_store_is_migrated_on_open(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir, kind);
    let engine = open_engine(&c);
    write_format_1(engine.as_ref());
    c.upgrade = Some(upgrade);
    let store = Store::with_engine(engine.clone(), c).unwrap();

    let format = engine.read().unwrap().get(Table::Meta, b"format").unwrap();
    assert_eq!(format.as_deref(), Some(&b"2"[..]));
    assert_eq!(payloads(&store, 0), ["v2:e0", "v2:e1"]);
    assert_eq!(payloads(&store, 1), ["v2:e0"]);
    assert_eq!((store.depth(0), store.depth(1)), (2, 1));
    assert_eq!(
        count(engine.as_ref(), Table::Refs),
        1,
        "only the shared event keeps a count"
    );
    assert_eq!(
        count(engine.as_ref(), Table::Dedup) + count(engine.as_ref(), Table::DedupByTime),
        0
    );
    assert_eq!(count(engine.as_ref(), Table::Seen), 2);

    // Its dedup keys still hold, and new sequence numbers follow the old ones.
    let again = |p: &str| NewEvent {
        dedup: Some(format!("src\0{p}").into_bytes()),
        payload: p.as_bytes().to_vec(),
        queues: vec![0],
    };
    assert_eq!(
        store.append(vec![again("e1"), again("e2")]).await.unwrap(),
        [false, true]
    );
    assert_eq!(payloads(&store, 0), ["v2:e0", "v2:e1", "e2"]);
    // The shared event goes when its last holder is done with it.
    let head = |q| store.peek(q, 1).unwrap()[0].seq;
    let done = |q, seq| Completion {
        queue: q,
        consumed: vec![seq],
        ..Default::default()
    };
    store.complete(done(1, head(1))).await.unwrap();
    assert!(
        engine
            .read()
            .unwrap()
            .get(Table::Events, &u64_be(0))
            .unwrap()
            .is_some()
    );
    store.complete(done(0, head(0))).await.unwrap();
    assert!(
        engine
            .read()
            .unwrap()
            .get(Table::Events, &u64_be(0))
            .unwrap()
            .is_none()
    );
    assert_eq!(count(engine.as_ref(), Table::Refs), 0);
    store.close().await.unwrap();
}

async fn a_format_1_store_is_refused_without_an_upgrade_and_left_as_it_was(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, kind);
    let engine = open_engine(&c);
    write_format_1(engine.as_ref());
    let err = Store::with_engine(engine.clone(), c).err().unwrap();
    assert!(matches!(err, Error::NeedsMigration { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("start `weft run` once with this data folder"),
        "{err}"
    );
    let format = engine.read().unwrap().get(Table::Meta, b"format").unwrap();
    assert_eq!(format.as_deref(), Some(&b"1"[..]));
    assert_eq!(count(engine.as_ref(), Table::Refs), 2);
}

async fn a_payload_that_cannot_be_upgraded_leaves_format_1_whole(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir, kind);
    let engine = open_engine(&c);
    write_format_1(engine.as_ref());
    engine
        .write(true, &mut |w| w.put(Table::Events, &u64_be(1), b"bad"))
        .unwrap();
    c.upgrade = Some(upgrade);
    let err = Store::with_engine(engine.clone(), c).err().unwrap();
    assert!(
        err.to_string()
            .contains("event 1 of format 1 cannot be migrated: not a format-1 event"),
        "{err}"
    );
    let read = engine.read().unwrap();
    assert_eq!(
        read.get(Table::Meta, b"format").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    assert_eq!(
        read.get(Table::Events, &u64_be(0)).unwrap().as_deref(),
        Some(&b"e0"[..])
    );
    drop(read);
    assert_eq!(count(engine.as_ref(), Table::DedupByTime), 2);
}
