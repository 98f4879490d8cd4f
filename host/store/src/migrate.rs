//! Opening a store of an older format: format 1 is migrated to format 2 in one
//! transaction at open, or refused, never misread.
//!
//! Format 1 differs from format 2 in three ways (see the crate docs for both):
//! every event had a `refs` record (format 2 keeps one only for events more than one
//! queue holds); the dedup index was two tables, `dedup` (key -> time and event) and
//! `dedup_by_time`, keyed by the publisher's whole key; and the events' payloads were
//! encoded by the caller's format-1 code. The migration rewrites each payload through
//! the caller's [`PayloadUpgrade`], drops the `refs` records of one, moves every key of
//! `dedup_by_time` into `seen` as its hash, and empties the two old tables. It runs in
//! one transaction: a crash or a refused payload leaves the store at format 1.

use std::path::Path;

use crate::Error;
use crate::dedup;
use crate::engine::{Engine, Entry, Table, WriteTxn};
use crate::keys;

/// Re-encodes one stored event payload of format 1 in the current form; the error
/// says why a payload cannot be read.
pub type PayloadUpgrade = fn(&[u8]) -> Result<Vec<u8>, String>;

/// Entries read at a time while migrating, to bound memory on a large store.
const CHUNK: usize = 4096;

/// Migrates a format-1 store to format `to` (2) with `upgrade`, or refuses it
/// without one.
pub(crate) fn from_v1(
    engine: &dyn Engine,
    path: &Path,
    upgrade: Option<PayloadUpgrade>,
    to: u32,
) -> Result<(), Error> {
    let Some(upgrade) = upgrade else {
        return Err(Error::NeedsMigration {
            path: path.to_owned(),
            expected: to,
        });
    };
    tracing::info!(path = %path.display(), "migrating the store from format 1 to format 2");
    engine.write(true, &mut |w| {
        payloads(w, upgrade)?;
        refs(w)?;
        dedup_keys(w)?;
        w.put(Table::Meta, b"format", to.to_string().as_bytes())
    })
}

/// Every key of `table` from `start` on, a chunk at a time.
/// (Keys of these tables never start with 0xff: big-endian counters, times, UTF-8.)
fn chunk(w: &dyn WriteTxn, table: Table, start: &[u8]) -> Result<Vec<Entry>, Error> {
    w.range(table, start, &[0xff; 64], CHUNK)
}

/// The key after `key` in byte order, to go on from.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

fn payloads(w: &mut dyn WriteTxn, upgrade: PayloadUpgrade) -> Result<(), Error> {
    let mut start = Vec::new();
    loop {
        let entries = chunk(w, Table::Events, &start)?;
        let Some((last, _)) = entries.last() else {
            return Ok(());
        };
        start = after(last);
        for (k, v) in &entries {
            let new = upgrade(v).map_err(|reason| Error::Corrupt {
                table: "events",
                reason: format!(
                    "event {} of format 1 cannot be migrated: {reason}",
                    keys::read_u64(k).unwrap_or(0)
                ),
            })?;
            w.put(Table::Events, k, &new)?;
        }
    }
}

fn refs(w: &mut dyn WriteTxn) -> Result<(), Error> {
    let mut start = Vec::new();
    loop {
        let entries = chunk(w, Table::Refs, &start)?;
        let Some((last, _)) = entries.last() else {
            return Ok(());
        };
        start = after(last);
        for (k, v) in &entries {
            if keys::read_u32(v).is_none_or(|n| n <= 1) {
                w.delete(Table::Refs, k)?;
            }
        }
    }
}

fn dedup_keys(w: &mut dyn WriteTxn) -> Result<(), Error> {
    loop {
        let entries = chunk(w, Table::DedupByTime, &[])?;
        if entries.is_empty() {
            break;
        }
        for (k, _) in &entries {
            if let (Some(time), Some(key)) = (keys::read_u64(k), k.get(8..)) {
                w.put(Table::Seen, &dedup::seen_key(time, dedup::hash(key)), &[])?;
            }
            w.delete(Table::DedupByTime, k)?;
        }
    }
    loop {
        let entries = chunk(w, Table::Dedup, &[])?;
        if entries.is_empty() {
            return Ok(());
        }
        for (k, _) in &entries {
            w.delete(Table::Dedup, k)?;
        }
    }
}
