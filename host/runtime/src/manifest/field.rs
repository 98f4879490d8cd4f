//! One field's value read with its unit, the problem worded for the manifest:
//! the field, the value as written, and an example to copy. Shared by the
//! tables that have sizes and durations, so they all say it the same way.

use std::time::Duration;

use weft_core::units;

/// A duration field: `default` if absent or wrong (the problem is pushed, so
/// parsing carries on and reports the rest).
pub(super) fn duration(
    value: Option<&str>,
    field: &str,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    match value {
        None => default,
        Some(s) => units::parse_duration(s).unwrap_or_else(|e| {
            let why = e.reason().unwrap_or_default();
            problems.push(format!(
                "{field} = \"{s}\" is not a duration ({why}): write it with its unit, e.g. \"100ms\" or \"5s\""
            ));
            default
        }),
    }
}

/// A size field, in bytes; `None` (and a problem naming `example`) if wrong.
pub(super) fn size(
    value: &str,
    field: &str,
    example: &str,
    problems: &mut Vec<String>,
) -> Option<u64> {
    match units::parse_size(value) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            problems.push(format!(
                "{field} = \"{value}\" is not a size: write it with its unit, e.g. \"{example}\""
            ));
            None
        }
    }
}
