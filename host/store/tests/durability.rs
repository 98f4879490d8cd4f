#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use weft_store::{Engine, Error, NewEvent, ReadTxn, Redb, Store, StoreConfig, WriteTxn};

/// Counts durable and non-durable commits.
struct Counting(Redb, AtomicUsize, AtomicUsize);

impl Engine for Counting {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error> {
        self.0.read()
    }
    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if durable { &self.1 } else { &self.2 }.fetch_add(1, Ordering::Relaxed);
        self.0.write(durable, f)
    }
    fn name(&self) -> &'static str {
        "redb"
    }
}

fn event(n: usize, q: u32) -> NewEvent {
    NewEvent {
        dedup: None,
        payload: n.to_string().into_bytes(),
        queues: vec![q],
    }
}

#[tokio::test]
async fn interval_durability_syncs_on_a_timer_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path().join("weft.redb"));
    config.durable = false;
    config.sync_interval = Duration::from_millis(50);
    let engine = Arc::new(Counting(
        Redb::open(&config.path).unwrap(),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ));
    let store = Store::with_engine(engine.clone(), config.clone()).unwrap();
    let q = store.queue("q").await.unwrap();
    let durable_before = engine.1.load(Ordering::Relaxed);
    for n in 0..100 {
        store.append(vec![event(n, q)]).await.unwrap();
    }
    assert!(
        engine.2.load(Ordering::Relaxed) >= 100,
        "appends commit without a sync"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let synced = engine.1.load(Ordering::Relaxed) - durable_before;
    assert!(
        synced >= 1,
        "an idle store syncs what it acknowledged within the interval"
    );
    assert!(synced < 20, "syncs are grouped: {synced} for 100 appends");
    store.append(vec![event(100, q)]).await.unwrap();
    store.close().await.unwrap();
    drop(store);
    drop(engine);

    let store = Store::open(StoreConfig::new(dir.path().join("weft.redb"))).unwrap();
    assert_eq!(
        store.depth(store.queue_id("q").unwrap()),
        101,
        "closing synced the last append"
    );
}

/// Fails every commit after the first `ok` ones, as an fsync error (EIO) would.
struct FailingSync(Redb, AtomicUsize);

impl Engine for FailingSync {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error> {
        self.0.read()
    }
    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.1.fetch_sub(1, Ordering::Relaxed) > 0 {
            return self.0.write(durable, f);
        }
        self.0.write(durable, &mut |w| {
            f(w)?;
            Err(Error::Engine(
                "fsync: Input/output error (os error 5)".into(),
            ))
        })
    }
    fn name(&self) -> &'static str {
        "redb"
    }
}

#[tokio::test]
async fn after_a_failed_commit_nothing_more_is_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path().join("weft.redb"));
    // Commits that succeed: the format record and the queue.
    let engine = Arc::new(FailingSync(
        Redb::open(&config.path).unwrap(),
        AtomicUsize::new(2),
    ));
    let store = Store::with_engine(engine, config).unwrap();
    let q = store.queue("q").await.unwrap();
    let first = store.append(vec![event(1, q)]).await;
    assert!(first.is_err(), "the failed commit is not acknowledged");
    let second = store.append(vec![event(2, q)]).await;
    assert!(matches!(second, Err(Error::Failed(_))), "{second:?}");
    assert!(second.unwrap_err().to_string().contains("restart the host"));
}
