//! Names of modules, subscriptions and tokens, and the queue each owner reads.
//!
//! One rule for every name a user picks, so that a name that works in one place
//! works in all of them: in a URL path segment, a file name, a log field and,
//! later, a NATS subject token, none of which need escaping for these characters.
//!
//! The store knows queues only by a string. Modules and outside subscriptions
//! share that namespace, told apart by a prefix; [`queue_of_module`],
//! [`queue_of_subscription`] and [`QueueOwner::parse`] are the only places that
//! know the spelling, so it cannot drift between writers and readers. The
//! spelling is on disk in every store: it must never change.

use std::fmt;
use std::str::FromStr;

/// Longest name accepted, in bytes (all characters are ASCII).
pub const MAX_NAME_LEN: usize = 64;

/// The rule, in words, for error messages and docs.
pub const NAME_RULE: &str =
    "1 to 64 ASCII letters, digits, `-` and `_`, starting with a letter or digit";

/// What tells a subscription's queue from a module's: module queues carry the bare
/// module name, which cannot contain `/`, so the two never collide.
const SUBSCRIPTION_PREFIX: &str = "subscription/";
/// What tells a mesh export's outbox from the others.
const EXPORT_PREFIX: &str = "export/";

/// A valid module, subscription or token name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(String);

/// Why a text is not a [`Name`]; the message states the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid name ({problem}): a name is {NAME_RULE}")]
pub struct NameError {
    pub text: String,
    pub problem: NameProblem,
}

/// Which part of the rule a text breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("it is empty")]
    Empty,
    #[error("it is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("it starts with `{0}`")]
    BadStart(char),
    #[error("it contains `{0}`")]
    BadChar(char),
}

impl Name {
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let problem = if text.is_empty() {
            Some(NameProblem::Empty)
        } else if text.len() > MAX_NAME_LEN {
            Some(NameProblem::TooLong)
        } else if let Some(c) = text.chars().next().filter(|c| !c.is_ascii_alphanumeric()) {
            Some(NameProblem::BadStart(c))
        } else {
            text.chars()
                .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
                .map(NameProblem::BadChar)
        };
        match problem {
            None => Ok(Self(text.to_owned())),
            Some(problem) => Err(NameError {
                text: text.to_owned(),
                problem,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Checked on the way in, so a name read from a file is as valid as one typed.
impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The queue a module's worker reads: the bare module name.
pub fn queue_of_module(module: &Name) -> String {
    module.0.clone()
}

/// The queue an outside consumer's subscription collects into.
pub fn queue_of_subscription(subscription: &Name) -> String {
    format!("{SUBSCRIPTION_PREFIX}{subscription}")
}

/// The outbox of mesh export `export`: what waits to be published to NATS.
pub fn queue_of_export(export: &Name) -> String {
    format!("{EXPORT_PREFIX}{export}")
}

/// Whose queue a stored queue name is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueOwner {
    Module(Name),
    Subscription(Name),
    /// A mesh export's outbox.
    Export(Name),
}

impl QueueOwner {
    /// The owner of the queue named `queue`; an error when the name is neither
    /// spelling (a store written by something else, or damaged).
    pub fn parse(queue: &str) -> Result<Self, NameError> {
        if let Some(name) = queue.strip_prefix(SUBSCRIPTION_PREFIX) {
            return Name::parse(name).map(Self::Subscription);
        }
        if let Some(name) = queue.strip_prefix(EXPORT_PREFIX) {
            return Name::parse(name).map(Self::Export);
        }
        Name::parse(queue).map(Self::Module)
    }

    /// The name of the owner's queue: `QueueOwner::parse(&owner.queue()) == Ok(owner)`.
    pub fn queue(&self) -> String {
        match self {
            Self::Module(name) => queue_of_module(name),
            Self::Subscription(name) => queue_of_subscription(name),
            Self::Export(name) => queue_of_export(name),
        }
    }

    pub fn name(&self) -> &Name {
        match self {
            Self::Module(name) | Self::Subscription(name) | Self::Export(name) => name,
        }
    }
}

impl fmt::Display for QueueOwner {
    /// As messages name it: ``module `orders` `` or ``subscription `audit` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Module(name) => write!(f, "module `{name}`"),
            Self::Subscription(name) => write!(f, "subscription `{name}`"),
            Self::Export(name) => write!(f, "mesh export `{name}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn names_follow_one_rule() {
        for ok in ["a", "A1", "9lives", "orders-eu_2", &"x".repeat(64)] {
            assert_eq!(Name::parse(ok).unwrap().as_str(), ok);
            assert_eq!(ok.parse::<Name>().unwrap().to_string(), ok);
        }
        let problem = |s: &str| Name::parse(s).unwrap_err().problem;
        assert_eq!(problem(""), NameProblem::Empty);
        assert_eq!(problem(&"x".repeat(65)), NameProblem::TooLong);
        assert_eq!(problem("-a"), NameProblem::BadStart('-'));
        assert_eq!(problem("_a"), NameProblem::BadStart('_'));
        assert_eq!(problem("a b"), NameProblem::BadChar(' '));
        assert_eq!(problem("a/b"), NameProblem::BadChar('/'));
        assert_eq!(problem("é"), NameProblem::BadStart('é'));
        let message = Name::parse("a b").unwrap_err().to_string();
        assert!(
            message.contains("`a b`") && message.contains(NAME_RULE),
            "{message}"
        );
    }

    #[test]
    fn queue_names_are_spelled_as_stores_already_hold_them() {
        let n = Name::parse("audit").unwrap();
        assert_eq!(queue_of_module(&n), "audit");
        assert_eq!(queue_of_subscription(&n), "subscription/audit");
    }

    #[test]
    fn a_queue_name_tells_its_owner() {
        let n = Name::parse("audit").unwrap();
        assert_eq!(
            QueueOwner::parse("subscription/audit"),
            Ok(QueueOwner::Subscription(n.clone()))
        );
        assert_eq!(
            QueueOwner::parse("audit"),
            Ok(QueueOwner::Module(n.clone()))
        );
        assert_eq!(
            QueueOwner::parse("export/audit"),
            Ok(QueueOwner::Export(n.clone()))
        );
        for owner in [
            QueueOwner::Module(n.clone()),
            QueueOwner::Subscription(n.clone()),
            QueueOwner::Export(n),
        ] {
            assert_eq!(QueueOwner::parse(&owner.queue()), Ok(owner));
        }
        assert!(QueueOwner::parse("subscription/").is_err());
        assert!(QueueOwner::parse("subscription/a/b").is_err());
        assert!(QueueOwner::parse("").is_err());
    }
}
