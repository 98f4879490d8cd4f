//! PLACEHOLDER (replaced at merge by the l-runtime branch's version).

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Default)]
pub struct Secrets(Arc<BTreeMap<String, String>>);

impl Secrets {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self(Arc::new(values))
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}
