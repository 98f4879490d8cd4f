//! weft end to end: the real binary, real guests built from source, real HTTP on
//! loopback. One test binary; the support library is `weft-tests` (tests/support).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod audit;
mod backpressure;
mod bad_input;
mod bad_modules;
mod catalog;
mod cli;
mod command_line;
mod connectors;
mod crash;
mod crash_harness;
mod dashboard;
mod delivery;
mod dev;
mod edge;
mod grants;
mod hostile;
mod languages;
mod limits;
mod mesh;
mod metrics;
mod module_tests;
mod pipeline;
mod powercut;
mod repair;
mod requests;
mod schemas;
mod scoped_secrets;
mod subscriptions;
mod swap;
mod tiered;
mod tls;
mod tokens;
mod traces;

const WEFT: &str = env!("CARGO_BIN_EXE_weft");
