//! Topics and NATS subjects, one-to-one.
//!
//! A weft topic is `/`-separated levels of ASCII letters, digits, `-` and `_`;
//! a NATS subject is `.`-separated tokens. Every level is a valid token, so
//! `orders/eu/created` under the prefix `weft` is `weft.orders.eu.created`, and
//! the patterns' wildcards are NATS's own: `*` one level (token), `>` one or more
//! trailing ones. The mapping is therefore a bijection between weft patterns and
//! the subjects under the prefix whose tokens use weft's characters; a subject
//! outside it (another prefix, a token with other characters) has no topic and
//! is refused with the reason, never guessed at.

use std::fmt;

use weft_core::{Pattern, Topic, TopicError};

/// The subject prefix: one or more tokens of letters, digits, `-` and `_`
/// (`weft`, `acme.weft`), so that several meshes can share one NATS account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix(String);

/// Why a prefix or subject has no weft meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error(
        "mesh prefix `{0}` is not a NATS subject prefix weft can use: one or more `.`-separated tokens of letters, digits, `-` and `_` (e.g. \"weft\" or \"acme.weft\")"
    )]
    Prefix(String),
    #[error("subject `{subject}` is not under the mesh prefix `{prefix}`")]
    OutsidePrefix { subject: String, prefix: String },
    #[error("subject `{subject}` has no weft topic: {reason}")]
    NoTopic { subject: String, reason: TopicError },
}

fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Prefix {
    pub fn parse(s: &str) -> Result<Self, SubjectError> {
        if s.split('.').all(is_token) {
            Ok(Self(s.to_owned()))
        } else {
            Err(SubjectError::Prefix(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject of `topic`: `PREFIX.level.level`.
    pub fn subject(&self, topic: &Topic) -> String {
        self.join(topic.as_str())
    }

    /// The subject filter of `pattern`, wildcards kept: `orders/*/created` is
    /// `PREFIX.orders.*.created`, `orders/>` is `PREFIX.orders.>`.
    pub fn filter(&self, pattern: &Pattern) -> String {
        self.join(pattern.as_str())
    }

    /// Every subject of the mesh: what a stream holding it captures.
    pub fn all(&self) -> String {
        format!("{}.>", self.0)
    }

    fn join(&self, slashed: &str) -> String {
        let mut s = String::with_capacity(self.0.len() + 1 + slashed.len());
        s.push_str(&self.0);
        s.push('.');
        for c in slashed.chars() {
            s.push(if c == '/' { '.' } else { c });
        }
        s
    }

    /// The topic of a subject under this prefix; a subject that is not one of
    /// the mesh's (another prefix, a wildcard, a token weft cannot name) is refused.
    pub fn topic(&self, subject: &str) -> Result<Topic, SubjectError> {
        let rest = subject
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(|| SubjectError::OutsidePrefix {
                subject: subject.to_owned(),
                prefix: self.0.clone(),
            })?;
        // A `/` inside a token would become a level: it is no weft character anyway.
        let slashed: String = rest
            .chars()
            .map(|c| match c {
                '.' => '/',
                '/' => '\u{0}',
                c => c,
            })
            .collect();
        Topic::parse(&slashed).map_err(|reason| SubjectError::NoTopic {
            subject: subject.to_owned(),
            reason,
        })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a NATS subject filter matches a subject, by NATS's rules: `*` one
/// token, `>` one or more trailing tokens. The mesh's tests compare it with weft's
/// own pattern matching, so that what a NATS consumer filters is exactly what the
/// weft pattern means.
pub fn nats_matches(filter: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for f in filter.split('.') {
        match (f, s.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (f, Some(t)) if f == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use proptest::prelude::*;

    use super::*;

    fn level() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_-]{1,8}"
    }

    fn topic() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..6).prop_map(|l| l.join("/"))
    }

    fn pattern() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(prop_oneof![3 => level(), 1 => Just("*".to_owned())], 0..5),
            prop_oneof![level(), Just("*".to_owned()), Just(">".to_owned())],
        )
            .prop_map(|(mut l, last)| {
                l.push(last);
                l.join("/")
            })
    }

    fn prefix() -> impl Strategy<Value = Prefix> {
        prop::collection::vec(level(), 1..3).prop_map(|t| Prefix::parse(&t.join(".")).unwrap())
    }

    proptest! {
        #[test]
        fn every_topic_maps_to_a_subject_and_back(p in prefix(), t in topic()) {
            let t = Topic::parse(&t).unwrap();
            let subject = p.subject(&t);
            prop_assert!(subject.split('.').all(is_token), "{subject}");
            prop_assert_eq!(p.topic(&subject).unwrap(), t);
        }

        #[test]
        fn a_pattern_filters_in_nats_exactly_what_it_matches_in_weft(
            p in prefix(), pat in pattern(), t in topic()
        ) {
            let pat = Pattern::parse(&pat).unwrap();
            let t = Topic::parse(&t).unwrap();
            prop_assert_eq!(
                nats_matches(&p.filter(&pat), &p.subject(&t)),
                pat.matches(&t),
                "{} vs {}", pat, t
            );
        }

        #[test]
        fn distinct_topics_have_distinct_subjects(p in prefix(), a in topic(), b in topic()) {
            let (a, b) = (Topic::parse(&a).unwrap(), Topic::parse(&b).unwrap());
            prop_assert_eq!(a == b, p.subject(&a) == p.subject(&b));
        }
    }

    #[test]
    fn subjects_outside_the_mesh_are_refused_with_the_reason() {
        let p = Prefix::parse("weft").unwrap();
        assert_eq!(p.topic("weft.orders.eu").unwrap().as_str(), "orders/eu");
        let outside = p.topic("other.orders").unwrap_err().to_string();
        assert!(
            outside.contains("not under the mesh prefix `weft`"),
            "{outside}"
        );
        assert!(p.topic("weftx.orders").is_err(), "a prefix is whole tokens");
        assert!(p.topic("weft").is_err(), "the prefix alone is no topic");
        for bad in [
            "weft.a..b",
            "weft.a.*",
            "weft.a.>",
            "weft.a.b c",
            "weft.ä",
            "weft.a/b",
        ] {
            let e = p.topic(bad).unwrap_err().to_string();
            assert!(e.contains("has no weft topic"), "{bad}: {e}");
        }
        assert_eq!(
            p.filter(&Pattern::parse("orders/*/x").unwrap()),
            "weft.orders.*.x"
        );
        assert_eq!(p.all(), "weft.>");
    }

    #[test]
    fn a_prefix_is_tokens_of_weft_characters() {
        for good in ["weft", "acme.weft", "a-b_c.d9"] {
            assert!(Prefix::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "", ".weft", "weft.", "a..b", "we ft", "weft.*", "weft.>", "wé",
        ] {
            let e = Prefix::parse(bad).unwrap_err().to_string();
            assert!(e.contains("mesh prefix"), "{bad}: {e}");
        }
    }
}
