//! The one writer: group commit for every caller.
//!
//! Callers send requests over a bounded channel and wait on a one-shot reply. The
//! writer takes the first request, gathers what else is waiting (up to
//! `max_batch` events, waiting at most `max_delay` for more), applies them all in one
//! transaction, commits it (fsync), then answers everyone. While it commits, new
//! requests queue up for the next round, so under load one fsync covers many callers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use crate::Error;
use crate::config::StoreConfig;
use crate::dedup::{self, EXPIRY_FLOOR, EXPIRY_TICK, Index};
use crate::depth::{Depths, depth_counter};
use crate::engine::{Engine, Table, WriteTxn};
use crate::keys::{self, QueueId};
use crate::request::{Completion, NewEvent};

pub(crate) enum Op {
    CreateQueue(String),
    Append(Vec<NewEvent>),
    Complete(Completion),
}

impl Op {
    /// New events this operation stores (published, or a module's outputs).
    fn events(&self) -> usize {
        match self {
            Op::CreateQueue(_) => 0,
            Op::Append(events) => events.len(),
            Op::Complete(c) => c.outputs.len(),
        }
    }

    fn weight(&self) -> usize {
        match self {
            Op::CreateQueue(_) => 1,
            Op::Append(events) => events.len().max(1),
            Op::Complete(c) => {
                let errors = c.failed.len()
                    + c.resolved.len()
                    + c.updated.len()
                    + c.state.len()
                    + c.retried.len();
                (c.consumed.len() + c.outputs.len() + errors).max(1)
            }
        }
    }
}

pub(crate) enum Reply {
    Queue(QueueId),
    Appended(Vec<bool>),
}

type ReplyTx = oneshot::Sender<Result<Reply, Error>>;

enum Msg {
    Request(Op, ReplyTx),
    Close(oneshot::Sender<()>),
}

/// Per queue: (events, bytes) added (positive) or removed (negative) by a commit.
type Deltas = HashMap<QueueId, (i64, i64)>;

