//! Secret values by name: what the host config's `[secrets]` resolved to, and
//! what a manifest's `{ secret = "NAME" }` and an API token refer to.
//!
//! One type for the host (which resolves them) and the runtime (which hands
//! them to modules), so a value is copied nowhere between the two: clones share
//! one map. `Debug` shows the names only, so a config or manifest that holds
//! secrets can be logged whole.
//!
//! Each secret has a [`Scope`]: which modules may read it. A secret that backs
//! an API token is readable by none, so that no module (whoever wrote it) can
//! hold a credential of the host's own API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Which modules may read a secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every module (`[secrets.NAME]` without `modules`).
    #[default]
    Any,
    /// Only these modules (`modules = [...]`).
    Modules(BTreeSet<String>),
    /// None: the secret is API token `NAME`'s value.
    ApiToken(String),
}

/// Secret values by name; cheap to clone, never shown by `Debug`.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Arc<BTreeMap<String, String>>,
    scopes: Arc<BTreeMap<String, Scope>>,
}

impl Secrets {
    /// Secrets every module may read.
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self {
            values: Arc::new(values),
            scopes: Arc::default(),
        }
    }

    /// The same secrets with these scopes (a name left out: [`Scope::Any`]).
    pub fn with_scopes(mut self, scopes: BTreeMap<String, Scope>) -> Self {
        self.scopes = Arc::new(scopes);
        self
    }

    /// The value of secret `name`, if the host holds it (for the host itself:
    /// tokens, the mesh; modules go through [`Secrets::for_module`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn scope(&self, name: &str) -> &Scope {
        static ANY: Scope = Scope::Any;
        self.scopes.get(name).unwrap_or(&ANY)
    }

    /// The value of `name` for module `module`, or why it may not have it
    /// (`None`: the host does not hold the secret).
    pub fn for_module(&self, module: &str, name: &str) -> Option<Result<&str, String>> {
        let value = self.get(name)?;
        Some(match self.scope(name) {
            Scope::Any => Ok(value),
            Scope::Modules(m) if m.contains(module) => Ok(value),
            Scope::Modules(m) => Err(format!(
                "secret `{name}` is for modules {} only (host config [secrets.{name}] modules): module `{module}` may not read it; add `{module}` there if it should",
                m.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Scope::ApiToken(token) => Err(format!(
                "secret `{name}` is the value of API token `{token}`, which no module may read: give the module a secret of its own"
            )),
        })
    }

    /// The names of the secrets, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn values_are_found_by_name_and_never_shown() {
        let s = Secrets::new(BTreeMap::from([
            ("B".to_owned(), "hunter2".to_owned()),
            ("A".to_owned(), "s3cr3t".to_owned()),
        ]));
        assert_eq!(s.get("A"), Some("s3cr3t"));
        assert_eq!(s.get("C"), None);
        assert_eq!(s.names().collect::<Vec<_>>(), ["A", "B"]);
        let shown = format!("{:?}", s.clone());
        assert_eq!(shown, r#"Secrets { names: ["A", "B"], .. }"#);
    }

    #[test]
    fn a_scoped_secret_is_for_its_modules_and_a_tokens_for_none() {
        let s = Secrets::new(BTreeMap::from([
            ("A".to_owned(), "a".to_owned()),
            ("S".to_owned(), "s".to_owned()),
            ("T".to_owned(), "t".to_owned()),
        ]))
        .with_scopes(BTreeMap::from([
            (
                "S".to_owned(),
                Scope::Modules(BTreeSet::from(["deliver".to_owned()])),
            ),
            ("T".to_owned(), Scope::ApiToken("ops".to_owned())),
        ]));
        assert_eq!(s.for_module("any", "A"), Some(Ok("a")));
        assert_eq!(s.for_module("deliver", "S"), Some(Ok("s")));
        let e = s.for_module("other", "S").unwrap().unwrap_err();
        assert!(
            e.contains("for modules `deliver` only") && e.contains("module `other`"),
            "{e}"
        );
        let e = s.for_module("deliver", "T").unwrap().unwrap_err();
        assert!(e.contains("API token `ops`"), "{e}");
        assert_eq!(s.for_module("x", "NOPE"), None);
        assert_eq!(s.get("T"), Some("t"), "the host itself reads it");
    }
}
