//! The fuzz targets, one test each; see the harness (`weft_fuzz`) for what every
//! target asserts and tests/README.md for the long run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod admission;
mod cloudevents;
mod config;
mod manifest;
mod topics;

#[global_allocator]
static COUNTING: weft_fuzz::Counting = weft_fuzz::Counting;
