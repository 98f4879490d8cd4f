//! The small transactional, ordered key-value interface an engine implements.
//!
//! Everything weft knows about queues, deduplication and error records lives once,
//! above this trait, in [`crate::Store`]; an engine only stores bytes under bytes in a
//! few named tables, reads a consistent snapshot, and commits atomically and durably.

use crate::Error;

/// The tables of the on-disk layout (see the crate docs for what each key holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Meta,
    Events,
    Queues,
    QueueNames,
    /// Format 1's dedup index by key; emptied by the migration to format 2.
    Dedup,
    /// Format 1's dedup index by time; emptied by the migration to format 2.
    DedupByTime,
    Errors,
    Refs,
    State,
    /// Format 2's dedup index (see `dedup`).
    Seen,
}

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Meta,
        Table::Events,
        Table::Queues,
        Table::QueueNames,
        Table::Dedup,
        Table::DedupByTime,
        Table::Errors,
        Table::Refs,
        Table::State,
        Table::Seen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Events => "events",
            Table::Queues => "queues",
            Table::QueueNames => "queue_names",
            Table::Dedup => "dedup",
            Table::DedupByTime => "dedup_by_time",
            Table::Errors => "errors",
            Table::Refs => "refs",
            Table::State => "state",
            Table::Seen => "seen",
        }
    }
}

pub type Entry = (Vec<u8>, Vec<u8>);

/// Reads within one consistent view.
pub trait ReadTxn {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error>;
    /// Up to `limit` entries with `start <= key < end`, in key order.
    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, Error>;
    /// The greatest entry with `start <= key < end`.
    fn last(&self, table: Table, start: &[u8], end: &[u8]) -> Result<Option<Entry>, Error>;
}

/// Reads and writes within one transaction.
pub trait WriteTxn: ReadTxn {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), Error>;
    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), Error>;
}

/// A storage engine: snapshots for readers, one writer at a time.
pub trait Engine: Send + Sync + 'static {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error>;

    /// Runs `f` in one write transaction and commits it. When this returns `Ok`, the
    /// transaction is on disk (fsynced) if `durable`; if `f` fails, nothing is written.
    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error>;

    /// A short name for logs and the format record.
    fn name(&self) -> &'static str;
}

/// Which engine [`crate::Store::open`] uses. A store stays with the engine that
/// created it: opening it with the other one is refused.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// redb, in one file at `StoreConfig::path`: real fsyncs, less CPU per event.
    #[default]
    Redb,
    /// sled 0.34.7, in a folder beside it (`path` with the extension `sled`).
    Sled,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Redb, EngineKind::Sled];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Redb => "redb",
            EngineKind::Sled => "sled",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EngineKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown storage engine `{s}`: expected `redb` or `sled`"))
    }
}
