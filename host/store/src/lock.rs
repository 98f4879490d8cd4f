//! Locks over the store's in-memory maps.
//!
//! The store's in-memory maps (queue names, depth counters) are recovered from a
//! poisoned lock rather than refused: each change to them is one `HashMap` insert,
//! which a panic cannot leave half-done, and both only mirror what is on disk (a
//! queue's id, a counter the writer keeps adding to). Refusing would turn one
//! panicked thread into a store that answers "unknown queue" or "empty" for good;
//! a fresh map or counter instead (what the code did before) would be silently wrong.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Reads a store map, recovering it from a poisoned lock (see the module docs).
pub(crate) fn read_recovered<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| {
        tracing::error!("a store lock was poisoned by a panic; its data is used as it is");
        poisoned.into_inner()
    })
}

/// Writes a store map, recovering it from a poisoned lock (see the module docs).
pub(crate) fn write_recovered<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poisoned| {
        tracing::error!("a store lock was poisoned by a panic; its data is used as it is");
        poisoned.into_inner()
    })
}
