//! The publishers' deduplication window: which `(source, id)` were accepted lately.
//!
//! # The key
//!
//! A publisher's dedup key (its source and id, of any length) is kept as 128 bits:
//! the first 16 bytes of its SHA-256. A cryptographic hash, not a faster one such as
//! xxh3, because keys come from producers: with a hash whose collisions can be
//! constructed, one producer could make another's events look like duplicates and be
//! dropped. Finding a collision of truncated SHA-256 takes about 2^64 work.
//!
//! Two distinct events within one window collide with probability at most
//! N(N-1)/2^129 for N keys in the window (the birthday bound): 1.5e-21 at N = 10^9
//! (a window of 2 minutes at 8 million events per second), 2.1e-29 at 120,000 keys
//! (2 minutes at 1,000 events per second). A collision would make the later event
//! answered as a duplicate of the earlier one.
//!
//! # Where it lives
//!
//! On disk, the table `seen` holds one record per accepted key, `[time accepted, ms,
//! u64 BE][key hash]` with an empty value: its keys are in time order, so each commit
//! appends at the tree's right edge and expiry removes from its left edge, touching
//! few pages either way. (A table keyed by hash would be written at random places,
//! one page per key per commit.) In memory, [`Index`] maps each hash to its time, for
//! the lookup on every append; it is rebuilt from `seen` at open.
//!
//! # Expiry
//!
//! Every commit that adds keys also removes expired ones, at least as many as it
//! added plus [`EXPIRY_FLOOR`]; so expiry keeps pace with any sustained ingest rate.
//! While no commits come, the writer runs an expiry pass of its own when the oldest
//! key has expired (checked every [`EXPIRY_TICK`]). Nothing of this is on a timer that
//! starts over at open: a restart finds the expired keys on disk and removes them.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::engine::{ReadTxn, Table, WriteTxn};
use crate::keys;

/// Keys removed per commit beyond what it added: how fast a backlog of expired keys
/// (after a restart, or a burst) drains while ingest goes on.
pub(crate) const EXPIRY_FLOOR: usize = 1024;

/// How often an idle writer looks whether the oldest key has expired.
pub(crate) const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// A dedup key's 128-bit hash (see the module docs).
pub(crate) fn hash(key: &[u8]) -> u128 {
    let digest = Sha256::digest(key);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

/// `[time ms][hash]`: the `seen` table's key.
pub(crate) fn seen_key(time_ms: u64, hash: u128) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&time_ms.to_be_bytes());
    k[8..].copy_from_slice(&hash.to_be_bytes());
    k
}

fn read_seen_key(k: &[u8]) -> Option<(u64, u128)> {
    let time = keys::read_u64(k)?;
    let hash = u128::from_be_bytes(k.get(8..24)?.try_into().ok()?);
    Some((time, hash))
}

/// The keys in the window, by hash, with the time each was accepted.
#[derive(Default)]
pub(crate) struct Index {
    times: HashMap<u128, u64>,
    /// The earliest time in `seen`, if any: whether an idle pass has work.
    oldest: Option<u64>,
    /// Changes of the commit being built, undone if it fails.
    undo: Vec<(u128, Option<u64>)>,
}

impl Index {
    /// Reads every key of `seen`.
    pub(crate) fn load(read: &dyn ReadTxn) -> Result<Self, Error> {
        let mut index = Index::default();
        for (k, _) in read.range(Table::Seen, &[], &[0xff; 25], usize::MAX)? {
            let (time, hash) = read_seen_key(&k).ok_or(Error::Corrupt {
                table: "seen",
                reason: "a key is not 24 bytes".into(),
            })?;
            index.oldest.get_or_insert(time);
            let slot = index.times.entry(hash).or_insert(time);
            *slot = (*slot).max(time);
        }
        Ok(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether `hash` was accepted less than `window_ms` before `now`.
    pub(crate) fn seen_within(&self, hash: u128, now: u64, window_ms: u64) -> bool {
        self.times
            .get(&hash)
            .is_some_and(|at| now.saturating_sub(*at) < window_ms)
    }

    /// Records `hash` as accepted at `now`, on disk and here.
    pub(crate) fn insert(
        &mut self,
        w: &mut dyn WriteTxn,
        hash: u128,
        now: u64,
    ) -> Result<(), Error> {
        w.put(Table::Seen, &seen_key(now, hash), &[])?;
        let before = self.times.insert(hash, now);
        self.undo.push((hash, before));
        self.oldest = Some(self.oldest.map_or(now, |o| o.min(now)));
        Ok(())
    }

    /// Whether keys older than `cutoff` wait to be removed.
    pub(crate) fn has_expired(&self, cutoff: u64) -> bool {
        self.oldest.is_some_and(|o| o < cutoff)
    }

    /// Removes up to `max` keys accepted before `cutoff`, oldest first.
    pub(crate) fn expire(
        &mut self,
        w: &mut dyn WriteTxn,
        cutoff: u64,
        max: usize,
    ) -> Result<usize, Error> {
        if !self.has_expired(cutoff) {
            return Ok(0);
        }
        let expired = w.range(Table::Seen, &[], &keys::u64_be(cutoff), max)?;
        for (k, _) in &expired {
            w.delete(Table::Seen, k)?;
            if let Some((time, hash)) = read_seen_key(k)
                && self.times.get(&hash) == Some(&time)
            {
                self.times.remove(&hash);
                self.undo.push((hash, Some(time)));
            }
        }
        self.oldest = w
            .range(Table::Seen, &[], &[0xff; 25], 1)?
            .first()
            .and_then(|(k, _)| keys::read_u64(k));
        Ok(expired.len())
    }

    /// The commit is durable: its changes stay.
    pub(crate) fn committed(&mut self) {
        self.undo.clear();
    }

    /// The commit failed: its changes are undone, newest first. `oldest` is not
    /// known any more: the next pass reads it from disk again.
    pub(crate) fn rolled_back(&mut self) {
        while let Some((hash, before)) = self.undo.pop() {
            match before {
                Some(time) => self.times.insert(hash, time),
                None => self.times.remove(&hash),
            };
        }
        self.oldest = Some(0);
    }
}
