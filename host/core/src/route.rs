//! Which subscriptions an event on a topic goes to.
//!
//! A linear scan over the subscriptions' patterns: hosts run tens of modules, where
//! a scan over a few patterns each costs less than maintaining a trie. Replace it
//! when a host routes to thousands of subscriptions.

use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Set while the subscription's module is absent (removed, not yet back):
    /// when its quota is full it stops collecting instead of refusing publishers,
    /// and counts what it missed here.
    pub parked: Option<Arc<Gap>>,
    /// Which events it takes: a mesh export takes only those accepted here, so
    /// that an event imported from the mesh never goes back out as itself.
    pub takes: Takes,
}

/// Which events a route takes, by where they came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Takes {
    /// Every matching event.
    #[default]
    All,
    /// Matching events accepted on this host (not imported from the mesh).
    Local,
}

/// What a parked subscription did not collect because it was full.
#[derive(Debug, Default)]
pub struct Gap {
    pub events: AtomicU64,
    /// Unix milliseconds of the first and the last event missed (0: none yet).
    pub first_ms: AtomicU64,
    pub last_ms: AtomicU64,
}

impl Gap {
    pub fn record(&self, now_ms: u64) {
        self.events.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .first_ms
            .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed);
        self.last_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// The routing table, replaced whole when subscriptions change so that publishers
/// never wait on an update.
#[derive(Default)]
pub struct Routes {
    table: RwLock<Arc<Vec<Route>>>,
}

impl Routes {
    /// The queues an event on `topic` goes to; `imported` if it came from the
    /// mesh (routes that take only local events skip it).
    pub fn queues_for(&self, topic: &Topic, imported: bool) -> Vec<QueueId> {
        self.snapshot()
            .iter()
            .filter(|r| !(imported && r.takes == Takes::Local))
            .filter(|r| r.patterns.matches(topic))
            .map(|r| r.queue)
            .collect()
    }

    pub fn snapshot(&self) -> Arc<Vec<Route>> {
        self.table
            .read()
            .unwrap_or_else(|poisoned| {
                tracing::error!(
                    "the routing table's lock was poisoned by a panic; it is used as it is"
                );
                poisoned.into_inner()
            })
            .clone()
    }

    /// The table, to replace. Recovered from a poisoned lock: every change builds
    /// a new table aside and stores it with one assignment, so a panic leaves the
    /// old table or the new one, never half of one. Refusing instead would stop
    /// all routing changes for good; doing nothing (as before) would lose them
    /// silently.
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Arc<Vec<Route>>> {
        self.table.write().unwrap_or_else(|poisoned| {
            tracing::error!(
                "the routing table's lock was poisoned by a panic; it is used as it is"
            );
            poisoned.into_inner()
        })
    }

    /// Adds or replaces the route named `route.name`.
    pub fn upsert(&self, route: Route) {
        let mut t = self.write();
        let mut next: Vec<Route> = t.iter().filter(|r| r.name != route.name).cloned().collect();
        next.push(route);
        *t = Arc::new(next);
    }

    /// Parks or unparks the route named `name` (see [`Route::parked`]); the gap
    /// counted while parked is returned on unparking.
    pub fn park(&self, name: &str, parked: bool) -> Option<Arc<Gap>> {
        let mut gap = None;
        let mut t = self.write();
        let next: Vec<Route> = t
            .iter()
            .cloned()
            .map(|mut r| {
                if r.name == name {
                    gap = r.parked.take();
                    if parked {
                        r.parked = Some(gap.clone().unwrap_or_default());
                    }
                }
                r
            })
            .collect();
        *t = Arc::new(next);
        gap
    }

    pub fn remove(&self, name: &str) {
        let mut t = self.write();
        *t = Arc::new(t.iter().filter(|r| r.name != name).cloned().collect());
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
            parked: None,
            takes: Takes::All,
        };
        routes.upsert(r("all", &["orders/>"], 1));
        routes.upsert(r("eu", &["orders/eu/*", "billing/eu"], 2));
        routes.upsert(r("other", &["users/>"], 3));
        let t = |s| Topic::parse(s).unwrap();
        assert_eq!(routes.queues_for(&t("orders/eu/created"), false), [1, 2]);
        assert_eq!(routes.queues_for(&t("billing/eu"), false), [2]);
        assert!(routes.queues_for(&t("nothing"), false).is_empty());
        routes.upsert(r("eu", &["nothing"], 2));
        assert_eq!(routes.queues_for(&t("nothing"), false), [2]);
        routes.remove("eu");
        assert!(routes.queues_for(&t("nothing"), false).is_empty());
    }

    #[test]
    fn a_table_poisoned_by_a_panic_still_routes_and_takes_changes() {
        let routes = Routes::default();
        let r = |name: &str, q| Route {
            name: name.into(),
            patterns: Patterns::parse(&["orders/>"]).unwrap(),
            queue: q,
            quota: Quota::default(),
            parked: None,
            takes: Takes::All,
        };
        routes.upsert(r("a", 1));
        let poison = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = routes.table.write();
            std::panic::resume_unwind(Box::new("a panic while the table is held"));
        }));
        assert!(poison.is_err() && routes.table.is_poisoned());
        let t = Topic::parse("orders/eu").unwrap();
        assert_eq!(routes.queues_for(&t, false), [1]);
        routes.upsert(r("b", 2));
        assert!(routes.park("a", true).is_none());
        assert_eq!(routes.queues_for(&t, false), [1, 2]);
        routes.remove("a");
        assert_eq!(routes.queues_for(&t, false), [2]);
    }

    #[test]
    fn a_local_route_takes_what_was_accepted_here_and_not_what_the_mesh_brought() {
        let routes = Routes::default();
        let r = |name: &str, q, takes| Route {
            name: name.into(),
            patterns: Patterns::parse(&["orders/>"]).unwrap(),
            queue: q,
            quota: Quota::default(),
            parked: None,
            takes,
        };
        routes.upsert(r("subscriber", 1, Takes::All));
        routes.upsert(r("export/default", 2, Takes::Local));
        let t = Topic::parse("orders/x").unwrap();
        assert_eq!(routes.queues_for(&t, false), [1, 2]);
        assert_eq!(
            routes.queues_for(&t, true),
            [1],
            "imported: not exported again"
        );
    }
}
