//! The store stops growing: dedup keys expire as fast as they come, on a schedule
//! that a restart does not reset, and space freed by consumed events and expired keys
//! is used again.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weft_store::{Completion, Engine, EngineKind, NewEvent, Redb, Sled, Store, StoreConfig, Table};

fn config(dir: &tempfile::TempDir, engine: EngineKind, window: Duration) -> StoreConfig {
    let mut c = StoreConfig::new(dir.path().join("weft.redb"));
    c.engine = engine;
    c.dedup_window = window;
    c
}

fn open_engine(c: &StoreConfig) -> Arc<dyn Engine> {
    match c.engine {
        EngineKind::Redb => Arc::new(Redb::open(&c.engine_path()).unwrap()),
        EngineKind::Sled => Arc::new(Sled::open(&c.engine_path()).unwrap()),
    }
}

fn keys(engine: &dyn Engine) -> usize {
    let read = engine.read().unwrap();
    read.range(Table::Seen, &[], &[0xff; 25], usize::MAX)
        .unwrap()
        .len()
}

fn events(from: u64, n: u64, queue: u32) -> Vec<NewEvent> {
    (from..from + n)
        .map(|i| NewEvent {
            dedup: Some(format!("/producer\0{i}").into_bytes()),
            payload: vec![b'x'; 200],
            queues: vec![queue],
        })
        .collect()
}

async fn eventually_no_keys(engine: &dyn Engine, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while keys(engine) > 0 {
        assert!(
            Instant::now() < deadline,
            "{what}: {} keys left",
            keys(engine)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn expired_keys_go_while_idle_and_after_a_restart(kind: EngineKind) {
    let dir = tempfile::tempdir().unwrap();
    let window = Duration::from_secs(2);
    let c = config(&dir, kind, window);
    let engine = open_engine(&c);
    let store = Store::with_engine(engine.clone(), c.clone()).unwrap();
    let q = store.queue("q").await.unwrap();
    // More keys than one commit's expiry floor, so that idle passes must repeat.
    for batch in 0..5 {
        store.append(events(batch * 1000, 1000, q)).await.unwrap();
    }
    assert_eq!(keys(engine.as_ref()), 5000);
    assert_eq!(
        store.append(events(0, 1, q)).await.unwrap(),
        [false],
        "within the window"
    );
    eventually_no_keys(engine.as_ref(), "with no new events").await;
    assert_eq!(
        store.append(events(0, 1, q)).await.unwrap(),
        [true],
        "expired"
    );

    // Keys left on disk at a stop go after the next start, without new events.
    store.append(events(10_000, 3000, q)).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    tokio::time::sleep(window).await;
    let store = Store::with_engine(engine.clone(), c.clone()).unwrap();
    eventually_no_keys(engine.as_ref(), "after a restart").await;

    // Keys left by a run with a window go when deduplication is then switched off.
    store.append(events(20_000, 100, q)).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    let off = StoreConfig {
        dedup_window: Duration::ZERO,
        ..c
    };
    let store = Store::with_engine(engine.clone(), off).unwrap();
    eventually_no_keys(engine.as_ref(), "with deduplication switched off").await;
    store.close().await.unwrap();
}

mod redb {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expired_keys_go_while_idle_and_after_a_restart() {
        super::expired_keys_go_while_idle_and_after_a_restart(weft_store::EngineKind::Redb).await
    }
}

mod sled {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expired_keys_go_while_idle_and_after_a_restart() {
        super::expired_keys_go_while_idle_and_after_a_restart(weft_store::EngineKind::Sled).await
    }
}

/// Most events the soak's queue holds: the producers wait above it.
const MAX_DEPTH: u64 = 20_000;

/// Soak: producers as fast as the store takes them, each event with its own dedup
/// key, a consumer keeping up, a 1 s dedup window. The file's size at the end is
/// within 10% of its size half-way: what is kept is bounded by the queue and the
/// window, not by how many events were ever accepted. `WEFT_SOAK_SECS` sets the
/// length (default 30; CI's budget is 90).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_stops_growing_under_sustained_ingest() {
    let secs: u64 = std::env::var("WEFT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(&dir, EngineKind::Redb, Duration::from_secs(1))).unwrap();
    let q = store.queue("q").await.unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut producers = Vec::new();
    for p in 0..4u64 {
        let (store, accepted, stop) = (store.clone(), accepted.clone(), stop.clone());
        producers.push(tokio::spawn(async move {
            let mut next = p << 40;
            while !stop.load(Ordering::Relaxed) {
                // Backpressure: a consumer that keeps up holds the queue short.
                if store.depth(q) >= MAX_DEPTH {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
                store.append(events(next, 100, q)).await.unwrap();
                next += 100;
                accepted.fetch_add(100, Ordering::Relaxed);
            }
        }));
    }
    let consumer = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            // The queue's high-water mark first, so that what follows is the steady
            // state (redb doubles a small file when its use crosses the file's size).
            while store.depth(q) < MAX_DEPTH && !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            while !stop.load(Ordering::Relaxed) {
                let batch = store.peek(q, 2000).unwrap();
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
                let consumed = batch.iter().map(|d| d.seq).collect();
                store
                    .complete(Completion {
                        queue: q,
                        consumed,
                        ..Default::default()
                    })
                    .await
                    .unwrap();
            }
        })
    };
    let start = Instant::now();
    let mut sizes = Vec::new();
    for _ in 0..secs / 2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sizes.push(store.disk_usage() >> 10);
    }
    let (half, half_events) = (store.disk_usage(), accepted.load(Ordering::Relaxed));
    for _ in 0..secs - secs / 2 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        sizes.push(store.disk_usage() >> 10);
    }
    eprintln!("soak: KiB each second: {sizes:?}");
    let (end, end_events) = (store.disk_usage(), accepted.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    consumer.await.unwrap();
    let rate = end_events as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "soak: {end_events} events at {rate:.0}/s; store {half} bytes after {half_events} events, \
         {end} bytes after {end_events} ({:.1} bytes per event accepted)",
        end as f64 / end_events as f64
    );
    assert!(
        end_events > half_events * 3 / 2,
        "ingest went on in the second half"
    );
    assert!(end <= 256 << 20, "the store stays under 256 MiB: {end}");
    assert!(
        end as f64 <= half as f64 * 1.10,
        "the store grew from {half} to {end} bytes in the second half"
    );
    store.close().await.unwrap();
}

/// After a backlog drains the file keeps its size (the space is reused, not given
/// back); `compact` gives it back on a stopped store, and refuses an open one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_store_is_compacted_offline_and_not_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&dir, EngineKind::Redb, Duration::ZERO);
    c.durable = false;
    let store = Store::open(c.clone()).unwrap();
    let q = store.queue("q").await.unwrap();
    for batch in 0..20 {
        store.append(events(batch * 1000, 1000, q)).await.unwrap();
    }
    while store.depth(q) > 0 {
        let consumed = store.peek(q, 5000).unwrap().iter().map(|d| d.seq).collect();
        let done = Completion {
            queue: q,
            consumed,
            ..Default::default()
        };
        store.complete(done).await.unwrap();
    }
    let err = weft_store::compact(&c).unwrap_err().to_string();
    assert!(err.contains("stop the host using it"), "{err}");
    store.close().await.unwrap();
    drop(store);
    let (before, after) = weft_store::compact(&c).unwrap();
    assert!(after < before / 2, "{before} -> {after}");
    let store = Store::open(c).unwrap();
    assert_eq!(store.depth(q), 0);
    store.append(events(0, 10, q)).await.unwrap();
    assert_eq!(store.depth(q), 10);
}
