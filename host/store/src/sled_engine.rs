//! The second engine: sled 0.34.7, kept beside redb to compare them (measured on a
//! 2-core machine: ~16 us of CPU per event appended and consumed against redb's ~6).
//!
//! One sled `Tree` per [`Table`], all in one sled database folder.
//!
//! # Writes
//!
//! sled's transactions offer only `get`, `insert` and `remove`, no range scans, and
//! their closure may be re-run. So a [`WriteTxn`] here collects its changes in an
//! ordered overlay (one `BTreeMap` per table) above the trees, and its reads merge the
//! overlay with the trees. Only when the caller's closure has succeeded are the changes
//! applied, in one sled transaction over all trees (`[Tree]: Transactional`), which
//! sled recovers atomically (its log "peg" seals the batch). A failed closure writes
//! nothing. Writers take turns on a mutex, so the trees under an overlay do not change
//! while it is built.
//!
//! # What a durable commit syncs, and why
//!
//! `Db::flush` writes sled's buffers into its log file `db` and then calls
//! `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)` on Linux, never fsync
//! (strace: 200 of 200 flushes). That starts and waits for writeback of those pages
//! but persists no metadata (the file's size when the log grew, the journal) and
//! sends no cache flush to the device, so it is not durable. After `flush` a durable
//! commit therefore also:
//!
//! 1. `fdatasync`s the `db` file: its data and its size, with a device cache flush;
//! 2. `fsync`s every file in `blobs/` not synced before, and the `blobs/` folder if
//!    its entries changed. sled writes an item larger than about a quarter of a
//!    segment (~128 KiB with the default 512 KiB segments) to its own blob file, with
//!    plain writes and no sync;
//! 3. `fsync`s the database folder if its entries changed, so that files sled created
//!    or renamed (`conf`, snapshots `snap.*`, `blobs/`) are found after a crash.
//!
//! `conf` (written once, unsynced, when sled creates the folder) is fsynced at open.
//! Folders are compared by their listing and fsynced only on a change: most commits
//! create no file, and fsyncing both folders on every commit doubled the latency of
//! a durable append here (p50 8 ms against redb's 4 ms in the same run).
//! tests/sync_audit.rs checks from an strace that each durable append returns only
//! after an fsync or fdatasync of the store's files; without steps 1–3, 19 of 20
//! appends there returned after `sync_file_range` alone, and the power-cut test
//! (tests/e2e/powercut.rs) lost acknowledged events at every cut. The folder holding
//! this one is synced by `Store::open` (`folders`).
//!
//! Gaps that remain: sled's background flusher (every 500 ms) and its segment
//! cleaner write and remove files on their own schedule. A blob they write between
//! our syncs, or a snapshot's rename, is unsynced until the next durable commit, and
//! sled's own periodic `sync_all` covers `db` only. A crash then could leave the log
//! durable but a blob it points at missing, which sled reports as corruption when it
//! reads that item. The folder comparison misses a file replaced under the same
//! name between two commits (sled does not do that to `db` or blobs, whose names are
//! log positions). Our sync is not atomic with sled's: it covers what was written
//! before it began, which includes the commit being acknowledged.
//!
//! # Reads
//!
//! sled has no snapshot across trees: each read sees the latest applied state. A
//! [`ReadTxn`] here holds a shared lock for its life; applying a commit takes it
//! exclusively, so a reader sees all of a commit or none of it, and the same state in
//! every table (the Store's `peek` reads a queue, then the events it points at).
//! Only the apply holds the lock, not the flush and fsyncs after it, so that readers
//! (called from async tasks) never wait for the disk. The cost: **a reader can see a
//! commit before it is durable**, where redb shows a commit only after its fsync. A
//! worker may so handle an event whose publisher is still waiting for its 202; if the
//! host crashes before the fsync, the publisher is not acknowledged and sends again,
//! which at-least-once delivery allows. Nothing acknowledged is ever affected.
//! (redb 4.6 publishes a durable commit to readers only after its fsync: see
//! `TransactionalMemory::commit`, which sets `state.header` after `storage.flush()`.)
//!
//! The lock is not reentrant: a thread holding a [`ReadTxn`] must drop it before it
//! writes or opens another one, or it may wait forever for a commit that waits for it.
//! The Store never nests them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use crate::Error;
use crate::engine::{Engine, Entry, ReadTxn, Table, WriteTxn};

