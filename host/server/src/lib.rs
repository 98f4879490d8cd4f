//! A whole weft host: [`run`] takes a [`HostConfig`], a listener and a shutdown
//! signal, and serves until the signal fires. `weft run` calls it; tests start a
//! host in-process with it.
//!
//! # Invariants
//!
//! - Nothing is acknowledged before it is durable: ingest answers `202`, and a
//!   webhook its connector's answer, only after the store's commit returned.
//! - A failed store commit stops the host, whoever meets it (a worker, ingest, a
//!   webhook): after a failed fsync nothing more can be acknowledged safely.
//! - Workers start only once every route exists, so a backlog's outputs are never
//!   stored for nobody.
//! - Without API tokens the host listens on loopback only; [`run`] checks it, so
//!   no caller can skip it.
//! - What runs is what the modules folder holds: a new version takes over only
//!   after it compiled, linked and started; a refused one leaves the running one.
//!
//! # Layout
//!
//! | module | what |
//! |---|---|
//! | `run` | [`run`]: the wiring, in numbered steps |
//! | `edge` | the listener: connections served with hyper, bounded against slow, idle and hostile clients |
//! | `config` | [`HostConfig`]: flags' paths and the config file, composed of the parts' own settings |
//! | `secrets` | `[secrets]`: where secret values come from |
//! | `supervisor` | the modules folder, live: settle, load, swap, roll back, remove; the board `weft status` shows |
//! | `triggers` | ingress connectors at work: timer, watched folder, webhook routes |
//! | `api` | the HTTP API (`/v1/*`, probes), one handler module per resource |
//! | `auth` | API tokens, grants and the guard in front of `/v1/*` |
//! | `subscriptions` | outside consumers' subscriptions: the registry kept on disk |
//! | `problem` | every error answer, as RFC 9457 problem details |
//! | `replies` | replies (request-reply) as HTTP answers, for the API and webhooks |
//!
//! Dependencies inside the crate point one way: `run → {api, triggers,
//! supervisor} → {edge, auth, subscriptions, replies, problem}`, `replies → problem`, `edge → problem`;
//! `problem` imports nothing of the crate, so every module can answer through it.

pub mod api;
pub mod auth;
pub mod config;
pub mod edge;
pub mod problem;
pub mod replies;
mod run;
pub mod secrets;
pub mod subscriptions;
pub mod supervisor;
pub mod triggers;

pub use config::{HostConfig, Paths};
pub use run::run;
