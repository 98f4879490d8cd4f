//! weft's component runtime: one wasmtime engine for every module, the compile
//! cache, module loading from the modules folder, and the [`weft_core::Handler`]
//! that calls a processor within its limits.
//!
//! Every guest call is bounded: epoch interruption enforces a time budget per call
//! (a ticker thread advances the epoch every [`engine::EPOCH_TICK`]), a store
//! limiter enforces the manifest's memory limit (a failed growth traps), the engine
//! a stack limit, [`bindings`] caps what a guest can make the host hold (host
//! resources, copies, log lines), and the WASI context grants nothing: no folders,
//! no environment, no network. A trap fails that call only; the instance is
//! dropped and a fresh one serves the next.
//!
//! Loading is "link once, instantiate cheaply": each module version is compiled
//! (or loaded from the cache), type-checked against its world and linked into a
//! `ProcessorPre` once; a worker keeps one instance across batches.
//!
//! Invariants the modules below keep together:
//!
//! - A guest reaches only what its manifest grants: its topics, the `[http]`
//!   origins (checked per request, [`http`]) and the `[folders]` it maps.
//! - A refused module is refused whole, with a reason that names the file and
//!   what to do ([`LoadError`]); the other modules load regardless.
//! - Compiled code is loaded only from the host's own cache, keyed by content
//!   and engine ([`engine`]), and only when its checksum matches (a torn entry is
//!   compiled again); nothing in the modules folder runs as machine code.
//! - A call's `state` writes are committed with its results or not at all.
//!
//! Layout, roughly in the order a module meets it:
//!
//! | module                   | role                                                               |
//! |--------------------------|--------------------------------------------------------------------|
//! | [`folder`]               | the modules folder: names, file checks, `NAME.wasm` + `NAME.toml`  |
//! | [`manifest`]             | `NAME.toml` parsed table by table (`manifest/`); `check_world`     |
//! | [`inspect`](mod@inspect) | what a `.wasm` is: header, world, linking (`weft check` too)       |
//! | [`module`]               | a loaded version: link once, instantiate, call, recycle            |
//! | [`schema`]               | `[schemas]` files: read, compiled once, outputs checked            |
//! | [`error`]                | [`LoadError`]: why a module was refused, in load order             |
//! | [`engine`]               | the shared engine, epoch ticker, instance pool, compile cache      |
//! | `cache_file`             | a compile cache entry: the compiled code and its checksum          |
//! | [`bindings`]             | the WIT contract, the host's imports, per-instance limits          |
//! | [`http`]                 | outbound HTTP: the grant and the sender that enforces it (`http/`) |

pub mod bindings;
mod cache_file;
pub mod engine;
pub mod error;
pub mod folder;
pub mod http;
pub mod inspect;
pub mod manifest;
pub mod module;
pub mod schema;

pub use bindings::InstanceError;
pub use engine::{Allocator, Runtime, RuntimeConfig, Tier};
pub use error::{FileError, LoadError};
pub use folder::{Refused, load_dir, load_file};
pub use http::HttpGrantError;
pub use inspect::{InspectError, Report, World, inspect};
pub use manifest::{Defaults, Folder, Kind, Manifest, ManifestError, Secrets, Triggers};
pub use module::{Batch, HookReply, HookRequest, Module, Source, StateChanges, TriggerFailure};
