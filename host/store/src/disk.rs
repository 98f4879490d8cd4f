//! How much room the store takes and has left, for the host's disk quota.
//!
//! weft refuses new events (HTTP 507) before the disk is full rather than meeting
//! ENOSPC inside a commit: after a failed write an engine may refuse all further
//! transactions (redb does until reopened), which would stop the whole host.

use std::path::Path;

/// Bytes used by the store's files at `path` (a file, or a folder of files).
pub fn usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| usage(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes free for an unprivileged writer on the filesystem holding `path`.
pub fn free(path: &Path) -> Option<u64> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    Some(stat.blocks_available().saturating_mul(stat.fragment_size()))
}
