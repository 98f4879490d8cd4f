//! The module's settings: the `[config]` table of its manifest.
//!
//! Values arrive as strings: TOML strings as they are, other scalars in their TOML
//! form (`42`, `true`), arrays and tables as JSON text. [`get`] returns the raw
//! string; [`get_json`] parses the JSON (or scalar) form into a Rust type.
//!
//! Errors are `reject`s naming the key: a bad setting will not fix itself on
//! redelivery, and the error queue then shows the operator what to fix. The
//! configuration is fixed for the life of an instance (a changed manifest loads a
//! new version), so a processor may parse it once and keep it in a `OnceLock`.

use serde::de::DeserializeOwned;

use crate::Failure;
use crate::bindings::weft::integration::config as wit;

/// The raw value of `key`, or `None` when the manifest does not set it.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of `key`, or a `reject` saying that the manifest must set it.
pub fn require(key: &str) -> Result<String, Failure> {
    get(key).ok_or_else(|| Failure::reject(format!("config `{key}` is not set")))
}

/// The value of `key` parsed as JSON into `T`, or `None` when it is not set.
///
/// Tables and arrays arrive as JSON; scalars in TOML form, which is also JSON for
/// numbers and booleans. A TOML string is not quoted, so for `T = String` use
/// [`get`] instead.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Failure> {
    get(key)
        .map(|raw| {
            serde_json::from_str(&raw)
                .map_err(|err| Failure::reject(format!("config `{key}` is not valid: {err}")))
        })
        .transpose()
}

/// Every setting as (key, raw value) pairs.
pub fn entries() -> Vec<(String, String)> {
    wit::entries()
}
