//! Reading a queue from outside the core: what a consumer that is not a module
//! (the HTTP subscriptions API, a mesh exporter) needs to take events out in order
//! and say when it is done with them.
//!
//! A [`Consumer`] reads one queue, usually an outside subscription's
//! ([`crate::name::queue_of_subscription`]). The queue collects every matching
//! event whether anyone reads it or not, and keeps each one until the consumer
//! *acknowledges* it: [`Consumer::ack_upto`] removes the queue's entries up to and
//! including a sequence number, in one store transaction per chunk. Nothing else
//! removes them, so delivery is **at least once**: an event handed out and not yet
//! acknowledged when the reader goes away is handed out again to the next reader.
//! The event's `id` (with its `source`) is what lets a consumer drop the repeat.
//!
//! Two ways to read, both in queue order:
//!
//! - **Pull** ([`Consumer::pull`]) always reads from the queue's *head*, the oldest
//!   entry not acknowledged: asking again without acknowledging returns the same
//!   events. This suits a client that acknowledges after each batch.
//! - **Stream** ([`Consumer::next`], [`Consumer::wait`]) reads after a *cursor*,
//!   the last sequence number this consumer handed out, without acknowledging: a
//!   stream moves on at its own pace and its client acknowledges when it can
//!   (for server-sent events, by sending `Last-Event-ID` on reconnecting, which
//!   [`Consumer::resume`] turns into an acknowledgement and a cursor). The cursor
//!   lives in memory only. What lies from the head up to the cursor was handed out
//!   and is not acknowledged yet; what lies after it is still to be handed out. A
//!   new consumer (cursor unset) starts at the head, and one whose cursor the head
//!   overtook (another reader acknowledged further) simply goes on from the head.
//!
//! Sequence numbers are the queue's own, never reused, so a number a client kept
//! across a restart still means the same position.
//!
//! Module workers do not read through a `Consumer`, by decision: a worker
//! removes what it handled in the same transaction as the outputs, error records
//! and state that handling produced (an acknowledgement on its own would break that
//! atomicity), it removes events out of order when parallel lanes move at
//! different speeds (an acknowledgement is "up to"), and it never reads past what it
//! has not settled (a retry stops the batch), so a cursor would be meaningless to
//! it. What the two share is the hub's waker, and the store's reads.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use weft_store::{Completion, QueueId};

use crate::counts::SubscriptionCounts;
use crate::event::DecodeError;
use crate::name::{Name, queue_of_subscription};
use crate::{Event, Hub};

/// Longest a [`Consumer::wait`] lasts without a wake-up. A wake-up wakes one
/// waiter only, and several readers may wait on one queue: the timeout bounds how
/// late the others see new events.
pub const WAIT_TIMEOUT: Duration = Duration::from_millis(500);

/// Most entries one acknowledgement removes per store transaction, so a large
/// acknowledgement does not become one huge commit that holds up every writer.
const ACK_CHUNK: usize = 1000;

/// One event handed out, with its position in the queue.
#[derive(Debug)]
pub struct Delivery {
    /// The queue's sequence number: what the consumer acknowledges up to.
    pub seq: u64,
    /// The event, or why the stored bytes cannot be read by this build. An
    /// unreadable entry is still handed out (and acknowledged like any other), so
    /// that it cannot block the queue.
    pub event: Result<Event, DecodeError>,
}

impl Delivery {
    pub fn decode(stored: weft_store::Delivery) -> Self {
        Self {
            seq: stored.seq,
            event: Event::decode(&stored.payload),
        }
    }
}

/// One reader of one queue; see the module docs.
pub struct Consumer {
    hub: Hub,
    queue: QueueId,
    cursor: Option<u64>,
    waker: Arc<Notify>,
    /// An outside subscription's counters (none for other readers, such as a
    /// mesh exporter's outbox).
    counts: Option<Arc<SubscriptionCounts>>,
}

