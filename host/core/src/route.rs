//! Which subscriptions an event on a topic goes to.
//!
//! A linear scan over the subscriptions' patterns: hosts run tens of modules, where
//! a scan over a few patterns each costs less than maintaining a trie. Replace it
//! when a host routes to thousands of subscriptions.

use std::sync::{Arc, RwLock};

use weft_store::QueueId;

use crate::quota::Quota;
use crate::{Patterns, Topic};

#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub patterns: Patterns,
    pub queue: QueueId,
    pub quota: Quota,
}

/// The routing table, replaced whole when subscriptions change so that publishers
/// never wait on an update.
#[derive(Default)]
pub struct Routes {
    table: RwLock<Arc<Vec<Route>>>,
}

impl Routes {
    pub fn queues_for(&self, topic: &Topic) -> Vec<QueueId> {
        self.snapshot()
            .iter()
            .filter(|r| r.patterns.matches(topic))
            .map(|r| r.queue)
            .collect()
    }

    pub fn snapshot(&self) -> Arc<Vec<Route>> {
        self.table.read().map(|t| t.clone()).unwrap_or_default()
    }

    /// Adds or replaces the route named `route.name`.
    pub fn upsert(&self, route: Route) {
        if let Ok(mut t) = self.table.write() {
            let mut next: Vec<Route> = t.iter().filter(|r| r.name != route.name).cloned().collect();
            next.push(route);
            *t = Arc::new(next);
        }
    }

    pub fn remove(&self, name: &str) {
        if let Ok(mut t) = self.table.write() {
            *t = Arc::new(t.iter().filter(|r| r.name != name).cloned().collect());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn an_event_goes_to_every_matching_subscription() {
        let routes = Routes::default();
        let r = |name: &str, p: &[&str], q| Route {
            name: name.into(),
            patterns: Patterns::parse(p).unwrap(),
            queue: q,
            quota: Quota::default(),
        };
        routes.upsert(r("all", &["orders/>"], 1));
        routes.upsert(r("eu", &["orders/eu/*", "billing/eu"], 2));
        routes.upsert(r("other", &["users/>"], 3));
        let t = |s| Topic::parse(s).unwrap();
        assert_eq!(routes.queues_for(&t("orders/eu/created")), [1, 2]);
        assert_eq!(routes.queues_for(&t("billing/eu")), [2]);
        assert!(routes.queues_for(&t("nothing")).is_empty());
        routes.upsert(r("eu", &["nothing"], 2));
        assert_eq!(routes.queues_for(&t("nothing")), [2]);
        routes.remove("eu");
        assert!(routes.queues_for(&t("nothing")).is_empty());
    }
}
