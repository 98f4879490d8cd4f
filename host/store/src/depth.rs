//! Each queue's depth (events and bytes waiting), kept in memory so that quota
//! checks never read the store; loaded at open, changed by the writer after each
//! commit.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use crate::keys::QueueId;
use crate::lock::{read_recovered, write_recovered};

/// Every queue's counters, by queue.
pub(crate) type Depths = Arc<RwLock<HashMap<QueueId, Arc<Counters>>>>;

/// Events and bytes waiting in one queue, kept in memory, changed by the writer
/// after each commit.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

pub(crate) fn depth_counter(
    depths: &RwLock<HashMap<QueueId, Arc<Counters>>>,
    queue: QueueId,
) -> Arc<Counters> {
    if let Some(c) = read_recovered(depths).get(&queue) {
        return c.clone();
    }
    write_recovered(depths).entry(queue).or_default().clone()
}