pub struct Sled {
    db: sled::Db,
    /// One tree per table, in the order of [`Table::ALL`].
    trees: Vec<sled::Tree>,
    dir: PathBuf,
    /// The log file, kept open to fdatasync it.
    log: File,
    /// Writers take turns: a write's overlay sits on the previous write's result.
    writing: Mutex<()>,
    /// Shared by readers for a read's life, exclusive while a commit applies.
    applying: RwLock<()>,
    /// What the last durable commit found in the folder and in `blobs/`.
    synced: Mutex<Synced>,
}

#[derive(Default)]
struct Synced {
    dir: HashSet<OsString>,
    blobs: HashSet<OsString>,
}

/// The names in a folder; none if it does not exist.
fn listing(dir: &Path) -> std::io::Result<HashSet<OsString>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// Opens the sled database, waiting up to 2 s for its file lock. sled's background
/// threads hold the log file (and its lock) a moment after the last handle to a
/// database is dropped, so opening it again in the same process can find it locked
/// (sled's own tests block on the lock for that reason). Another process holding it
/// keeps it, and the open fails.
fn open_db(dir: &Path) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match sled::Config::new().path(dir).open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match File::open(dir) {
        Ok(f) => f.sync_all(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Sled {
    /// Opens (or creates) the sled database folder `dir`.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let open_err = |reason: String| Error::Open {
            path: dir.to_owned(),
            reason,
        };
        let db = open_db(dir).map_err(|e| open_err(e.to_string()))?;
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| open_err(e.to_string()))?;
        let log = File::open(dir.join("db")).map_err(|e| open_err(format!("db: {e}")))?;
        let engine = Self {
            db,
            trees,
            dir: dir.to_owned(),
            log,
            writing: Mutex::new(()),
            applying: RwLock::new(()),
            synced: Mutex::new(Synced::default()),
        };
        // sled writes `conf` once, without a sync; make the new folder durable now.
        let conf = File::open(dir.join("conf")).and_then(|f| f.sync_all());
        conf.and_then(|()| engine.sync())
            .map_err(|e| open_err(format!("cannot sync: {e}")))?;
        Ok(engine)
    }

    fn tree(&self, table: Table) -> &sled::Tree {
        &self.trees[table as usize]
    }

    /// Makes everything applied so far durable (see the module docs).
    fn sync(&self) -> std::io::Result<()> {
        self.db.flush().map_err(std::io::Error::other)?;
        self.log.sync_data()?;
        let mut synced = self
            .synced
            .lock()
            .map_err(|_| std::io::Error::other("the sync lock was poisoned"))?;
        let blobs = self.dir.join("blobs");
        let names = listing(&blobs)?;
        for name in names.difference(&synced.blobs) {
            match File::open(blobs.join(name)) {
                Ok(f) => f.sync_all()?,
                // Removed by sled's cleaner since the listing: nothing to keep.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // A folder is fsynced only when its entries changed (see the module docs).
        if names != synced.blobs {
            sync_dir(&blobs)?;
            synced.blobs = names;
        }
        let names = listing(&self.dir)?;
        if names != synced.dir {
            sync_dir(&self.dir)?;
            synced.dir = names;
        }
        Ok(())
    }

    /// Applies a finished overlay in one sled transaction over all trees.
    fn apply(&self, changes: &[Changes]) -> Result<(), Error> {
        if changes.iter().all(BTreeMap::is_empty) {
            return Ok(());
        }
        let _exclusive = self.applying.write().map_err(poisoned)?;
        self.trees[..]
            .transaction(|views: &Vec<TransactionalTree>| {
                for (view, changes) in views.iter().zip(changes) {
                    for (key, value) in changes {
                        match value {
                            Some(v) => view.insert(key.as_slice(), v.as_slice())?,
                            None => view.remove(key.as_slice())?,
                        };
                    }
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| Error::Engine(format!("sled transaction: {e:?}")))
    }
}

impl Engine for Sled {
    fn read(&self) -> Result<Box<dyn ReadTxn + '_>, Error> {
        let guard = self.applying.read().map_err(poisoned)?;
        Ok(Box::new(Read {
            engine: self,
            _guard: guard,
        }))
    }

    fn write(
        &self,
        durable: bool,
        f: &mut dyn FnMut(&mut dyn WriteTxn) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let _turn = self.writing.lock().map_err(poisoned)?;
        let mut w = Write {
            engine: self,
            changes: vec![BTreeMap::new(); Table::ALL.len()],
        };
        f(&mut w)?;
        self.apply(&w.changes)?;
        if durable {
            self.sync()
                .map_err(|e| Error::Engine(format!("cannot sync {}: {e}", self.dir.display())))?;
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "sled"
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::Engine("a sled engine lock was poisoned by a panic".into())
}

fn entry(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Entry, Error> {
    r.map(|(k, v)| (k.to_vec(), v.to_vec()))
        .map_err(Error::engine)
}

struct Read<'e> {
    engine: &'e Sled,
    _guard: RwLockReadGuard<'e, ()>,
}

impl ReadTxn for Read<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        get(self.engine.tree(table), key)
    }

    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        if start >= end {
            return Ok(Vec::new());
        }
        self.engine
            .tree(table)
            .range(start..end)
            .take(limit)
            .map(entry)
            .collect()
    }

    fn last(&self, table: Table, start: &[u8], end: &[u8]) -> Result<Option<Entry>, Error> {
        if start >= end {
            return Ok(None);
        }
        self.engine
            .tree(table)
            .range(start..end)
            .next_back()
            .map(entry)
            .transpose()
    }
}

fn get(tree: &sled::Tree, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    Ok(tree.get(key).map_err(Error::engine)?.map(|v| v.to_vec()))
}

/// One table's pending changes: `None` deletes the key.
type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A write transaction: pending changes over the trees, applied at the end.
struct Write<'e> {
    engine: &'e Sled,
    changes: Vec<Changes>,
}

