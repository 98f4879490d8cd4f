//! The module's own small durable key-value store: cursors, checkpoints, tokens.
//!
//! For connectors (the `ingress` and `egress` worlds import it; a processor that
//! calls it would import `state`, which the `processor` world does not offer, and
//! the host would refuse to load it).
//!
//! Writes are part of the call that makes them: they become durable in the same
//! transaction as the call's results (a trigger's events, a batch's deliveries)
//! and are dropped when the call fails (`Err`, a trap). Reads see the call's own
//! writes. So a poller that stores its cursor beside the events of a page can
//! neither lose the page nor publish it twice.
//!
//! The host traps a call that goes past a limit: keys of at most [`MAX_KEY_BYTES`],
//! values of at most [`MAX_VALUE_BYTES`], at most 10,000 keys per module. [`set`]
//! checks the first two itself and returns a `reject` instead, so a guest can say
//! which key was too big; the key count it cannot see.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Failure;
use crate::bindings::ingress::weft::integration::state as wit;

/// The longest key the host takes, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The largest value the host takes, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The value of `key`, or `None` when it is not set.
pub fn get(key: &str) -> Option<Vec<u8>> {
    wit::get(key)
}

/// Sets `key` to `value`; a `reject` when either is over the host's limit.
pub fn set(key: &str, value: &[u8]) -> Result<(), Failure> {
    check(key, value.len())?;
    wit::set(key, value);
    Ok(())
}

/// Removes `key`; removing a key that is not set does nothing.
pub fn remove(key: &str) {
    wit::remove(key);
}

/// The value of `key` as UTF-8 text; a `reject` when it is not text.
pub fn get_string(key: &str) -> Result<Option<String>, Failure> {
    get(key)
        .map(|bytes| {
            String::from_utf8(bytes)
                .map_err(|_| Failure::reject(format!("state `{key}` is not UTF-8 text")))
        })
        .transpose()
}

/// Sets `key` to the text `value`.
pub fn set_string(key: &str, value: &str) -> Result<(), Failure> {
    set(key, value.as_bytes())
}

/// The value of `key` parsed as JSON into `T`; a `reject` naming the key when it
/// does not parse.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Failure> {
    get(key)
        .map(|bytes| {
            serde_json::from_slice(&bytes)
                .map_err(|err| Failure::reject(format!("state `{key}` is not valid: {err}")))
        })
        .transpose()
}

/// Sets `key` to `value` serialized as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Failure> {
    let bytes = serde_json::to_vec(value)
        .map_err(|err| Failure::reject(format!("cannot serialize state `{key}`: {err}")))?;
    set(key, &bytes)
}

/// The host's size limits, checked before the call that would trap.
fn check(key: &str, value_len: usize) -> Result<(), Failure> {
    if key.len() > MAX_KEY_BYTES {
        let shown: String = key.chars().take(32).collect();
        return Err(Failure::reject(format!(
            "state key `{shown}...` is {} bytes; keys are at most {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    if value_len > MAX_VALUE_BYTES {
        return Err(Failure::reject(format!(
            "state `{key}` would be {value_len} bytes; values are at most {MAX_VALUE_BYTES}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_over_the_host_limits_are_rejected_before_the_call() {
        assert!(check("cursor", MAX_VALUE_BYTES).is_ok());
        assert!(check(&"k".repeat(MAX_KEY_BYTES), 0).is_ok());
        let long_key = check(&"k".repeat(MAX_KEY_BYTES + 1), 0);
        assert!(matches!(long_key, Err(Failure::Reject(r)) if r.contains("257 bytes")));
        let big = check("cursor", MAX_VALUE_BYTES + 1);
        assert!(matches!(big, Err(Failure::Reject(r)) if r.contains("state `cursor`")));
    }
}