pub(crate) struct Writer {
    tx: flume::Sender<Msg>,
    failed: Arc<Mutex<Option<String>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(crate) fn start(
        engine: Arc<dyn Engine>,
        config: &StoreConfig,
        depths: Depths,
    ) -> Result<Self, Error> {
        let (tx, rx) = flume::bounded(config.queue_capacity.max(1));
        let failed = Arc::new(Mutex::new(None));
        let state = State::load(engine.as_ref(), config)?;
        let mut worker = Worker {
            engine,
            rx,
            state,
            depths,
            failed: failed.clone(),
            durable: config.durable,
            max_batch: config.max_batch.max(1),
            max_delay: config.max_delay,
            sync_interval: config.sync_interval,
            unsynced: false,
            last_sync: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("weft-store-writer".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::Engine(format!("cannot start the store's writer thread: {e}")))?;
        Ok(Self {
            tx,
            failed,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(crate) async fn call(&self, op: Op) -> Result<Reply, Error> {
        if let Some(reason) = lock_recovered(&self.failed).clone() {
            return Err(Error::Failed(reason));
        }
        let (reply, wait) = oneshot::channel();
        self.tx
            .send_async(Msg::Request(op, reply))
            .await
            .map_err(|_| Error::Closed)?;
        wait.await.map_err(|_| Error::Closed)?
    }

    pub(crate) async fn close(&self) -> Result<(), Error> {
        let (done, wait) = oneshot::channel();
        if self.tx.send_async(Msg::Close(done)).await.is_ok() {
            let _ = wait.await;
        }
        let thread = lock_recovered(&self.thread).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        Ok(())
    }
}

/// Counters the writer owns; only it allocates sequence numbers.
struct State {
    next_event: u64,
    next_queue: QueueId,
    queue_next: HashMap<QueueId, u64>,
    error_next: HashMap<QueueId, u64>,
    dirty: HashSet<Vec<u8>>,
    dedup_window: Duration,
    /// The dedup keys in the window (see `dedup`).
    index: Index,
    /// Dedup keys the commit being built added: it expires at least as many.
    added_keys: usize,
}

impl State {
    fn load(engine: &dyn Engine, config: &StoreConfig) -> Result<Self, Error> {
        let read = engine.read()?;
        let counter = |k: &[u8]| -> Result<u64, Error> {
            Ok(read
                .get(Table::Meta, k)?
                .and_then(|v| keys::read_u64(&v))
                .unwrap_or(0))
        };
        Ok(Self {
            next_event: counter(b"next_event")?,
            next_queue: u32::try_from(counter(b"next_queue")?).unwrap_or(u32::MAX),
            queue_next: HashMap::new(),
            error_next: HashMap::new(),
            dirty: HashSet::new(),
            dedup_window: config.dedup_window,
            index: Index::load(read.as_ref())?,
            added_keys: 0,
        })
    }

    fn next(
        w: &mut dyn WriteTxn,
        map: &mut HashMap<QueueId, u64>,
        dirty: &mut HashSet<Vec<u8>>,
        kind: &str,
        queue: QueueId,
    ) -> Result<u64, Error> {
        let key = keys::queue_counter(kind, queue);
        let next = match map.get(&queue) {
            Some(n) => *n,
            None => w
                .get(Table::Meta, &key)?
                .and_then(|v| keys::read_u64(&v))
                .unwrap_or(0),
        };
        map.insert(queue, next + 1);
        dirty.insert(key);
        Ok(next)
    }

    fn persist(&mut self, w: &mut dyn WriteTxn) -> Result<(), Error> {
        w.put(Table::Meta, b"next_event", &keys::u64_be(self.next_event))?;
        w.put(
            Table::Meta,
            b"next_queue",
            &keys::u64_be(self.next_queue.into()),
        )?;
        for key in self.dirty.drain() {
            let text = String::from_utf8_lossy(&key).into_owned();
            let (kind, id) = text.split_once(':').unwrap_or(("", ""));
            let id: QueueId = id.parse().unwrap_or(0);
            let map = if kind == "q" {
                &self.queue_next
            } else {
                &self.error_next
            };
            if let Some(n) = map.get(&id) {
                w.put(Table::Meta, &key, &keys::u64_be(*n))?;
            }
        }
        Ok(())
    }
}

struct Worker {
    engine: Arc<dyn Engine>,
    rx: flume::Receiver<Msg>,
    state: State,
    depths: Depths,
    failed: Arc<Mutex<Option<String>>>,
    durable: bool,
    max_batch: usize,
    max_delay: Duration,
    /// With `durable` off: how often what was committed is synced.
    sync_interval: Duration,
    /// Commits since the last sync (only with `durable` off).
    unsynced: bool,
    last_sync: Instant,
}

impl Worker {
    fn run(&mut self) {
        loop {
            let first = match self.idle_timeout() {
                Some(timeout) => match self.rx.recv_timeout(timeout) {
                    Ok(m) => m,
                    Err(flume::RecvTimeoutError::Timeout) => {
                        if self.unsynced && self.last_sync.elapsed() >= self.sync_interval {
                            self.sync();
                        }
                        self.idle_expiry();
                        continue;
                    }
                    Err(flume::RecvTimeoutError::Disconnected) => break,
                },
                None => match self.rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                },
            };
            let (batch, close) = self.gather(first);
            if !batch.is_empty() {
                self.commit(batch);
            }
            if !self.durable && self.unsynced && self.last_sync.elapsed() >= self.sync_interval {
                self.sync();
            }
            if let Some(done) = close {
                self.sync();
                let _ = done.send(());
                return;
            }
        }
        self.sync();
    }

    /// How long to wait for a request before doing the writer's own work: the next
    /// sync (durability `interval`) or a look at expired dedup keys.
    fn idle_timeout(&self) -> Option<Duration> {
        let sync = self
            .unsynced
            .then(|| self.sync_interval.saturating_sub(self.last_sync.elapsed()));
        // Keys are looked at also with deduplication off: those a run with a window
        // left behind go too.
        let expiry = (self.state.index.len() > 0).then_some(EXPIRY_TICK);
        match (sync, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// With no requests coming: commits of its own that remove expired dedup keys,
    /// [`EXPIRY_FLOOR`] at a time, until none is left or a request comes (at most 64
    /// a tick, so that a commit that keeps failing cannot hold the writer).
    fn idle_expiry(&mut self) {
        let window = self.state.dedup_window.as_millis() as u64;
        for _ in 0..64 {
            if !(self.rx.is_empty()
                && lock_recovered(&self.failed).is_none()
                && self
                    .state
                    .index
                    .has_expired(now_ms().saturating_sub(window)))
            {
                return;
            }
            self.commit(Vec::new());
        }
    }

    /// `durability = "interval"`: makes every commit so far durable with one empty
    /// durable commit.
    fn sync(&mut self) {
        if !self.unsynced {
            return;
        }
        metrics::counter!("weft_store_fsyncs_total").increment(1);
        if let Err(e) = self.engine.write(true, &mut |_| Ok(())) {
            tracing::error!(error = %e, "store sync failed; refusing all further writes");
            *lock_recovered(&self.failed) = Some(e.to_string());
        }
        self.unsynced = false;
        self.last_sync = Instant::now();
    }

    /// The first message plus whatever else is waiting, bounded by count and time.
    fn gather(&self, first: Msg) -> (Vec<(Op, ReplyTx)>, Option<oneshot::Sender<()>>) {
        let mut batch = Vec::new();
        let mut weight = 0;
        let deadline = Instant::now() + self.max_delay;
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Request(op, reply)) => {
                    weight += op.weight();
                    batch.push((op, reply));
                }
                Some(Msg::Close(done)) => return (batch, Some(done)),
                None => {}
            }
            if weight >= self.max_batch {
                return (batch, None);
            }
            next = match self.rx.try_recv() {
                Ok(m) => Some(m),
                Err(flume::TryRecvError::Disconnected) => return (batch, None),
                Err(flume::TryRecvError::Empty) if Instant::now() < deadline => {
                    match self.rx.recv_deadline(deadline) {
                        Ok(m) => Some(m),
                        Err(_) => return (batch, None),
                    }
                }
                Err(flume::TryRecvError::Empty) => return (batch, None),
            };
        }
    }

    fn commit(&mut self, batch: Vec<(Op, ReplyTx)>) {
        if let Some(reason) = lock_recovered(&self.failed).clone() {
            for (_, reply) in batch {
                let _ = reply.send(Err(Error::Failed(reason.clone())));
            }
            return;
        }
        let mut replies = Vec::with_capacity(batch.len());
        let mut deltas: Deltas = HashMap::new();
        let mut applied = false;
        let now = now_ms();
        let window = self.state.dedup_window.as_millis() as u64;
        let state = &mut self.state;
        let started = Instant::now();
        let result = self.engine.write(self.durable, &mut |w| {
            replies.clear();
            deltas.clear();
            state.added_keys = 0;
            for (op, _) in &batch {
                replies.push(apply(w, state, op, now, &mut deltas)?);
            }
            if window > 0 || state.index.len() > 0 {
                let max = state.added_keys + EXPIRY_FLOOR;
                state.index.expire(w, now.saturating_sub(window), max)?;
            }
            state.persist(w)?;
            applied = true;
            Ok(())
        });
        match result {
            Ok(()) => {
                self.state.index.committed();
                if !self.durable {
                    self.unsynced = true;
                }
                // Through the `metrics` facade: nothing unless the host installed
                // an exporter. Operations per commit is what group commit gathers.
                metrics::histogram!("weft_store_commit_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("weft_store_operations_per_commit").record(batch.len() as f64);
                let events: usize = batch.iter().map(|(op, _)| op.events()).sum();
                if events > 0 {
                    metrics::histogram!("weft_store_events_per_commit").record(events as f64);
                }
                if self.durable {
                    metrics::counter!("weft_store_fsyncs_total").increment(1);
                }
                for (queue, (events, bytes)) in deltas {
                    let c = depth_counter(&self.depths, queue);
                    for (counter, delta) in [(&c.events, events), (&c.bytes, bytes)] {
                        if delta >= 0 {
                            counter.fetch_add(delta as u64, Ordering::Relaxed);
                        } else {
                            counter.fetch_sub(delta.unsigned_abs(), Ordering::Relaxed);
                        }
                    }
                }
                for ((_, reply), r) in batch.into_iter().zip(replies) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                self.state.index.rolled_back();
                if applied {
                    // The commit itself failed (an fsync error, a full disk): what the
                    // kernel dropped cannot be known, so stop acknowledging anything.
                    tracing::error!(error = %e, "store commit failed; refusing all further writes");
                    *lock_recovered(&self.failed) = Some(e.to_string());
                }
                // Counters may have advanced inside the aborted transaction; reload them.
                if let Ok(read) = self.engine.read() {
                    let reload = |k: &[u8]| {
                        read.get(Table::Meta, k)
                            .ok()
                            .flatten()
                            .and_then(|v| keys::read_u64(&v))
                            .unwrap_or(0)
                    };
                    self.state.next_event = reload(b"next_event");
                    self.state.next_queue = u32::try_from(reload(b"next_queue")).unwrap_or(0);
                }
                self.state.queue_next.clear();
                self.state.error_next.clear();
                self.state.dirty.clear();
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

fn apply(
    w: &mut dyn WriteTxn,
    state: &mut State,
    op: &Op,
    now: u64,
    deltas: &mut Deltas,
) -> Result<Reply, Error> {
    match op {
        Op::CreateQueue(name) => {
            if let Some(id) = w.get(Table::QueueNames, name.as_bytes())? {
                return keys::read_u32(&id).map(Reply::Queue).ok_or(Error::Corrupt {
                    table: "queue_names",
                    reason: format!("queue `{name}` has a malformed id"),
                });
            }
            let id = state.next_queue;
            state.next_queue = state.next_queue.saturating_add(1);
            w.put(Table::QueueNames, name.as_bytes(), &id.to_be_bytes())?;
            Ok(Reply::Queue(id))
        }
        Op::Append(events) => {
            let mut stored = Vec::with_capacity(events.len());
            for event in events {
                stored.push(append(w, state, event, now, deltas)?);
            }
            Ok(Reply::Appended(stored))
        }
        Op::Complete(c) => {
            for seq in &c.consumed {
                let key = keys::queued(c.queue, *seq);
                if let Some(v) = w.get(Table::Queues, &key)? {
                    w.delete(Table::Queues, &key)?;
                    let d = deltas.entry(c.queue).or_default();
                    d.0 -= 1;
                    if let Some((event, size, _)) = keys::read_entry(&v) {
                        d.1 -= size as i64;
                        release(w, event)?;
                    }
                }
            }
            let mut stored = Vec::with_capacity(c.outputs.len());
            for event in &c.outputs {
                stored.push(append(w, state, event, now, deltas)?);
            }
            for seq in &c.resolved {
                w.delete(Table::Errors, &keys::queued(c.queue, *seq))?;
            }
            for (seq, record) in &c.updated {
                let key = keys::queued(c.queue, *seq);
                if w.get(Table::Errors, &key)?.is_some() {
                    w.put(Table::Errors, &key, record)?;
                }
            }
            for record in &c.failed {
                let seq = State::next(w, &mut state.error_next, &mut state.dirty, "e", c.queue)?;
                w.put(Table::Errors, &keys::queued(c.queue, seq), record)?;
            }
            for (seq, attempts) in &c.retried {
                let key = keys::queued(c.queue, *seq);
                // Gone when the entry was acknowledged meanwhile (an outside
                // consumer's ack): nothing left to count for.
                if let Some(v) = w.get(Table::Queues, &key)? {
                    w.put(
                        Table::Queues,
                        &key,
                        &keys::entry_with_attempts(&v, *attempts),
                    )?;
                }
            }
            for (owner, key, value) in &c.state {
                let key = keys::state(owner, key);
                match value {
                    Some(v) => w.put(Table::State, &key, v)?,
                    None => w.delete(Table::State, &key)?,
                }
            }
            Ok(Reply::Appended(stored))
        }
    }
}

/// Stores one event and its queue references; `false` if it was a duplicate.
fn append(
    w: &mut dyn WriteTxn,
    state: &mut State,
    event: &NewEvent,
    now: u64,
    deltas: &mut Deltas,
) -> Result<bool, Error> {
    let window = state.dedup_window.as_millis() as u64;
    let dedup = event
        .dedup
        .as_ref()
        .filter(|_| window > 0)
        .map(|key| dedup::hash(key));
    if let Some(hash) = dedup
        && state.index.seen_within(hash, now, window)
    {
        return Ok(false);
    }
    let seq = state.next_event;
    state.next_event += 1;
    if !event.queues.is_empty() {
        let seq_key = keys::u64_be(seq);
        w.put(Table::Events, &seq_key, &event.payload)?;
        // One holder is the usual case and needs no count (see the crate docs).
        if event.queues.len() > 1 {
            let refs = u32::try_from(event.queues.len()).unwrap_or(u32::MAX);
            w.put(Table::Refs, &seq_key, &refs.to_be_bytes())?;
        }
        for queue in &event.queues {
            let qseq = State::next(w, &mut state.queue_next, &mut state.dirty, "q", *queue)?;
            let entry = keys::entry(seq, event.payload.len(), now);
            w.put(Table::Queues, &keys::queued(*queue, qseq), &entry)?;
            let d = deltas.entry(*queue).or_default();
            d.0 += 1;
            d.1 += event.payload.len() as i64;
        }
    }
    if let Some(hash) = dedup {
        state.index.insert(w, hash, now)?;
        state.added_keys += 1;
    }
    Ok(true)
}

/// Drops one queue's reference to an event, deleting the event with the last one.
/// No `refs` record means one holder; a count of one is not kept.
fn release(w: &mut dyn WriteTxn, event: u64) -> Result<(), Error> {
    let key = keys::u64_be(event);
    match w.get(Table::Refs, &key)?.and_then(|v| keys::read_u32(&v)) {
        None | Some(0 | 1) => {
            w.delete(Table::Refs, &key)?;
            w.delete(Table::Events, &key)
        }
        Some(2) => w.delete(Table::Refs, &key),
        Some(n) => w.put(Table::Refs, &key, &(n - 1).to_be_bytes()),
    }
}

/// Locks the writer's failure flag or thread handle, recovering them from a
/// poisoned lock: each is a single value replaced whole, so a panic cannot leave
/// it half-written. Ignoring the poison instead would lose the failure flag, and
/// with it the promise to refuse every write after a failed commit.
fn lock_recovered<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|poisoned| {
        tracing::error!("a store writer lock was poisoned by a panic; its value is used as it is");
        poisoned.into_inner()
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
