//! Giving the disk back: `weft store compact`, offline.
//!
//! The store reuses the space of what it deleted (consumed events, expired dedup
//! keys) for later commits, so its file stops growing once it holds its working set;
//! it does not shrink by itself. After a backlog has drained, compacting returns the
//! difference to the filesystem: redb's `compact()` moves the live pages to the front
//! of the file and truncates it. It needs the store to itself, so it runs on a stopped
//! host (redb's file lock refuses a second opener, and the error says so).

use std::path::Path;

use crate::Error;
use crate::config::StoreConfig;
use crate::engine::EngineKind;

/// The store's size before and after compacting, in bytes.
pub fn compact(config: &StoreConfig) -> Result<(u64, u64), Error> {
    let path = config.engine_path();
    if config.engine == EngineKind::Sled {
        return Err(Error::Open {
            path,
            reason: "sled compacts its files itself (its segment cleaner); `compact` is for redb"
                .into(),
        });
    }
    if !path.exists() {
        return Err(Error::Open {
            path,
            reason: "there is no store here: check --data (or the config's data folder)".into(),
        });
    }
    let before = crate::disk::usage(&path);
    let open_err = |path: &Path, e: &dyn std::fmt::Display| Error::Open {
        path: path.to_owned(),
        reason: format!("{e}; stop the host using it, then compact"),
    };
    let mut db = redb::Database::open(&path).map_err(|e| open_err(&path, &e))?;
    while db
        .compact()
        .map_err(|e| Error::Engine(format!("compacting {}: {e}", path.display())))?
    {}
    drop(db);
    Ok((before, crate::disk::usage(&path)))
}
