//! The store's public face: what the core asks of it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::StoreConfig;
use crate::depth::{Counters, Depths, depth_counter};
use crate::engine::{Engine, EngineKind, Table};
use crate::folders;
use crate::keys::{self, QueueId};
use crate::lock::{read_recovered, write_recovered};
use crate::request::{Completion, Delivery, NewEvent};
use crate::writer::{Op, Reply, Writer};
use crate::{Error, Redb, Sled};

/// The on-disk format this build reads and writes (see the crate docs); format 1 is
/// migrated at open (see `migrate`).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) queues: RwLock<HashMap<String, QueueId>>,
    pub(crate) depths: Depths,
    writer: Writer,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) the store with the engine `config.engine` names.
    /// Its folders are fsynced before it returns, so that nothing acknowledged
    /// later depends on a name a power cut could lose (see `folders`).
    pub fn open(config: StoreConfig) -> Result<Self, Error> {
        let mut created = Vec::new();
        if let Some(dir) = config.path.parent() {
            created = folders::create(dir).map_err(|e| Error::Open {
                path: config.path.clone(),
                reason: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        refuse_other_engine(&config)?;
        let path = config.engine_path();
        let engine: Arc<dyn Engine> = match config.engine {
            EngineKind::Redb => Arc::new(Redb::open_with(
                &path,
                config.cache_bytes,
                config.quick_repair,
            )?),
            EngineKind::Sled => Arc::new(Sled::open(&path)?),
        };
        folders::sync_after_open(&path, &created).map_err(|e| Error::Open {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Self::with_engine(engine, config)
    }

    /// Opens the store over any engine (the sled comparison, tests).
    pub fn with_engine(engine: Arc<dyn Engine>, config: StoreConfig) -> Result<Self, Error> {
        check_format(engine.as_ref(), &config.engine_path(), config.upgrade)?;
        let (queues, depths) = load_queues(engine.as_ref())?;
        let depths = Arc::new(RwLock::new(depths));
        let writer = Writer::start(engine.clone(), &config, depths.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: config.engine_path(),
                engine,
                queues: RwLock::new(queues),
                depths,
                writer,
            }),
        })
    }

    /// The queue named `name`, created empty if it does not exist yet.
    pub async fn queue(&self, name: &str) -> Result<QueueId, Error> {
        if let Some(id) = self.queue_id(name) {
            return Ok(id);
        }
        let reply = self
            .inner
            .writer
            .call(Op::CreateQueue(name.to_owned()))
            .await?;
        let Reply::Queue(id) = reply else {
            return Err(Error::Engine("writer answered out of turn".into()));
        };
        write_recovered(&self.inner.queues).insert(name.to_owned(), id);
        self.depth_counter(id);
        Ok(id)
    }

    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        read_recovered(&self.inner.queues).get(name).copied()
    }

    pub fn queue_names(&self) -> Vec<(String, QueueId)> {
        read_recovered(&self.inner.queues)
            .iter()
            .map(|(n, id)| (n.clone(), *id))
            .collect()
    }

    /// Stores events durably. For each, `true` if stored, `false` if it was a
    /// duplicate of one accepted within the dedup window (and so stored once already).
    pub async fn append(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, Error> {
        match self.inner.writer.call(Op::Append(events)).await? {
            Reply::Appended(stored) => Ok(stored),
            _ => Err(Error::Engine("writer answered out of turn".into())),
        }
    }

    /// Commits one worker's batch: inputs removed, outputs stored, failures
    /// recorded, state changed. For each output, `true` if stored, `false` if its
    /// dedup key was seen within the window.
    pub async fn complete(&self, completion: Completion) -> Result<Vec<bool>, Error> {
        match self.inner.writer.call(Op::Complete(completion)).await? {
            Reply::Appended(stored) => Ok(stored),
            _ => Err(Error::Engine("writer answered out of turn".into())),
        }
    }

    /// One value of `owner`'s state, as last committed.
    pub fn state_get(&self, owner: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.inner
            .engine
            .read()?
            .get(Table::State, &keys::state(owner, key))
    }

    /// How many keys `owner`'s state holds (bounded by `max`).
    pub fn state_len(&self, owner: &str, max: usize) -> Result<usize, Error> {
        let (start, end) = keys::state_range(owner);
        Ok(self
            .inner
            .engine
            .read()?
            .range(Table::State, &start, &end, max)?
            .len())
    }

    /// Up to `max` events at the head of a queue, in order. Reads a snapshot, so it
    /// never waits for the writer.
    pub fn peek(&self, queue: QueueId, max: usize) -> Result<Vec<Delivery>, Error> {
        self.peek_after(queue, None, max)
    }

    /// Up to `max` events of a queue after sequence `after` (from the head if
    /// `None`), in order: a reader that streams without acknowledging as it goes
    /// moves on past what it has already sent.
    pub fn peek_after(
        &self,
        queue: QueueId,
        after: Option<u64>,
        max: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let read = self.inner.engine.read()?;
        let (mut start, end) = keys::queue_range(queue);
        if let Some(after) = after {
            match after.checked_add(1) {
                Some(next) => start = keys::queued(queue, next),
                None => return Ok(Vec::new()),
            }
        }
        let entries = read.range(Table::Queues, &start, &end, max)?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let seq = k
                .get(4..)
                .and_then(keys::read_u64)
                .ok_or(corrupt("queues"))?;
            let event = keys::read_u64(&v).ok_or(corrupt("queues"))?;
            let payload = read
                .get(Table::Events, &keys::u64_be(event))?
                .ok_or_else(|| Error::Corrupt {
                    table: "events",
                    reason: format!("queue entry {seq} points at missing event {event}"),
                })?;
            out.push(Delivery {
                seq,
                payload,
                attempts: keys::read_attempts(&v),
            });
        }
        Ok(out)
    }

    /// The sequence numbers of up to `max` entries at the head of a queue that are
    /// at most `upto`, without reading the events: an acknowledgement up to a
    /// sequence reads only what it removes, however far the queue goes on.
    pub fn head_seqs_upto(&self, queue: QueueId, upto: u64, max: usize) -> Result<Vec<u64>, Error> {
        let read = self.inner.engine.read()?;
        let (start, mut end) = keys::queue_range(queue);
        if let Some(next) = upto.checked_add(1) {
            end = keys::queued(queue, next);
        }
        read.range(Table::Queues, &start, &end, max)?
            .into_iter()
            .map(|(k, _)| k.get(4..).and_then(keys::read_u64).ok_or(corrupt("queues")))
            .collect()
    }

    /// Events waiting in a queue.
    pub fn depth(&self, queue: QueueId) -> u64 {
        self.depth_counter(queue).events.load(Ordering::Relaxed)
    }

    /// Bytes of event data waiting in a queue (each event counted in every queue holding it).
    pub fn queued_bytes(&self, queue: QueueId) -> u64 {
        self.depth_counter(queue).bytes.load(Ordering::Relaxed)
    }

    /// When the oldest event waiting in a queue was queued (ms since the Unix epoch).
    pub fn oldest(&self, queue: QueueId) -> Result<Option<u64>, Error> {
        let read = self.inner.engine.read()?;
        let (start, end) = keys::queue_range(queue);
        Ok(read
            .range(Table::Queues, &start, &end, 1)?
            .first()
            .and_then(|(_, v)| keys::read_entry(v))
            .map(|(_, _, at)| at))
    }

    /// Up to `max` error records of a queue, oldest first, with their sequence numbers.
    pub fn errors(&self, queue: QueueId, max: usize) -> Result<Vec<(u64, Vec<u8>)>, Error> {
        let read = self.inner.engine.read()?;
        let (start, end) = keys::queue_range(queue);
        read.range(Table::Errors, &start, &end, max)?
            .into_iter()
            .map(|(k, v)| {
                let seq = k
                    .get(4..)
                    .and_then(keys::read_u64)
                    .ok_or(corrupt("errors"))?;
                Ok((seq, v))
            })
            .collect()
    }

    /// Bytes the store's files take on disk.
    pub fn disk_usage(&self) -> u64 {
        crate::disk::usage(&self.inner.path)
    }

    /// Bytes free on the filesystem holding the store, if the system says.
    pub fn disk_free(&self) -> Option<u64> {
        crate::disk::free(&self.inner.path)
    }

    /// One error record of a queue.
    pub fn error(&self, queue: QueueId, seq: u64) -> Result<Option<Vec<u8>>, Error> {
        self.inner
            .engine
            .read()?
            .get(Table::Errors, &keys::queued(queue, seq))
    }

    /// Waits until everything sent before is committed, then stops the writer.
    pub async fn close(&self) -> Result<(), Error> {
        self.inner.writer.close().await
    }

    pub fn engine_name(&self) -> &'static str {
        self.inner.engine.name()
    }

    pub(crate) fn depth_counter(&self, queue: QueueId) -> Arc<Counters> {
        depth_counter(&self.inner.depths, queue)
    }
}