impl Write<'_> {
    /// Up to `limit` live entries in `[start, end)`, the overlay winning over the tree,
    /// in key order (or reverse key order if `rev`).
    fn merged(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
        rev: bool,
    ) -> Result<Vec<Entry>, Error> {
        if start >= end {
            return Ok(Vec::new());
        }
        let range = (
            std::ops::Bound::Included(start.to_vec()),
            std::ops::Bound::Excluded(end.to_vec()),
        );
        let tree = self.engine.tree(table).range(start..end);
        let pending = self.changes[table as usize].range(range);
        let (mut tree, mut pending): (Box<dyn Iterator<Item = _>>, Box<dyn Iterator<Item = _>>) =
            if rev {
                (Box::new(tree.rev()), Box::new(pending.rev()))
            } else {
                (Box::new(tree), Box::new(pending))
            };
        let mut out = Vec::new();
        let mut t = tree.next().map(entry).transpose()?;
        let mut p = pending.next();
        while out.len() < limit {
            let order = match (&t, &p) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((tk, _)), Some((pk, _))) => {
                    let o = tk.as_slice().cmp(pk.as_slice());
                    if rev { o.reverse() } else { o }
                }
            };
            if order == Ordering::Less {
                out.extend(t.take());
                t = tree.next().map(entry).transpose()?;
                continue;
            }
            if order == Ordering::Equal {
                // The overlay replaces (or deletes) the tree's entry.
                t = tree.next().map(entry).transpose()?;
            }
            if let Some((k, Some(v))) = p {
                out.push((k.clone(), v.clone()));
            }
            p = pending.next();
        }
        Ok(out)
    }
}

impl ReadTxn for Write<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        match self.changes[table as usize].get(key) {
            Some(pending) => Ok(pending.clone()),
            None => get(self.engine.tree(table), key),
        }
    }

    fn range(
        &self,
        table: Table,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        self.merged(table, start, end, limit, false)
    }

    fn last(&self, table: Table, start: &[u8], end: &[u8]) -> Result<Option<Entry>, Error> {
        Ok(self.merged(table, start, end, 1, true)?.pop())
    }
}

impl WriteTxn for Write<'_> {
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.changes[table as usize].insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, table: Table, key: &[u8]) -> Result<(), Error> {
        self.changes[table as usize].insert(key.to_vec(), None);
        Ok(())
    }
}
