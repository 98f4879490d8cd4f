//! The `weft` binary's library: the command line, the host config, the HTTP API and
//! the wiring of a whole host ([`host::run`]), which takes its listener and its
//! shutdown signal as arguments so tests can start a host in-process.

pub mod api;
pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod connectors;
pub mod errors_cmd;
pub mod hooks;
pub mod host;
pub mod offline;
pub mod repair_api;
pub mod scaffold;
pub mod secrets;
pub mod subscriptions;
pub mod supervisor;

pub use host::{Paths, run};
