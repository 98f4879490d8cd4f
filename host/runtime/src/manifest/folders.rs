//! `[folders]`: host folders mapped into the guest, read-only unless
//! `write = true`. Guest paths must be absolute and without `.` or `..`, so the
//! path a guest opens is the one the manifest names; relative host paths are
//! resolved against the modules folder later (`Manifest::resolve_paths`), by
//! whoever knows where that is.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// A host folder mapped into the guest at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub guest: String,
    pub host: PathBuf,
    pub write: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FolderFile {
    path: String,
    write: Option<bool>,
}

/// Reads `[folders]`, by guest path (sorted, as the table is).
pub(super) fn parse(
    files: &BTreeMap<String, FolderFile>,
    problems: &mut Vec<String>,
) -> Vec<Folder> {
    let mut folders = Vec::new();
    for (guest, f) in files {
        let valid = guest.starts_with('/')
            && guest.len() > 1
            && !guest.split('/').any(|part| part == ".." || part == ".");
        if !valid {
            problems.push(format!(
                "folders: \"{guest}\" is not a guest path: an absolute path such as \"/out\", without `.` or `..`"
            ));
        }
        if f.path.is_empty() {
            problems.push(format!(
                "folders.\"{guest}\".path is empty: name a host folder"
            ));
        }
        folders.push(Folder {
            guest: guest.clone(),
            host: PathBuf::from(&f.path),
            write: f.write.unwrap_or(false),
        });
    }
    folders
}
