//! Topics and subscription patterns.
//!
//! A topic is `/`-separated levels of ASCII letters, digits, `-` and `_`, at most
//! [`MAX_TOPIC_LEN`] bytes: `orders/eu/created`. The character set is chosen so that
//! each level maps one-to-one onto a NATS subject token when hosts join a mesh.
//! Patterns add two wildcards, NATS-style: `*` matches exactly one level and `>`
//! (last level only) matches one or more trailing levels.

use std::fmt;

/// Longest topic or pattern accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 255;

/// Why a topic or pattern was refused; the message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("topic is empty")]
    Empty,
    #[error("topic `{0}` is longer than {MAX_TOPIC_LEN} bytes")]
    TooLong(String),
    #[error("topic `{0}` has an empty level (leading, trailing or double `/`)")]
    EmptyLevel(String),
    #[error(
        "topic `{topic}` has `{ch}` in level `{level}`: levels hold only letters, digits, `-` and `_`"
    )]
    BadChar {
        topic: String,
        level: String,
        ch: char,
    },
    #[error(
        "topic `{0}` contains a wildcard: `*` and `>` are for subscriptions, not for publishing"
    )]
    Wildcard(String),
    #[error("pattern `{0}` has `>` before its last level: `>` only stands for the trailing levels")]
    InnerTail(String),
}

/// A concrete topic an event is published to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    pub fn parse(s: &str) -> Result<Self, TopicError> {
        check(s, false)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn levels(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A subscription or grant pattern, possibly with `*` and a trailing `>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    levels: Vec<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Level {
    Exact(String),
    One,
    Tail,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Self, TopicError> {
        check(s, true)?;
        let levels = s
            .split('/')
            .map(|l| match l {
                "*" => Level::One,
                ">" => Level::Tail,
                other => Level::Exact(other.to_owned()),
            })
            .collect();
        Ok(Self {
            text: s.to_owned(),
            levels,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn matches(&self, topic: &Topic) -> bool {
        let mut levels = topic.levels();
        for want in &self.levels {
            match (want, levels.next()) {
                (Level::Tail, Some(_)) => return true,
                (Level::One, Some(_)) => {}
                (Level::Exact(w), Some(got)) if w == got => {}
                _ => return false,
            }
        }
        levels.next().is_none()
    }

    /// Does `self` match every topic that `pattern` can match?
    ///
    /// Level by level: an exact level is covered by the same level or `*`; `*` by `*`;
    /// `>` (one or more trailing levels) covers whatever remains of the pattern as long
    /// as something does, and is covered only by `>`. So `orders/>` covers `orders/eu/*`
    /// and `orders/>`, but not `orders2/x`, `orders` (no level after it), `*/x` or `>`.
    pub fn covers(&self, pattern: &Pattern) -> bool {
        let mut want = pattern.levels.iter();
        for g in &self.levels {
            let Some(p) = want.next() else {
                // The pattern ends here, so it matches topics shorter than `self`'s.
                return false;
            };
            match (g, p) {
                (Level::Tail, _) => return true,
                (_, Level::Tail) => return false,
                (Level::One, _) => {}
                (Level::Exact(g), Level::Exact(p)) if g == p => {}
                _ => return false,
            }
        }
        want.next().is_none()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Any of several patterns; an empty set matches nothing (nothing is granted by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Patterns(Vec<Pattern>);

impl Patterns {
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self(patterns)
    }

    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, TopicError> {
        items
            .iter()
            .map(|s| Pattern::parse(s.as_ref()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn matches(&self, topic: &Topic) -> bool {
        self.0.iter().any(|p| p.matches(topic))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pattern> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Does one of these patterns match every topic `pattern` can match?
    pub fn covers(&self, pattern: &Pattern) -> bool {
        self.0.iter().any(|p| p.covers(pattern))
    }
}

fn check(s: &str, wildcards: bool) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong(format!("{}…", truncate(s, 40))));
    }
    let count = s.split('/').count();
    for (i, level) in s.split('/').enumerate() {
        if level.is_empty() {
            return Err(TopicError::EmptyLevel(s.to_owned()));
        }
        if level == "*" || level == ">" {
            if !wildcards {
                return Err(TopicError::Wildcard(s.to_owned()));
            }
            if level == ">" && i + 1 != count {
                return Err(TopicError::InnerTail(s.to_owned()));
            }
            continue;
        }
        if let Some(ch) = level
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            if (ch == '*' || ch == '>') && !wildcards {
                return Err(TopicError::Wildcard(s.to_owned()));
            }
            return Err(TopicError::BadChar {
                topic: s.to_owned(),
                level: level.to_owned(),
                ch,
            });
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Pattern::parse(p)
            .unwrap()
            .matches(&Topic::parse(t).unwrap())
    }

    #[test]
    fn wildcards_match_as_documented() {
        assert!(m("orders/created", "orders/created"));
        assert!(!m("orders/created", "orders/created/x"));
        assert!(m("orders/*/created", "orders/eu/created"));
        assert!(!m("orders/*/created", "orders/created"));
        assert!(!m("orders/*/created", "orders/eu/west/created"));
        assert!(m("orders/>", "orders/eu"));
        assert!(m("orders/>", "orders/eu/created"));
        assert!(!m("orders/>", "orders"), "`>` needs at least one level");
        assert!(m(">", "anything/at/all"));
        assert!(m("*/x/>", "a/x/b/c"));
        assert!(!m("*/x/>", "a/y/b"));
    }

    #[test]
    fn invalid_topics_are_refused_with_their_reason() {
        assert_eq!(Topic::parse(""), Err(TopicError::Empty));
        assert!(matches!(
            Topic::parse("a//b"),
            Err(TopicError::EmptyLevel(_))
        ));
        assert!(matches!(Topic::parse("/a"), Err(TopicError::EmptyLevel(_))));
        assert!(matches!(Topic::parse("a/"), Err(TopicError::EmptyLevel(_))));
        assert!(matches!(
            Topic::parse("a.b"),
            Err(TopicError::BadChar { ch: '.', .. })
        ));
        assert!(matches!(
            Topic::parse("a b"),
            Err(TopicError::BadChar { ch: ' ', .. })
        ));
        assert!(matches!(
            Topic::parse("caf\u{e9}"),
            Err(TopicError::BadChar { .. })
        ));
        assert!(matches!(Topic::parse("a/*"), Err(TopicError::Wildcard(_))));
        assert!(matches!(Topic::parse("a/>"), Err(TopicError::Wildcard(_))));
        assert!(matches!(Topic::parse("a/b*"), Err(TopicError::Wildcard(_))));
        assert!(matches!(
            Pattern::parse("a/>/b"),
            Err(TopicError::InnerTail(_))
        ));
        assert!(matches!(
            Pattern::parse("a/b*"),
            Err(TopicError::BadChar { .. })
        ));
        let long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert!(matches!(Topic::parse(&long), Err(TopicError::TooLong(_))));
        assert!(Topic::parse(&"a".repeat(MAX_TOPIC_LEN)).is_ok());
        assert!(Topic::parse("Orders-1/eu_west/created").is_ok());
    }

    #[test]
    fn an_empty_grant_matches_nothing() {
        let t = Topic::parse("a").unwrap();
        assert!(!Patterns::default().matches(&t));
        assert!(Patterns::parse(&["b", "a"]).unwrap().matches(&t));
    }
}
