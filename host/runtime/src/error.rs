//! Why a module was refused at load: [`LoadError`], whose message is what the
//! operator reads after the file's name (`orders.wasm has no manifest: ...`),
//! on the status board, in the log and from `weft test`.
//!
//! The variants follow the load, roughly in order (name, file, manifest,
//! component, world, folders, start), so a caller can branch on how far a
//! module got; the messages say what is wrong and what to do about it.

use std::io;
use std::path::PathBuf;

use weft_core::CallError;

use crate::inspect::{EXPORTS, InspectError, World};
use crate::manifest::ManifestError;

/// Why a file in the modules folder cannot be trusted or read: the checks made
/// before any byte of it is parsed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot be read: {0}")]
    Unreadable(io::Error),
    /// A link could point anywhere on the host, outside the folder's control.
    #[error("is a symbolic link: copy the file into the modules folder instead")]
    Symlink,
    /// A FIFO or a device could block the loader or never end.
    #[error("is not a regular file")]
    NotRegular,
    #[error("is {size} bytes, over the limit of {max}")]
    TooBig { size: u64, max: u64 },
}

/// Why a module was refused; see the module docs. `Display` has no subject:
/// callers put the file first.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("has a file name that is not UTF-8")]
    NameNotUtf8,
    /// Module names become queue names: see [`crate::folder::module_name`].
    #[error(
        "has an invalid module name `{0}`: use 1 to 64 letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    Name(String),
    /// The `.wasm` itself.
    #[error(transparent)]
    File(FileError),
    #[error("has no manifest: write {} beside it (subscribe, publish, limits, config)", .0.display())]
    NoManifest(PathBuf),
    /// The manifest file (not its contents).
    #[error("has a manifest that {error}")]
    ManifestFile { path: PathBuf, error: FileError },
    #[error("has a manifest {} that is not UTF-8", .0.display())]
    ManifestNotUtf8(PathBuf),
    #[error("has an invalid manifest {}:\n  {}", .path.display(), indent(.error))]
    Manifest { path: PathBuf, error: ManifestError },
    /// What the `.wasm` is: not a component, or one that cannot be linked or
    /// does not match its world. The same words as `weft check`.
    #[error(transparent)]
    Component(InspectError),
    /// A component that exports no weft world, or more than one.
    #[error(
        "is not a weft module: it exports {0:?}; a module exports one of {EXPORTS:?} (build it against a world of wit/)"
    )]
    NotWeft(Vec<String>),
    /// The manifest has fields its world does not take, or lacks ones it needs.
    #[error("has a manifest that does not fit its world ({world}):\n  {}", indent(.error))]
    World { world: World, error: ManifestError },
    /// A `[folders]` entry with `write = true` whose host folder cannot be made.
    #[error("maps folder {} that cannot be created: {error}", .host.display())]
    FolderCreate { host: PathBuf, error: io::Error },
    #[error(
        "maps folder {} to {guest}, which is not a folder on this host: create it or fix [folders]",
        .host.display()
    )]
    FolderMissing { host: PathBuf, guest: String },
    /// It trapped while starting: refused now rather than on its first event.
    #[error("fails to start: {0}")]
    Start(CallError),
    /// From [`crate::folder::load_dir`]: the folder itself.
    #[error("cannot be read as the modules folder: {0}")]
    ModulesFolder(io::Error),
    /// From [`crate::folder::load_dir`]: a `NAME.toml` with no `NAME.wasm`.
    #[error("is a manifest without its module: put the matching .wasm beside it")]
    ManifestWithoutModule,
}

/// A multi-line message under its heading, indented one step.
fn indent(e: &ManifestError) -> String {
    e.to_string().replace('\n', "\n  ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn load_errors_read_after_the_file_name() {
        let manifest = LoadError::Manifest {
            path: "mods/a.toml".into(),
            error: ManifestError::Problems(vec!["subscribe: x".into(), "publish: y".into()]),
        };
        assert_eq!(
            manifest.to_string(),
            "has an invalid manifest mods/a.toml:\n  subscribe: x\n  publish: y"
        );
        let too_big = LoadError::File(FileError::TooBig { size: 10, max: 5 });
        assert_eq!(too_big.to_string(), "is 10 bytes, over the limit of 5");
        let link = LoadError::ManifestFile {
            path: "a.toml".into(),
            error: FileError::Symlink,
        };
        assert_eq!(
            link.to_string(),
            "has a manifest that is a symbolic link: copy the file into the modules folder instead"
        );
        assert_eq!(
            LoadError::NoManifest(Path::new("mods/a.toml").into()).to_string(),
            "has no manifest: write mods/a.toml beside it (subscribe, publish, limits, config)"
        );
        assert_eq!(
            LoadError::Component(InspectError::Empty).to_string(),
            "is empty"
        );
        let world = LoadError::World {
            world: World::Egress,
            error: ManifestError::Problems(vec!["`publish` is set".into()]),
        };
        assert_eq!(
            world.to_string(),
            "has a manifest that does not fit its world (egress connector):\n  `publish` is set"
        );
        assert_eq!(
            LoadError::Start(CallError::Trap("unreachable".into())).to_string(),
            "fails to start: trapped: unreachable"
        );
    }
}
