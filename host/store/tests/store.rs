#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_store::{
    Attempts, Completion, Engine, EngineKind, Error, NewEvent, ReadTxn, Redb, Sled, Store,
    StoreConfig, WriteTxn,
};

/// Runs each named `async fn(EngineKind)` once per engine, as `redb::NAME` and
/// `sled::NAME`.
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
    one_event_is_queued_for_every_subscriber_in_order,
    completing_moves_inputs_to_outputs_atomically_and_frees_unreferenced_events,
    a_duplicate_source_and_id_is_stored_once,
    dedup_can_be_switched_off,
    queues_positions_and_dedup_survive_a_reopen,
    an_unknown_format_version_is_refused_with_a_clear_message,
    concurrent_appends_share_commits,
    a_store_is_not_opened_with_the_other_engine,
    a_write_sees_its_own_changes_in_gets_ranges_and_last,
    module_state_commits_with_events_and_survives_a_reopen,
    the_head_up_to_a_sequence_stops_at_it,
    retry_attempts_live_in_the_queue_entry_and_survive_a_reopen,
);

fn config(dir: &tempfile::TempDir, engine: EngineKind) -> StoreConfig {
    let mut c = StoreConfig::new(dir.path().join("weft.redb"));
    c.engine = engine;
    c
}

fn open_engine(c: &StoreConfig) -> Arc<dyn Engine> {
    match c.engine {
        EngineKind::Redb => Arc::new(Redb::open(&c.engine_path()).unwrap()),
        EngineKind::Sled => Arc::new(Sled::open(&c.engine_path()).unwrap()),
    }
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

async fn one_event_is_queued_for_every_subscriber_in_order(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir, kind)).unwrap();
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

async fn completing_moves_inputs_to_outputs_atomically_and_frees_unreferenced_events(
    kind: EngineKind,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir, kind)).unwrap();
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
            updated: vec![],
            state: vec![],
            retried: vec![],
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

async fn a_duplicate_source_and_id_is_stored_once(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir, kind)).unwrap();
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

async fn dedup_can_be_switched_off(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir, kind);
    c.dedup_window = std::time::Duration::ZERO;
    let store = Store::open(c).unwrap();
    let a = store.queue("a").await.unwrap();
    let stored = store
        .append(vec![event("1", &[a]), event("1", &[a])])
        .await
        .unwrap();
    assert_eq!(stored, [true, true]);
}

async fn queues_positions_and_dedup_survive_a_reopen(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let (a, last_seq) = {
        let store = Store::open(config(&dir, kind)).unwrap();
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
    let store = Store::open(config(&dir, kind)).unwrap();
    assert_eq!(store.queue_id("a"), Some(a));
    assert_eq!(store.depth(a), 1);
    assert_eq!(store.append(vec![event("2", &[a])]).await.unwrap(), [false]);
    store.append(vec![event("3", &[a])]).await.unwrap();
    let seqs: Vec<u64> = store.peek(a, 10).unwrap().iter().map(|d| d.seq).collect();
    assert_eq!(seqs[0], last_seq);
    assert!(seqs[1] > last_seq, "sequence numbers are never reused");
    assert_eq!(payloads(&store, a), ["2", "3"]);
}

async fn an_unknown_format_version_is_refused_with_a_clear_message(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, kind);
    open_engine(&c)
        .write(true, &mut |w| {
            w.put(weft_store::Table::Meta, b"format", b"99")
        })
        .unwrap();
    let err = Store::open(c).err().unwrap();
    assert!(matches!(err, Error::Format { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("format version 99") && msg.contains("reads version 2"),
        "{msg}"
    );
}

async fn a_store_is_not_opened_with_the_other_engine(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let other = match kind {
        EngineKind::Redb => EngineKind::Sled,
        EngineKind::Sled => EngineKind::Redb,
    };
    let store = Store::open(config(&dir, kind)).unwrap();
    let a = store.queue("a").await.unwrap();
    store.append(vec![event("1", &[a])]).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let err = Store::open(config(&dir, other)).err().unwrap();
    assert!(matches!(err, Error::WrongEngine { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("engine `{kind}`, not `{other}`")),
        "{msg}"
    );
    // The `engine` record refuses it too: here, an engine posing as the other one.
    let posing = Posing(open_engine(&config(&dir, kind)), other.name());
    let err = Store::with_engine(Arc::new(posing), config(&dir, other)).err();
    assert!(matches!(err, Some(Error::WrongEngine { .. })), "{err:?}");
    assert_eq!(
        payloads(&Store::open(config(&dir, kind)).unwrap(), a),
        ["1"]
    );
}

/// An engine that reports another engine's name.
struct Posing(Arc<dyn Engine>, &'static str);

impl Engine for Posing {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error> {
        self.0.read()
    }
    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.0.write(durable, f)
    }
    fn name(&self) -> &'static str {
        self.1
    }
}

/// Counts commits, to show that concurrent callers share them.
struct Counting(Arc<dyn Engine>, AtomicUsize);

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
        self.0.name()
    }
}

