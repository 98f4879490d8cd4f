//! Limits on what may wait: per subscription (events and bytes) and for the store
//! on disk, and the refusal when one is reached. The checks are in `room`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub max_events: u64,
    pub max_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            max_events: 1_000_000,
            max_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// The store's limits on disk.
///
/// `max_bytes` counts the event data held by all queues, not the size of the
/// store's files: engines keep freed pages for reuse instead of shrinking their
/// files, so a file-size quota, once reached, would never clear. The filesystem
/// itself is guarded by `min_free`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskQuota {
    /// Most bytes of event data all queues may hold together.
    pub max_bytes: u64,
    /// Least free bytes to keep on the filesystem.
    pub min_free: u64,
}

impl Default for DiskQuota {
    fn default() -> Self {
        Self {
            max_bytes: u64::MAX,
            min_free: 64 * 1024 * 1024,
        }
    }
}

/// Why a publish was refused for room.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Full {
    #[error(
        "{subscription} is full ({have} {unit} waiting, limit {limit}): its consumer is behind; publish again later"
    )]
    Subscription {
        /// `subscription `NAME`` or `module `NAME``.
        subscription: String,
        have: u64,
        limit: u64,
        unit: &'static str,
    },
    #[error(
        "the store is at its disk quota ({used} of {limit} bytes): publish again once consumers have caught up"
    )]
    Disk { used: u64, limit: u64 },
    #[error(
        "the disk holding the store has {free} bytes free, under the {reserve} bytes weft keeps free: make room on it"
    )]
    NoSpace { free: u64, reserve: u64 },
}
