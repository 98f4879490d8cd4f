//! The store's folders, made durable before anything is acknowledged.
//!
//! A file's name is durable only once the folder holding it is fsynced: an `fsync`
//! of the file itself makes its data durable, not its name (POSIX; ext4's journal
//! happens to persist names sooner, which other filesystems and a strict reading do
//! not promise). Without this, a power cut in the first moments of a fresh store
//! loses the whole store file however often it was fsynced, and the host then
//! starts cleanly on an empty store, reporting nothing (shown by the power-cut test,
//! `tests/e2e/powercut.rs`).
//!
//! So [`crate::Store::open`] creates its folders here, then, once the engine has
//! created or opened its file (redb) or folder (sled), fsyncs every folder whose
//! entries that may have changed: the data folder (it holds the store), the data
//! folder's parent (it holds the data folder), and the parent of every folder created
//! on the way. The data folder and its parent are synced at every open, not only when
//! created, so that a store whose creation was interrupted before these syncs by an
//! earlier crash is made durable by the next start.
//!
//! Inside sled's folder, the engine itself syncs what sled creates: its folder at
//! open and whenever a durable commit finds its entries changed (`sled_engine`),
//! which covers the files sled's background threads create (blobs, snapshots) before
//! the next acknowledgement.

use std::io;
use std::path::{Path, PathBuf};

/// Creates `dir` and whichever of its parents are missing; the folders created,
/// outermost first.
pub(crate) fn create(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| !a.is_dir())
        .collect();
    let mut created = Vec::new();
    for folder in missing.into_iter().rev() {
        match std::fs::create_dir(folder) {
            Ok(()) => created.push(folder.to_owned()),
            // Made meanwhile by someone else, who syncs it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && folder.is_dir() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// Fsyncs the folders whose entries opening the store at `store` may have changed:
/// its folder, that folder's parent, and the parent of each folder in `created`.
pub(crate) fn sync_after_open(store: &Path, created: &[PathBuf]) -> io::Result<()> {
    let data = parent(store);
    let mut folders = vec![data.clone(), parent(&data)];
    folders.extend(created.iter().map(|c| parent(c)));
    folders.sort();
    folders.dedup();
    for folder in folders {
        sync(&folder).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot fsync folder {}: {e}", folder.display()),
            )
        })?;
    }
    Ok(())
}

/// The folder holding `path` (`.` for a bare name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn sync(folder: &Path) -> io::Result<()> {
    std::fs::File::open(folder)?.sync_all()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn create_reports_only_the_folders_it_made_outermost_first() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        assert_eq!(
            create(&deep).unwrap(),
            [dir.path().join("a"), dir.path().join("a/b"), deep.clone()]
        );
        assert!(deep.is_dir());
        assert_eq!(create(&deep).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn a_bare_name_lives_in_the_current_folder() {
        assert_eq!(parent(Path::new("weft.redb")), PathBuf::from("."));
        assert_eq!(parent(Path::new("data/weft.redb")), PathBuf::from("data"));
    }
}