async fn concurrent_appends_share_commits(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let c = config(&dir, kind);
    let engine = Arc::new(Counting(open_engine(&c), AtomicUsize::new(0)));
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

async fn a_write_sees_its_own_changes_in_gets_ranges_and_last(kind: EngineKind) {
    use weft_store::Table::Events;
    let dir = tempfile::tempdir().unwrap();
    let engine = open_engine(&config(&dir, kind));
    let keys = |entries: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<u8> {
        entries.into_iter().map(|(k, _)| k[0]).collect()
    };
    engine
        .write(false, &mut |w| {
            for k in [1u8, 3, 5, 7] {
                w.put(Events, &[k], b"old")?;
            }
            Ok(())
        })
        .unwrap();
    engine
        .write(false, &mut |w| {
            w.put(Events, &[2], b"new")?;
            w.put(Events, &[5], b"new")?;
            w.delete(Events, &[3])?;
            w.delete(Events, &[7])?;
            w.put(Events, &[9], b"new")?;
            w.delete(Events, &[9])?;
            assert_eq!(w.get(Events, &[5])?.unwrap(), b"new");
            assert_eq!(w.get(Events, &[3])?, None);
            assert_eq!(w.get(Events, &[1])?.unwrap(), b"old");
            assert_eq!(keys(w.range(Events, &[0], &[255], 100)?), [1, 2, 5]);
            assert_eq!(keys(w.range(Events, &[2], &[5], 100)?), [2]);
            assert_eq!(keys(w.range(Events, &[0], &[255], 2)?), [1, 2]);
            assert_eq!(w.range(Events, &[5], &[5], 100)?, []);
            let (k, v) = w.last(Events, &[0], &[255])?.unwrap();
            assert_eq!((k, v), (vec![5], b"new".to_vec()));
            assert_eq!(w.last(Events, &[6], &[255])?, None);
            Ok(())
        })
        .unwrap();
    // A failed write leaves nothing behind.
    let failed = engine.write(false, &mut |w| {
        w.put(Events, &[4], b"never")?;
        Err(Error::Engine("changed my mind".into()))
    });
    assert!(failed.is_err());
    let read = engine.read().unwrap();
    assert_eq!(
        keys(read.range(Events, &[0], &[255], 100).unwrap()),
        [1, 2, 5]
    );
    assert_eq!(read.last(Events, &[0], &[5]).unwrap().unwrap().0, [2]);
}

/// A connector's cursor and the events of its page land together: a completion
/// carrying both is one transaction, and what it set is there after a reopen.
async fn module_state_commits_with_events_and_survives_a_reopen(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(config(&dir, engine)).unwrap();
        let q = store.queue("out").await.unwrap();
        store
            .complete(Completion {
                outputs: vec![event("page-1", &[q])],
                state: vec![
                    ("poller".into(), "cursor".into(), Some(b"p2".to_vec())),
                    ("poller".into(), "scratch".into(), Some(b"x".to_vec())),
                    ("other".into(), "cursor".into(), Some(b"o1".to_vec())),
                ],
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .complete(Completion {
                state: vec![("poller".into(), "scratch".into(), None)],
                ..Default::default()
            })
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = Store::open(config(&dir, engine)).unwrap();
    let q = store.queue("out").await.unwrap();
    assert_eq!(payloads(&store, q), ["page-1"]);
    assert_eq!(store.state_get("poller", "cursor").unwrap().unwrap(), b"p2");
    assert_eq!(store.state_get("poller", "scratch").unwrap(), None);
    assert_eq!(store.state_get("other", "cursor").unwrap().unwrap(), b"o1");
    // One owner's keys never show under another whose name is its prefix.
    assert_eq!(store.state_len("poller", 100).unwrap(), 1);
    assert_eq!(store.state_len("poll", 100).unwrap(), 0);
}

async fn the_head_up_to_a_sequence_stops_at_it(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir, kind)).unwrap();
    let a = store.queue("a").await.unwrap();
    let b = store.queue("b").await.unwrap();
    let events = (0..6).map(|i| event(&i.to_string(), &[a, b])).collect();
    store.append(events).await.unwrap();
    assert_eq!(store.head_seqs_upto(a, 3, 100).unwrap(), [0, 1, 2, 3]);
    assert_eq!(store.head_seqs_upto(a, 3, 2).unwrap(), [0, 1]);
    assert_eq!(
        store.head_seqs_upto(a, u64::MAX, 100).unwrap(),
        [0, 1, 2, 3, 4, 5]
    );
    store
        .complete(Completion {
            queue: a,
            consumed: vec![0, 1],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(store.head_seqs_upto(a, 1, 100).unwrap(), Vec::<u64>::new());
    assert_eq!(store.head_seqs_upto(a, 3, 100).unwrap(), [2, 3]);
    assert_eq!(
        store.head_seqs_upto(b, 0, 100).unwrap(),
        [0],
        "another queue is untouched"
    );
}

async fn retry_attempts_live_in_the_queue_entry_and_survive_a_reopen(engine: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let counted = Attempts {
        count: 2,
        first_failure_ms: 1_700_000_000_000,
    };
    {
        let store = Store::open(config(&dir, engine)).unwrap();
        let q = store.queue("q").await.unwrap();
        store
            .append(vec![event("1", &[q]), event("2", &[q])])
            .await
            .unwrap();
        let head = store.peek(q, 2).unwrap();
        assert_eq!(head[0].attempts, None, "a new entry has failed no attempt");
        store
            .complete(Completion {
                queue: q,
                retried: vec![(head[0].seq, counted)],
                ..Default::default()
            })
            .await
            .unwrap();
        store.close().await.unwrap();
    }
    let store = Store::open(config(&dir, engine)).unwrap();
    let q = store.queue("q").await.unwrap();
    let head = store.peek(q, 2).unwrap();
    assert_eq!(payloads(&store, q), ["1", "2"], "counting moved nothing");
    assert_eq!(head[0].attempts, Some(counted));
    assert_eq!(head[1].attempts, None, "only the entry that failed counts");
    assert_eq!(store.depth(q), 2);
    assert_eq!(
        store.queued_bytes(q),
        2,
        "the entry's size is read as before"
    );
    // Counting for an entry consumed meanwhile (an outside consumer's ack) is a no-op.
    store
        .complete(Completion {
            queue: q,
            consumed: vec![head[0].seq],
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .complete(Completion {
            queue: q,
            retried: vec![(head[0].seq, counted)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(payloads(&store, q), ["2"]);
}
