//! Log lines, forwarded to the host's log tagged with the module's name.
//!
//! A guest has no stdout worth reading (the host links WASI with nothing behind
//! it), so this is the way to say something. Each call crosses into the host:
//! log per event at `debug` or `trace`, which the host can filter out cheaply.
//!
//! Built for another target than wasm32 (a guest's unit tests, run natively), the
//! lines go to stderr instead, so code that logs can be tested off the host.

use crate::bindings::weft::integration::log::Level;

#[cfg(target_arch = "wasm32")]
fn log(level: Level, message: &str) {
    crate::bindings::weft::integration::log::log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
fn log(level: Level, message: &str) {
    eprintln!("{level:?}: {message}");
}

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
