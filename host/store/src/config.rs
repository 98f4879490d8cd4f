//! How a store is opened and how it commits.

use std::path::PathBuf;
use std::time::Duration;

use crate::engine::EngineKind;

/// How long a publisher's `(source, id)` is remembered unless the config says: 2
/// minutes, NATS JetStream's default duplicate window. A producer resends within
/// seconds to minutes of a lost answer; a day's window (weft's default before) costs
/// an edge host a day of keys in memory and on disk (86 million at 1,000 events/s,
/// ~4.6 GB of memory and ~4 GB on disk by the measurements in the README).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The database file (redb); sled uses a folder beside it, see [`Self::engine_path`].
    pub path: PathBuf,
    /// The engine to open or create the store with.
    pub engine: EngineKind,
    /// `true` (durability `always`): every commit is fsynced before anyone is told
    /// it succeeded. `false` (`interval`): commits are acknowledged at once and
    /// synced every `sync_interval`, so a crash may lose what was acknowledged
    /// within the last interval.
    pub durable: bool,
    /// With `durable` off, how often commits are synced.
    pub sync_interval: Duration,
    /// The engine's page cache (redb).
    pub cache_bytes: usize,
    /// Most events (appended, consumed or emitted) merged into one commit.
    pub max_batch: usize,
    /// How long the writer waits for more requests after the first, before
    /// committing. Zero is usually right: requests arriving during an fsync are
    /// merged into the next commit anyway.
    pub max_delay: Duration,
    /// How long a publisher's `(source, id)` is remembered; zero disables deduplication.
    pub dedup_window: Duration,
    /// Requests that may wait for the writer before callers are held back.
    pub queue_capacity: usize,
    /// redb: record the allocator's state at each durable commit, so that a restart
    /// after a crash does not walk the whole file (see `redb_engine`).
    pub quick_repair: bool,
    /// How to re-encode the events of a format-1 store: with it such a store is
    /// migrated at open, without it refused (the store cannot read events itself).
    pub upgrade: Option<crate::PayloadUpgrade>,
}

impl StoreConfig {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            engine: EngineKind::default(),
            durable: true,
            sync_interval: Duration::from_millis(100),
            cache_bytes: crate::redb_engine::DEFAULT_CACHE,
            max_batch: 1024,
            max_delay: Duration::ZERO,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            queue_capacity: 4096,
            quick_repair: true,
            upgrade: None,
        }
    }

    /// Where the configured engine keeps its data: the file `path` for redb, the
    /// folder `path` with the extension `sled` for sled.
    pub fn engine_path(&self) -> PathBuf {
        self.path_of(self.engine)
    }

    pub(crate) fn path_of(&self, engine: EngineKind) -> PathBuf {
        match engine {
            EngineKind::Redb => self.path.clone(),
            EngineKind::Sled => self.path.with_extension("sled"),
        }
    }
}