impl Consumer {
    /// A reader of `queue` whose cursor is unset: streaming starts at the head.
    pub fn new(hub: Hub, queue: QueueId) -> Self {
        let waker = hub.waker(queue);
        Self {
            hub,
            queue,
            cursor: None,
            waker,
            counts: None,
        }
    }

    /// A reader of subscription `name`'s queue, if the store has one. (Whether the
    /// subscription still collects is the hub's routes' business, not the queue's.)
    pub fn of_subscription(hub: Hub, name: &Name) -> Option<Self> {
        let queue = hub.store().queue_id(&queue_of_subscription(name))?;
        let counts = hub.counts().subscription(name.as_str());
        let mut consumer = Self::new(hub, queue);
        consumer.counts = Some(counts);
        Some(consumer)
    }

    pub fn queue(&self) -> QueueId {
        self.queue
    }

    /// The last sequence number [`Self::next`] handed out, or the one
    /// [`Self::resume`] resumed after.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// Up to `max` events from the head, oldest first; nothing is acknowledged and
    /// the cursor does not move.
    pub fn pull(&self, max: usize) -> Result<Vec<Delivery>, weft_store::Error> {
        let batch = self.hub.store().peek(self.queue, max)?;
        self.count_delivered(batch.len());
        Ok(batch.into_iter().map(Delivery::decode).collect())
    }

    fn count_delivered(&self, n: usize) {
        if let Some(c) = &self.counts {
            c.delivered(n as u64);
        }
    }

    /// Removes the queue's entries up to and including `seq`; returns how many.
    /// Acknowledging what is already gone is not an error (a client repeating an
    /// acknowledgement after a lost answer must not fail).
    pub async fn ack_upto(&self, seq: u64) -> Result<usize, weft_store::Error> {
        let store = self.hub.store();
        let mut removed = 0;
        loop {
            let seqs = store.head_seqs_upto(self.queue, seq, ACK_CHUNK)?;
            let n = seqs.len();
            if n == 0 {
                return Ok(removed);
            }
            store
                .complete(Completion {
                    queue: self.queue,
                    consumed: seqs,
                    ..Default::default()
                })
                .await?;
            removed += n;
            if let Some(c) = &self.counts {
                c.acknowledged(n as u64);
            }
            if n < ACK_CHUNK {
                return Ok(removed);
            }
        }
    }

    /// Picks up where a client left off: acknowledges up to `last_event_id`, the
    /// last sequence number it received, and streams on after it. Returns how many
    /// entries the acknowledgement removed.
    pub async fn resume(&mut self, last_event_id: u64) -> Result<usize, weft_store::Error> {
        let removed = self.ack_upto(last_event_id).await?;
        self.cursor = Some(last_event_id);
        Ok(removed)
    }

    /// Up to `max` events after the cursor, oldest first, moving the cursor past
    /// them; nothing is acknowledged. Empty when the consumer is caught up: then
    /// [`Self::wait`].
    pub fn next(&mut self, max: usize) -> Result<Vec<Delivery>, weft_store::Error> {
        let batch = self.hub.store().peek_after(self.queue, self.cursor, max)?;
        if let Some(last) = batch.last() {
            self.cursor = Some(last.seq);
        }
        self.count_delivered(batch.len());
        Ok(batch.into_iter().map(Delivery::decode).collect())
    }

    /// Forgets what was handed out and not acknowledged: the next [`Self::next`]
    /// starts at the head again. For a reader whose downstream lost what it was
    /// given (a mesh exporter whose publishes failed), so it hands it out again.
    pub fn rewind(&mut self) {
        self.cursor = None;
    }

    /// Waits until the queue may have more: a publish to it, or [`WAIT_TIMEOUT`]
    /// at most, so that a wake-up taken by another reader does not stall this one.
    pub async fn wait(&self) {
        let _ = tokio::time::timeout(WAIT_TIMEOUT, self.waker.notified()).await;
    }
}
