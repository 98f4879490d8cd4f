//! The CloudEvents 1.0.2 type system as weft keeps it: which strings an attribute may
//! hold, and typed extension values.
//!
//! # Strings
//!
//! The spec's String is a sequence of Unicode characters without control characters
//! (U+0000–U+001F, U+007F–U+009F), noncharacters (U+FDD0–U+FDEF and the last two code
//! points of every plane) or surrogates. [`check_string`] holds every string attribute
//! to that, the `id` included, wherever an event comes from: HTTP ingest (structured,
//! batch, binary headers after percent-decoding) and the outputs of modules. Surrogates
//! cannot occur in a Rust `str`; a lone `\ud800` escape in JSON is refused by the JSON
//! parser, and percent-encoded surrogates are not UTF-8.
//!
//! # Typed extensions
//!
//! An extension's value keeps its CloudEvents type ([`ExtValue`]) from ingest through
//! the store and back out: a structured-mode `"count": 42` is an Integer and is written
//! out as the JSON number `42` again. The JSON format has three kinds of members that
//! carry extensions: strings (String, URI, URI-reference, Timestamp and Binary all look
//! alike there, so a JSON string reads as String), numbers (Integer: a whole number in
//! the signed 32-bit range; `1.5` or `3000000000` are no CloudEvents type and are
//! refused) and booleans (Boolean). `null`, objects and arrays are refused. The HTTP
//! binary mode carries every value as a string, so its extensions read as String.
//!
//! Guests see every extension as its canonical string ([`ExtValue::canonical`]), as the
//! spec's string encoding says (`42`, `true`, base64 for Binary). An output's extension
//! comes back as a String, except when its input has an extension of the same name
//! and another type, and the output's string is that type's canonical form
//! ([`ExtValue::like`]): a pass-through keeps `count` an Integer, while a module that
//! writes `"many"` into it makes it a String.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

/// An extension attribute's value, with its CloudEvents type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtValue {
    String(String),
    Integer(i32),
    Boolean(bool),
    /// An absolute URI (RFC 3986).
    Uri(String),
    /// A URI or relative reference.
    UriRef(String),
    /// An RFC 3339 timestamp, kept as written.
    Timestamp(String),
    Binary(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl ExtValue {
    /// The spec's canonical string encoding: what the HTTP binary mode and guests see.
    pub fn canonical(&self) -> Cow<'_, str> {
        match self {
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) | Self::Timestamp(s) => {
                Cow::Borrowed(s)
            }
            Self::Integer(n) => Cow::Owned(n.to_string()),
            Self::Boolean(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Self::Binary(bytes) => Cow::Owned(BASE64.encode(bytes)),
        }
    }

    /// `text` as a value of the same type as `self`, if `text` is that type's
    /// canonical form; else `text` as a String (see the module docs).
    pub fn like(&self, text: String) -> ExtValue {
        let typed = match self {
            Self::String(_) => None,
            Self::Integer(_) => text
                .parse::<i32>()
                .ok()
                .filter(|n| n.to_string() == text)
                .map(Self::Integer),
            Self::Boolean(_) => match text.as_str() {
                "true" => Some(Self::Boolean(true)),
                "false" => Some(Self::Boolean(false)),
                _ => None,
            },
            Self::Uri(_) => is_absolute_uri(&text).then(|| Self::Uri(text.clone())),
            Self::UriRef(_) => Some(Self::UriRef(text.clone())),
            Self::Timestamp(_) => chrono::DateTime::parse_from_rfc3339(&text)
                .is_ok()
                .then(|| Self::Timestamp(text.clone())),
            Self::Binary(_) => BASE64
                .decode(&text)
                .ok()
                .filter(|b| BASE64.encode(b) == text)
                .map(Self::Binary),
        };
        typed.unwrap_or(Self::String(text))
    }

    /// The string this value holds, when its type is a kind of string (not Integer,
    /// Boolean or Binary): what [`check_string`] applies to.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::String(s) | Self::Uri(s) | Self::UriRef(s) | Self::Timestamp(s) => Some(s),
            Self::Integer(_) | Self::Boolean(_) | Self::Binary(_) => None,
        }
    }
}

impl From<&str> for ExtValue {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for ExtValue {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

/// Why a string is not a CloudEvents String: the first character it may not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadChar {
    pub ch: char,
    /// Its position in characters.
    pub at: usize,
}

impl std::fmt::Display for BadChar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if is_control(self.ch) {
            "a control character"
        } else {
            "a Unicode noncharacter"
        };
        write!(
            f,
            "holds {what} (U+{:04X}) at character {}; CloudEvents strings may hold neither",
            self.ch as u32, self.at
        )
    }
}

/// Checks that `s` is a CloudEvents String (see the module docs).
pub fn check_string(s: &str) -> Result<(), BadChar> {
    match s
        .chars()
        .enumerate()
        .find(|(_, c)| is_control(*c) || is_noncharacter(*c))
    {
        None => Ok(()),
        Some((at, ch)) => Err(BadChar { ch, at }),
    }
}

fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

fn is_noncharacter(c: char) -> bool {
    let n = c as u32;
    (0xFDD0..=0xFDEF).contains(&n) || n & 0xFFFE == 0xFFFE
}

/// RFC 3986 `scheme ":" ...`, without whitespace or control characters.
pub fn is_absolute_uri(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn control_characters_and_noncharacters_are_not_strings() {
        assert!(check_string("café ✓ 𝄞").is_ok());
        for bad in [
            "a\nb", "\u{0}", "\u{7f}", "\u{85}", "\u{9f}", "\u{fdd0}", "\u{fffe}",
        ] {
            assert!(check_string(bad).is_err(), "{bad:?}");
        }
        assert!(check_string("x\u{10ffff}").is_err());
        assert!(check_string("\u{1fffe}").is_err());
        assert_eq!(check_string("ab\tc").unwrap_err().at, 2);
        assert!(
            check_string("\u{a0}").is_ok(),
            "no-break space is a character"
        );
    }

    #[test]
    fn a_string_keeps_its_inputs_type_only_in_that_types_canonical_form() {
        let int = ExtValue::Integer(7);
        assert_eq!(int.like("42".into()), ExtValue::Integer(42));
        assert_eq!(int.like("042".into()), ExtValue::String("042".into()));
        assert_eq!(int.like("many".into()), ExtValue::String("many".into()));
        assert_eq!(
            int.like("3000000000".into()),
            ExtValue::String("3000000000".into())
        );
        let flag = ExtValue::Boolean(true);
        assert_eq!(flag.like("false".into()), ExtValue::Boolean(false));
        assert_eq!(flag.like("False".into()), ExtValue::String("False".into()));
        let bin = ExtValue::Binary(vec![0, 255]);
        assert_eq!(bin.canonical(), "AP8=");
        assert_eq!(bin.like("AP8=".into()), bin);
        let at = ExtValue::Timestamp("2024-05-01T12:00:00Z".into());
        assert_eq!(
            at.like("yesterday".into()),
            ExtValue::String("yesterday".into())
        );
        assert_eq!(
            ExtValue::Uri("a:b".into()).like("/rel".into()),
            ExtValue::String("/rel".into())
        );
    }
}
