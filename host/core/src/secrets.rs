//! Secret values by name: what the host config's `[secrets]` resolved to, and
//! what a manifest's `{ secret = "NAME" }` and an API token refer to.
//!
//! One type for the host (which resolves them) and the runtime (which hands
//! them to modules), so a value is copied nowhere between the two: clones share
//! one map. `Debug` shows the names only, so a config or manifest that holds
//! secrets can be logged whole.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Secret values by name; cheap to clone, never shown by `Debug`.
#[derive(Clone, Default)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self(Arc::new(values))
    }

    /// The value of secret `name`, if the host holds it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The names of the secrets, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
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
}
