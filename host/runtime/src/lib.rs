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

pub mod bindings;
pub mod engine;
pub mod folder;
pub mod http;
pub mod inspect;
pub mod manifest;
pub mod module;

pub use engine::{Allocator, Runtime, RuntimeConfig};
pub use folder::{Refused, load_dir, load_file};
pub use inspect::{Report, World, inspect};
pub use manifest::{Defaults, Folder, Kind, Manifest, Secrets, Triggers};
pub use module::{Batch, HookReply, HookRequest, Module, Source, StateChanges, TriggerFailure};
