//! The modules folder: `NAME.wasm` with `NAME.toml` beside it.
//!
//! Every file is checked before it is trusted: a strict name, a regular file (no
//! symlinks out of the folder, no FIFOs or devices), a size cap, and a manifest.
//! A bad module is refused with the file and the reason; the others load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::Runtime;
use crate::error::{FileError, LoadError};
use crate::manifest::{Defaults, Manifest};
use crate::module::Module;

/// Largest `.wasm` accepted (interpreted guests with their runtime are ~20 MiB).
pub const MAX_MODULE_BYTES: u64 = 128 * 1024 * 1024;
/// Largest manifest accepted.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// A module file refused, and why.
#[derive(Debug)]
pub struct Refused {
    pub file: PathBuf,
    pub reason: LoadError,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.file.display(), self.reason)
    }
}

/// Loads every module of `dir`: the good ones, and the reasons for the others.
pub fn load_dir(
    runtime: &Runtime,
    dir: &Path,
    defaults: &Defaults,
) -> (Vec<Arc<Module>>, Vec<Refused>) {
    let mut loaded = Vec::new();
    let mut refused = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            refused.push(Refused {
                file: dir.to_owned(),
                reason: LoadError::ModulesFolder(e),
            });
            return (loaded, refused);
        }
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    for path in &files {
        match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => match load_file(runtime, path, defaults) {
                Ok(m) => loaded.push(Arc::new(m)),
                Err(reason) => refused.push(Refused {
                    file: path.clone(),
                    reason,
                }),
            },
            Some("toml") if !path.with_extension("wasm").exists() => refused.push(Refused {
                file: path.clone(),
                reason: LoadError::ManifestWithoutModule,
            }),
            _ => {}
        }
    }
    (loaded, refused)
}

/// Loads one `NAME.wasm` with its `NAME.toml`.
pub fn load_file(runtime: &Runtime, wasm: &Path, defaults: &Defaults) -> Result<Module, LoadError> {
    let name = module_name(wasm)?;
    let bytes = read_regular(wasm, MAX_MODULE_BYTES).map_err(LoadError::File)?;
    let manifest_path = wasm.with_extension("toml");
    if !manifest_path.exists() {
        return Err(LoadError::NoManifest(manifest_path));
    }
    let text = match read_regular(&manifest_path, MAX_MANIFEST_BYTES) {
        Ok(text) => text,
        Err(error) => {
            return Err(LoadError::ManifestFile {
                path: manifest_path,
                error,
            });
        }
    };
    let Ok(text) = String::from_utf8(text) else {
        return Err(LoadError::ManifestNotUtf8(manifest_path));
    };
    let mut manifest = match Manifest::parse_for(&text, defaults, Some(&name)) {
        Ok(m) => m,
        Err(error) => {
            return Err(LoadError::Manifest {
                path: manifest_path,
                error,
            });
        }
    };
    if let Some(dir) = wasm.parent() {
        manifest.resolve_paths(dir);
        if let Err(error) = manifest.load_schemas(dir, &name) {
            return Err(LoadError::Manifest {
                path: manifest_path,
                error,
            });
        }
    }
    Module::load(runtime, &name, &bytes, manifest)
}

/// Module names become queue names and, later, mesh consumer names: keep them plain.
pub fn module_name(path: &Path) -> Result<String, LoadError> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or(LoadError::NameNotUtf8)?;
    match weft_core::Name::parse(stem) {
        Ok(name) => Ok(name.to_string()),
        Err(_) => Err(LoadError::Name(stem.to_owned())),
    }
}

/// Reads a file only if it is a regular file (not a symlink, FIFO or device) under `max` bytes.
pub(crate) fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, FileError> {
    let meta = std::fs::symlink_metadata(path).map_err(FileError::Unreadable)?;
    if meta.file_type().is_symlink() {
        return Err(FileError::Symlink);
    }
    if !meta.is_file() {
        return Err(FileError::NotRegular);
    }
    if meta.len() > max {
        return Err(FileError::TooBig {
            size: meta.len(),
            max,
        });
    }
    std::fs::read(path).map_err(FileError::Unreadable)
}
