#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_store::{
    Completion, Engine, Error, NewEvent, ReadTxn, Redb, Store, StoreConfig, WriteTxn,
};

fn config(dir: &tempfile::TempDir) -> StoreConfig {
    StoreConfig::new(dir.path().join("weft.redb"))
}

fn event(payload: &str, queues: &[u32]) -> NewEvent {
    NewEvent {
        dedup: Some(format!("src\0{payload}").into_bytes()),
        payload: payload.as_bytes().to_vec(),
        queues: queues.to_vec(),
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

#[tokio::test]
async fn one_event_is_queued_for_every_subscriber_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir)).unwrap();
    let a = store.queue("a").await.unwrap();
    let b = store.queue("b").await.unwrap();
    assert_eq!(
        store.queue("a").await.unwrap(),
        a,
        "queues are looked up by name"
    );
    store
        .append(vec![
            event("1", &[a, b]),
            event("2", &[a]),
            event("3", &[a, b]),
        ])
        .await
        .unwrap();
    assert_eq!(payloads(&store, a), ["1", "2", "3"]);
    assert_eq!(payloads(&store, b), ["1", "3"]);
    assert_eq!((store.depth(a), store.depth(b)), (3, 2));
}

#[tokio::test]
async fn completing_moves_inputs_to_outputs_atomically_and_frees_unreferenced_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir)).unwrap();
    let a = store.queue("a").await.unwrap();
    let b = store.queue("b").await.unwrap();
    store
        .append(vec![event("1", &[a]), event("2", &[a])])
        .await
        .unwrap();
    let head = store.peek(a, 1).unwrap();
    store
        .complete(Completion {
            queue: a,
            consumed: vec![head[0].seq],
            outputs: vec![NewEvent {
                dedup: None,
                payload: b"1'".to_vec(),
                queues: vec![b],
            }],
            failed: vec![b"bad one".to_vec()],
            resolved: vec![],
        })
        .await
        .unwrap();
    assert_eq!(payloads(&store, a), ["2"]);
    assert_eq!(payloads(&store, b), ["1'"]);
    let (err_seq, record) = store.errors(a, 10).unwrap().remove(0);
    assert_eq!(record, b"bad one");
    assert_eq!(store.error(a, err_seq).unwrap().unwrap(), b"bad one");
    assert_eq!(store.depth(a), 1);

    // A replay puts the event back and removes the record, in one transaction.
    store
        .complete(Completion {
            queue: a,
            outputs: vec![NewEvent {
                dedup: None,
                payload: b"1 again".to_vec(),
                queues: vec![a],
            }],
            resolved: vec![err_seq],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(store.errors(a, 10).unwrap().is_empty());
    assert_eq!(payloads(&store, a), ["2", "1 again"]);
}

#[tokio::test]
async fn a_duplicate_source_and_id_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir)).unwrap();
    let a = store.queue("a").await.unwrap();
    let stored = store
        .append(vec![event("1", &[a]), event("1", &[a])])
        .await
        .unwrap();
    assert_eq!(stored, [true, false]);
    let again = store.append(vec![event("1", &[a])]).await.unwrap();
    assert_eq!(again, [false]);
    assert_eq!(payloads(&store, a), ["1"]);
}

#[tokio::test]
async fn dedup_can_be_switched_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir);
    c.dedup_window = std::time::Duration::ZERO;
    let store = Store::open(c).unwrap();
    let a = store.queue("a").await.unwrap();
    let stored = store
        .append(vec![event("1", &[a]), event("1", &[a])])
        .await
        .unwrap();
    assert_eq!(stored, [true, true]);
}

#[tokio::test]
async fn queues_positions_and_dedup_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, last_seq) = {
        let store = Store::open(config(&dir)).unwrap();
        let a = store.queue("a").await.unwrap();
        store
            .append(vec![event("1", &[a]), event("2", &[a])])
            .await
            .unwrap();
        let head = store.peek(a, 1).unwrap();
        store
            .complete(Completion {
                queue: a,
                consumed: vec![head[0].seq],
                ..Default::default()
            })
            .await
            .unwrap();
        let last = store.peek(a, 10).unwrap()[0].seq;
        store.close().await.unwrap();
        (a, last)
    };
    let store = Store::open(config(&dir)).unwrap();
    assert_eq!(store.queue_id("a"), Some(a));
    assert_eq!(store.depth(a), 1);
    assert_eq!(store.append(vec![event("2", &[a])]).await.unwrap(), [false]);
    store.append(vec![event("3", &[a])]).await.unwrap();
    let seqs: Vec<u64> = store.peek(a, 10).unwrap().iter().map(|d| d.seq).collect();
    assert_eq!(seqs[0], last_seq);
    assert!(seqs[1] > last_seq, "sequence numbers are never reused");
    assert_eq!(payloads(&store, a), ["2", "3"]);
}

#[tokio::test]
async fn an_unknown_format_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weft.redb");
    {
        let engine = Redb::open(&path).unwrap();
        engine
            .write(true, &mut |w| {
                w.put(weft_store::Table::Meta, b"format", b"99")
            })
            .unwrap();
    }
    let err = Store::open(StoreConfig::new(&path)).err().unwrap();
    assert!(matches!(err, Error::Format { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("format version 99") && msg.contains("reads version 1"),
        "{msg}"
    );
}

/// Counts commits, to show that concurrent callers share them.
struct Counting(Redb, AtomicUsize);

impl Engine for Counting {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error> {
        self.0.read()
    }
    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.write(durable, f)
    }
    fn name(&self) -> &'static str {
        "redb"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir);
    let engine = Arc::new(Counting(Redb::open(&c.path).unwrap(), AtomicUsize::new(0)));
    let store = Store::with_engine(engine.clone(), c).unwrap();
    let a = store.queue("a").await.unwrap();
    let before = engine.1.load(Ordering::Relaxed);
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(vec![event(&i.to_string(), &[a])]).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), [true]);
    }
    let commits = engine.1.load(Ordering::Relaxed) - before;
    assert_eq!(store.depth(a), 500);
    assert!(commits < 250, "500 appends took {commits} commits");
}
