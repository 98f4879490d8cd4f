//! Whether new events fit where they go: the subscriptions' quotas and the
//! store's disk. A publish that would pass one is refused whole, before anything
//! is stored; events already accepted are never dropped to make room.
//!
//! The check reads the queues' counters before the write, so concurrent publishers
//! may together pass a quota by at most what they have in flight.

use std::collections::HashMap;

use weft_store::{NewEvent, QueueId, Store};

use crate::name::QueueOwner;
use crate::quota::{DiskQuota, Full};
use crate::route::Route;

/// Checks that `events` fit in every queue they go to. A full parked route (its
/// module is absent) does not refuse: it is taken out of the events' queues and
/// the gap is counted, so an absent consumer never blocks producers.
pub fn check(store: &Store, routes: &[Route], events: &mut [NewEvent]) -> Result<(), Full> {
    let mut adds: HashMap<QueueId, (u64, u64)> = HashMap::new();
    for e in events.iter() {
        for q in &e.queues {
            let a = adds.entry(*q).or_default();
            a.0 += 1;
            a.1 += e.payload.len() as u64;
        }
    }
    let mut skipped = Vec::new();
    for (queue, (n, bytes)) in adds {
        let Some(route) = routes.iter().find(|r| r.queue == queue) else {
            continue;
        };
        let who = || match QueueOwner::parse(&route.name) {
            Ok(owner) => owner.to_string(),
            Err(_) => format!("module `{}`", route.name),
        };
        let (have_events, have_bytes) = (store.depth(queue), store.queued_bytes(queue));
        let full = if have_events + n > route.quota.max_events {
            Some(Full::Subscription {
                subscription: who(),
                have: have_events,
                limit: route.quota.max_events,
                unit: "events",
            })
        } else if have_bytes + bytes > route.quota.max_bytes {
            Some(Full::Subscription {
                subscription: who(),
                have: have_bytes,
                limit: route.quota.max_bytes,
                unit: "bytes",
            })
        } else {
            None
        };
        match (full, &route.parked) {
            (None, _) => {}
            (Some(_), Some(gap)) => skipped.push((queue, gap.clone())),
            (Some(full), None) => return Err(full),
        }
    }
    if !skipped.is_empty() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for e in events.iter_mut() {
            for (queue, gap) in &skipped {
                if e.queues.contains(queue) {
                    e.queues.retain(|q| q != queue);
                    gap.record(now);
                }
            }
        }
    }
    Ok(())
}

/// Checks the store's disk quota and the free space left.
pub fn check_disk(store: &Store, quota: &DiskQuota) -> Result<(), Full> {
    if quota.max_bytes != u64::MAX {
        let used: u64 = store
            .queue_names()
            .iter()
            .map(|(_, q)| store.queued_bytes(*q))
            .sum();
        if used >= quota.max_bytes {
            return Err(Full::Disk {
                used,
                limit: quota.max_bytes,
            });
        }
    }
    if let Some(free) = store.disk_free()
        && free < quota.min_free
    {
        return Err(Full::NoSpace {
            free,
            reserve: quota.min_free,
        });
    }
    Ok(())
}
