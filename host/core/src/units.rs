//! Sizes and durations as operators write them in the host config and in
//! manifests: always with their unit (`"64MiB"`, `"250ms"`), so a bare number
//! can never be read as bytes where kilobytes were meant, or seconds where
//! milliseconds were.
//!
//! One parser for both files, so a value that works in one works in the other.
//! Sizes follow `bytesize` (`"64MiB"`, `"1.5GB"`, `"512KiB"`; a plain number
//! is bytes, as `bytesize` has it), durations `humantime` (`"5s"`, `"100ms"`,
//! `"1h 30m"`). The error says what was expected; the caller adds the field.

use std::time::Duration;

/// A value that is not the size or duration its field needs. The message
/// quotes the value and shows the expected form; prefix it with the field
/// (`limits.memory = ...`) so the operator knows which line to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    #[error("\"{value}\" is not a size like \"64MiB\"")]
    Size { value: String },
    #[error("\"{value}\" is not a duration like \"5s\" ({reason})")]
    Duration {
        value: String,
        /// What the duration parser stumbled on, e.g. "unknown time unit \"x\"".
        reason: String,
    },
}

impl UnitsError {
    /// The value as written.
    pub fn value(&self) -> &str {
        match self {
            UnitsError::Size { value } | UnitsError::Duration { value, .. } => value,
        }
    }

    /// Why a duration did not parse, for messages that word the rest themselves.
    pub fn reason(&self) -> Option<&str> {
        match self {
            UnitsError::Size { .. } => None,
            UnitsError::Duration { reason, .. } => Some(reason),
        }
    }
}

/// A size in bytes: `"64MiB"`, `"4GB"`, `"512KiB"`.
pub fn parse_size(text: &str) -> Result<u64, UnitsError> {
    text.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| UnitsError::Size {
            value: text.to_owned(),
        })
}

/// A duration: `"5s"`, `"100ms"`, `"1h 30m"`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitsError> {
    humantime::parse_duration(text).map_err(|e| UnitsError::Duration {
        value: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn sizes_and_durations_parse_with_their_units() {
        assert_eq!(parse_size("64MiB").unwrap(), 64 * 1024 * 1024);
        assert_eq!(parse_size("1KB").unwrap(), 1000);
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m 5s").unwrap(), Duration::from_secs(65));
    }

    #[test]
    fn errors_quote_the_value_and_show_the_expected_form() {
        let size = parse_size("lots").unwrap_err();
        assert_eq!(size.to_string(), r#""lots" is not a size like "64MiB""#);
        assert_eq!(size.value(), "lots");
        assert_eq!(size.reason(), None);
        let duration = parse_duration("soon").unwrap_err();
        assert_eq!(
            duration.to_string(),
            r#""soon" is not a duration like "5s" (expected number at 0)"#
        );
        assert_eq!(duration.reason(), Some("expected number at 0"));
    }
}
