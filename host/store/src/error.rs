use std::path::PathBuf;

/// Why the store refused or failed an operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error(
        "the store at {path} has format version {found}, this weft reads version {expected}: \
         use the weft release that wrote it, or move the data folder aside to start empty"
    )]
    Format {
        path: PathBuf,
        found: String,
        expected: u32,
    },
    #[error(
        "the store at {path} has format version 1, which the weft host migrates to version \
         {expected} when it opens it (start `weft run` once with this data folder); this \
         program cannot read format 1's events"
    )]
    NeedsMigration { path: PathBuf, expected: u32 },
    #[error(
        "the store at {path} was written by engine `{found}`, not `{expected}`: pick the same engine in the config"
    )]
    WrongEngine {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("storage engine failed: {0}")]
    Engine(String),
    #[error("the store holds a damaged record in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("unknown queue `{0}`")]
    UnknownQueue(String),
    #[error(
        "the store has stopped after a failed commit ({0}); nothing more is acknowledged, restart the host"
    )]
    Failed(String),
    #[error("the store is shut down")]
    Closed,
}

impl Error {
    pub(crate) fn engine(e: impl std::fmt::Display) -> Self {
        Error::Engine(e.to_string())
    }
}