fn corrupt(table: &'static str) -> Error {
    Error::Corrupt {
        table,
        reason: "key or value has the wrong length".into(),
    }
}

/// Refuses to create a new store for one engine where the other engine's store is:
/// the two live at different paths, so the `engine` record alone would not notice.
fn refuse_other_engine(config: &StoreConfig) -> Result<(), Error> {
    let ours = config.engine_path();
    for other in EngineKind::ALL {
        let theirs = config.path_of(other);
        if other != config.engine && theirs.exists() && !ours.exists() {
            return Err(Error::WrongEngine {
                path: theirs,
                found: other.name().to_owned(),
                expected: config.engine.name().to_owned(),
            });
        }
    }
    Ok(())
}

/// Writes the format record into a new store, or checks the one found (migrating
/// format 1 when the caller says how to upgrade its payloads).
fn check_format(
    engine: &dyn Engine,
    path: &Path,
    upgrade: Option<crate::PayloadUpgrade>,
) -> Result<(), Error> {
    let read = engine.read()?;
    let found = read.get(Table::Meta, b"format")?;
    let found_engine = read.get(Table::Meta, b"engine")?;
    drop(read);
    match (found, found_engine) {
        (None, _) => engine.write(true, &mut |w| {
            w.put(
                Table::Meta,
                b"format",
                FORMAT_VERSION.to_string().as_bytes(),
            )?;
            w.put(Table::Meta, b"engine", engine.name().as_bytes())
        }),
        (Some(v), e) => {
            let v = String::from_utf8_lossy(&v).into_owned();
            let same_engine = e.as_deref().is_none_or(|e| e == engine.name().as_bytes());
            if v == "1" && same_engine {
                return crate::migrate::from_v1(engine, path, upgrade, FORMAT_VERSION);
            }
            if v != FORMAT_VERSION.to_string() {
                return Err(Error::Format {
                    path: path.to_owned(),
                    found: v,
                    expected: FORMAT_VERSION,
                });
            }
            let e = e.map(|e| String::from_utf8_lossy(&e).into_owned());
            match e {
                Some(e) if e != engine.name() => Err(Error::WrongEngine {
                    path: path.to_owned(),
                    found: e,
                    expected: engine.name().to_owned(),
                }),
                _ => Ok(()),
            }
        }
    }
}

type Queues = (HashMap<String, QueueId>, HashMap<QueueId, Arc<Counters>>);

/// Reads the queue names and counts each queue's entries (its depth).
fn load_queues(engine: &dyn Engine) -> Result<Queues, Error> {
    let read = engine.read()?;
    let mut names = HashMap::new();
    let mut depths = HashMap::new();
    for (k, v) in read.range(Table::QueueNames, &[], &[0xff; 1024], usize::MAX)? {
        let name = String::from_utf8(k).map_err(|_| corrupt("queue_names"))?;
        let id = keys::read_u32(&v).ok_or(corrupt("queue_names"))?;
        let (start, end) = keys::queue_range(id);
        let entries = read.range(Table::Queues, &start, &end, usize::MAX)?;
        let bytes: u64 = entries
            .iter()
            .filter_map(|(_, v)| keys::read_entry(v))
            .map(|(_, size, _)| size)
            .sum();
        names.insert(name, id);
        depths.insert(
            id,
            Arc::new(Counters {
                events: AtomicU64::new(entries.len() as u64),
                bytes: AtomicU64::new(bytes),
            }),
        );
    }
    Ok((names, depths))
}
