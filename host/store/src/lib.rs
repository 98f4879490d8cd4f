//! weft's durable store: the event log, one ordered queue per subscription, the
//! publishers' deduplication window and the error queues.
//!
//! # How it fits together
//!
//! [`Store`] keeps all queue, dedup and error-queue logic once, over the small
//! transactional key-value [`Engine`] trait: redb by default, sled 0.34 beside it
//! ([`EngineKind`]; each engine's module says what it syncs and what readers see).
//! Readers (workers peeking at their queue) read snapshots directly. Every write goes
//! through one writer thread that merges the requests of all callers into one
//! transaction and one fsync (group commit), bounded by [`StoreConfig::max_batch`]
//! events; while a commit is on its way to the disk the next batch gathers, so the
//! commit rate follows the load instead of costing one fsync per event. A caller's future resolves only after
//! the commit holding its request is durable.
//!
//! | module | what |
//! |---|---|
//! | `store` | [`Store`]: what the core asks of it (queues, append, complete, peek, errors, state) |
//! | `writer` | the one writer thread: group commit, sequence numbers, dedup expiry |
//! | `dedup` | the dedup window: 128-bit keys, the in-memory index, expiry |
//! | `migrate` | format 1 to format 2 at open |
//! | `config`, `request` | [`StoreConfig`]; what callers hand in ([`NewEvent`], [`Completion`]) and read ([`Delivery`]) |
//! | `engine`, `redb_engine`, `sled_engine` | the key-value [`Engine`] trait and its two implementations |
//! | `keys` | key and value encodings (big-endian, so byte order is numeric order) |
//! | `depth` | each queue's depth in memory, for quota checks that never read the store |
//! | `disk` | bytes used and free, for the disk quota |
//! | `folders` | the store's folders, created and fsynced before anything is acknowledged |
//! | `compact` | giving freed space back to the filesystem, offline |
//!
//! # Invariants
//!
//! - An event is written once; each matching queue holds a reference to it. The event
//!   is deleted in the transaction that drops its last reference.
//! - Completing a batch (removing inputs, adding outputs, recording failures) is one
//!   transaction: a crash leaves either all of it or none of it.
//! - Sequence numbers (events, queue entries, error records) are persisted counters
//!   and never reused, so a consumer's position stays meaningful across restarts.
//! - Every folder whose entries opening the store created or changed (the data
//!   folder, its parent, any folder created on the way; sled's own folder) is
//!   fsynced before [`Store::open`] returns, so a power cut cannot lose the store's
//!   name after its first acknowledgement.
//! - After a failed commit the store refuses everything: an fsync error may have lost
//!   data the kernel already dropped, so retrying it would acknowledge writes that
//!   are not on disk.
//! - What the store keeps is bounded by what it must keep: queued events, error
//!   records, module state and the dedup window's keys. Dedup keys expire at least as
//!   fast as they come (see `dedup`), and the space of deleted records is used again
//!   by later commits; the file does not shrink by itself (`compact` does, offline).
//!
//! # On-disk layout (format version 2)
//!
//! redb keeps everything in one file, [`StoreConfig::path`]; sled in a folder beside
//! it, the same path with the extension `sled`. Opening a store with the engine that
//! did not create it is refused (by the `engine` record, and by which of the two
//! exists). Both hold the same tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `format`, `engine` | `2`, engine name |
//! | `meta` | `next_event`, `next_queue`, `q:QID`, `e:QID` | next event / queue id / queue entry / error sequence (u64 BE) |
//! | `events` | event seq (u64 BE) | the event, encoded by the caller |
//! | `refs` | event seq (u64 BE) | queues still holding it (u32 BE), only while more than one does |
//! | `queue_names` | queue name (UTF-8) | queue id (u32 BE) |
//! | `queues` | queue id (u32 BE) + seq (u64 BE) | event seq (u64 BE) + payload bytes (u32 BE) + queued at (ms, u64 BE), then for an event that failed and waits to be tried again its attempts (u32 BE) + first failure (ms, u64 BE) |
//! | `seen` | time accepted (ms, u64 BE) + 128-bit hash of the dedup key | empty |
//! | `errors` | queue id (u32 BE) + error seq (u64 BE) | error record, encoded by the caller |
//! | `state` | owner name (UTF-8) + `0x00` + key | a module's own value (its `state` import) |
//! | `dedup`, `dedup_by_time` | | format 1's dedup index, empty since the migration |
//!
//! An event published to one queue with a dedup key costs three records: the event,
//! its queue entry and its `seen` key; format 1 wrote five (with a `refs` count and a
//! dedup index in two tables keyed by the whole `source` + `id`). Every key of those
//! three grows at the right edge of its tree (sequence numbers, times), so a commit
//! of many events touches few pages. The dedup key's hash, its collision bound and the
//! expiry rule are in `dedup`.
//!
//! Format 1 is migrated to format 2 at open, in one transaction, when the caller
//! says how to re-encode its events ([`StoreConfig::upgrade`]); without that it is
//! refused with what to do ([`Error::NeedsMigration`]), never read as format 2.

mod compact;
mod config;
mod dedup;
mod depth;
mod disk;
mod engine;
mod error;
mod folders;
mod keys;
mod lock;
mod migrate;
mod redb_engine;
mod request;
mod sled_engine;
mod store;
mod writer;

pub use compact::compact;
pub use config::{DEFAULT_DEDUP_WINDOW, StoreConfig};
pub use engine::{Engine, EngineKind, Entry, ReadTxn, Table, WriteTxn};
pub use error::Error;
pub use keys::QueueId;
pub use migrate::PayloadUpgrade;
pub use redb_engine::Redb;
pub use request::{Attempts, Completion, Delivery, NewEvent, StateChange};
pub use sled_engine::Sled;
pub use store::{FORMAT_VERSION, Store};
