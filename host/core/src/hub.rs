//! The hub: where every event enters the core, whatever its source (HTTP ingest,
//! a processor's output, later connectors and the mesh). It routes, stores durably,
//! wakes the subscribed workers and shows the event to live taps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};
use weft_store::{NewEvent, QueueId, Store};

use crate::counts::Counts;
use crate::quota::{DiskQuota, Full, Quota};
use crate::reply::{self, Replies};
use crate::room;
use crate::route::{Route, Routes, Takes};
use crate::{Event, Patterns, Topic};

/// How many events a slow `tap` viewer may fall behind before it skips some.
const TAP_BUFFER: usize = 4096;

/// The answer to one published event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    /// `true` if the same `(source, id)` was accepted within the dedup window and
    /// this copy was not stored again.
    pub duplicate: bool,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    routes: Routes,
    wakers: Mutex<HashMap<QueueId, Arc<Notify>>>,
    tap: broadcast::Sender<Arc<Event>>,
    disk: DiskQuota,
    replies: Replies,
    counts: Counts,
}

/// Why a publish was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No room: the caller should try again later (HTTP 429 or 507).
    #[error(transparent)]
    Full(#[from] Full),
    #[error(transparent)]
    Store(#[from] weft_store::Error),
}

impl Hub {
    pub fn new(store: Store) -> Self {
        Self::with_disk_quota(store, DiskQuota::default())
    }

    pub fn with_disk_quota(store: Store, disk: DiskQuota) -> Self {
        Self::with_limits(store, disk, reply::Settings::default())
    }

    /// A hub with a disk quota and the request-reply limits ([`crate::reply`]).
    pub fn with_limits(store: Store, disk: DiskQuota, replies: reply::Settings) -> Self {
        let (tap, _) = broadcast::channel(TAP_BUFFER);
        Self {
            inner: Arc::new(Inner {
                store,
                routes: Routes::default(),
                wakers: Mutex::new(HashMap::new()),
                tap,
                disk,
                replies: Replies::new(replies),
                counts: Counts::default(),
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// What flowed through modules and subscriptions since the host started.
    pub fn counts(&self) -> &Counts {
        &self.inner.counts
    }

    /// The callers waiting for replies, and where replies go.
    pub fn replies(&self) -> &Replies {
        &self.inner.replies
    }

    /// Creates (or finds) the durable queue named `name` and routes matching events
    /// to it from now on. `name` is a queue name as [`crate::name`] spells it (a
    /// module's or an outside subscription's); the route goes by the same name.
    pub async fn subscribe(
        &self,
        name: &str,
        patterns: Patterns,
        quota: Quota,
    ) -> Result<QueueId, weft_store::Error> {
        self.route(name, patterns, quota, Takes::All).await
    }

    /// Like [`Self::subscribe`], for a queue that takes only the events accepted
    /// on this host: a mesh export's outbox, which must never send an imported
    /// event back out as itself.
    pub async fn subscribe_local(
        &self,
        name: &str,
        patterns: Patterns,
        quota: Quota,
    ) -> Result<QueueId, weft_store::Error> {
        self.route(name, patterns, quota, Takes::Local).await
    }

    async fn route(
        &self,
        name: &str,
        patterns: Patterns,
        quota: Quota,
        takes: Takes,
    ) -> Result<QueueId, weft_store::Error> {
        let queue = self.inner.store.queue(name).await?;
        self.inner.routes.upsert(Route {
            name: name.to_owned(),
            patterns,
            queue,
            quota,
            parked: None,
            takes,
        });
        Ok(queue)
    }

    /// Marks subscription `name` as having no consumer for now (its module was
    /// removed) or a consumer again; see [`crate::route::Route::parked`]. Returns
    /// the gap counted while it was parked.
    pub fn park(&self, name: &str, parked: bool) -> Option<Arc<crate::route::Gap>> {
        self.inner.routes.park(name, parked)
    }

    /// Stops routing to subscription `name`; its queue keeps what it holds.
    pub fn unsubscribe(&self, name: &str) {
        self.inner.routes.remove(name);
    }

    /// Routes and stores `events`; resolves once they are durable. Refused whole,
    /// with nothing stored, when a subscription or the disk has no room.
    ///
    /// Events to a reply address are not stored: they go to the caller waiting
    /// for them ([`crate::reply`]), and count as accepted.
    pub async fn publish(&self, mut events: Vec<Event>) -> Result<Vec<Accepted>, PublishError> {
        if events.iter().any(|e| reply::is_address(&e.topic)) {
            let (replies, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut events)
                .into_iter()
                .enumerate()
                .partition(|(_, e)| reply::is_address(&e.topic));
            let (at, rest): (Vec<usize>, Vec<Event>) = rest.into_iter().unzip();
            let stored = Box::pin(self.publish(rest)).await?;
            let mut accepted: Vec<(usize, Accepted)> = at.into_iter().zip(stored).collect();
            for (i, event) in replies {
                accepted.push((
                    i,
                    Accepted {
                        id: event.id.clone(),
                        duplicate: false,
                    },
                ));
                self.show(event);
            }
            accepted.sort_by_key(|(i, _)| *i);
            return Ok(accepted.into_iter().map(|(_, a)| a).collect());
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (staged, routed) = self.stage(&events)?;
        let stored = self.inner.store.append(staged).await?;
        Ok(self.accepted(events, stored, &routed))
    }

    /// Publishes a connector's events together with its state changes, in one
    /// transaction: a poller's cursor moves exactly when its page is stored.
    /// Refused whole, with nothing stored, when a subscription or the disk has no room.
    pub async fn publish_with_state(
        &self,
        events: Vec<Event>,
        state: Vec<weft_store::StateChange>,
    ) -> Result<Vec<Accepted>, PublishError> {
        let (staged, routed) = self.stage(&events)?;
        let stored = self
            .inner
            .store
            .complete(weft_store::Completion {
                outputs: staged,
                state,
                ..Default::default()
            })
            .await?;
        Ok(self.accepted(events, stored, &routed))
    }

    /// Routes `events` and checks the room for them: what to store, and the
    /// queues each goes to (to wake and count once it is stored).
    fn stage(&self, events: &[Event]) -> Result<(Vec<NewEvent>, Vec<Vec<QueueId>>), PublishError> {
        room::check_disk(&self.inner.store, &self.inner.disk)?;
        let mut staged: Vec<NewEvent> = events
            .iter()
            .map(|e| NewEvent {
                dedup: Some(e.dedup_key()),
                payload: e.encode(),
                queues: self.queues_for(e),
            })
            .collect();
        self.check_room(&mut staged)?;
        let routed = staged.iter().map(|s| s.queues.clone()).collect();
        Ok((staged, routed))
    }

    /// After a commit: wakes the queues, counts the stored events per route,
    /// shows them to taps, and says which were duplicates.
    fn accepted(
        &self,
        events: Vec<Event>,
        stored: Vec<bool>,
        routed: &[Vec<QueueId>],
    ) -> Vec<Accepted> {
        let woken: Vec<QueueId> = routed.iter().flatten().copied().collect();
        self.wake(&woken);
        let new: Vec<QueueId> = routed
            .iter()
            .zip(&stored)
            .filter(|(_, stored)| **stored)
            .flat_map(|(queues, _)| queues.iter().copied())
            .collect();
        self.count_routed(&new);
        events
            .into_iter()
            .zip(stored)
            .map(|(event, stored)| {
                let accepted = Accepted {
                    id: event.id.clone(),
                    duplicate: !stored,
                };
                if stored {
                    self.show(event);
                }
                accepted
            })
            .collect()
    }

    /// Whether `events` fit in the quotas of the queues they go to.
    /// (A parked subscription that is full is taken out of `events`' queues.)
    pub fn check_room(&self, events: &mut [NewEvent]) -> Result<(), Full> {
        room::check(&self.inner.store, &self.inner.routes.snapshot(), events)
    }

    /// The queues `event` goes to: those whose patterns match its topic, less
    /// those that take only local events when it was imported from the mesh.
    /// A reply goes to no queue (see [`crate::reply`]).
    pub fn queues_for(&self, event: &Event) -> Vec<QueueId> {
        if reply::is_address(&event.topic) {
            return Vec::new();
        }
        match Topic::parse(&event.topic) {
            Ok(t) => self.inner.routes.queues_for(&t, event.origin.is_some()),
            Err(_) => Vec::new(),
        }
    }

    /// The notifier a queue's readers (its worker, a [`crate::consumer::Consumer`])
    /// wait on.
    pub fn waker(&self, queue: QueueId) -> Arc<Notify> {
        // Recovered from a poisoned lock: the map only ever gains whole entries,
        // which a panic cannot leave half-made. A fresh notifier instead (as
        // before) would be one no publisher ever wakes, so its reader would only
        // see new events on its idle poll.
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(|poisoned| {
            tracing::error!("the hub's waker lock was poisoned by a panic; it is used as it is");
            poisoned.into_inner()
        });
        wakers.entry(queue).or_default().clone()
    }

    /// Counts events stored for each route (`weft_route_events_total`), one entry
    /// in `queues` per event and queue. Labelled like the queue gauges (`module`,
    /// `subscription` or `export`, by name) and by the route's patterns (set by the
    /// operator, so bounded), never by a topic; tallied per batch so that an event
    /// costs no lookup by name.
    pub fn count_routed(&self, queues: &[QueueId]) {
        if queues.is_empty() {
            return;
        }
        let mut tally: std::collections::BTreeMap<QueueId, u64> = Default::default();
        for q in queues {
            *tally.entry(*q).or_default() += 1;
        }
        for route in self.inner.routes.snapshot().iter() {
            let Some(n) = tally.get(&route.queue) else {
                continue;
            };
            let (key, owner) = match crate::name::QueueOwner::parse(&route.name) {
                Ok(crate::name::QueueOwner::Module(n)) => ("module", n),
                Ok(crate::name::QueueOwner::Subscription(n)) => ("subscription", n),
                Ok(crate::name::QueueOwner::Export(n)) => ("export", n),
                Err(_) => continue,
            };
            let patterns: Vec<&str> = route.patterns.iter().map(|p| p.as_str()).collect();
            metrics::counter!(
                "weft_route_events_total",
                key => owner.as_str().to_owned(),
                "patterns" => patterns.join(" ")
            )
            .increment(*n);
        }
    }

    pub fn wake(&self, queues: &[QueueId]) {
        for q in queues {
            self.waker(*q).notify_one();
        }
    }

    /// Shows an event to live taps (after it is durable); a reply goes to its
    /// caller instead, and is never shown on a tap.
    pub fn show(&self, event: Event) {
        if reply::is_address(&event.topic) {
            return self.inner.replies.deliver(event);
        }
        if self.inner.tap.receiver_count() > 0 {
            let _ = self.inner.tap.send(Arc::new(event));
        }
    }

    /// A live view of every event accepted from now on; filter it by topic.
    pub fn tap(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tap.subscribe()
    }

    pub fn routes(&self) -> Arc<Vec<Route>> {
        self.inner.routes.snapshot()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn a_waker_poisoned_by_a_panic_is_still_the_one_publishers_wake() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(weft_store::StoreConfig::new(dir.path().join("s"))).unwrap();
        let hub = Hub::new(store);
        let before = hub.waker(7);
        let poison = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = hub.inner.wakers.lock();
            std::panic::resume_unwind(Box::new("a panic while the wakers are held"));
        }));
        assert!(poison.is_err() && hub.inner.wakers.is_poisoned());
        assert!(Arc::ptr_eq(&before, &hub.waker(7)));
    }
}
