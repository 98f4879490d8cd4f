//! Export: store-and-forward from a local outbox to the JetStream stream.
//!
//! Each export is a durable local queue (`export/NAME`) that the hub fills with
//! every matching event accepted on this host (never with imported ones: an event
//! never goes back out as itself). The exporter reads it in order and publishes
//! with up to `window` publishes in flight; an event leaves the outbox only after
//! JetStream acknowledged it (stored, and replicated on an R3 stream). So:
//!
//! - **NATS away**: publishes time out, the exporter goes back to the first event
//!   not acknowledged and tries again, backing off; the outbox keeps accepting
//!   up to its quota (then publishers get the usual 429/507) and drains, in order,
//!   when NATS returns.
//! - **A crash between a publish and the outbox's acknowledgement**: the event is
//!   published again after the restart with the same `Nats-Msg-Id`, and JetStream
//!   drops it within its duplicate window (`[mesh] duplicate_window`, 2 minutes
//!   by default): the window must be longer than a host takes to come back.
//! - **A publish refused for good** (no permission for the subject, a subject no
//!   stream captures, a message over the server's size limit, more hops than
//!   `max_hops`): the event goes to the outbox's error queue with the reason and
//!   the subject (`weft errors list --module export/NAME`, replayable once fixed),
//!   and the rest flows on. It is never dropped and never blocks the others.
//!
//! Order: publishes go out in outbox order on one connection and JetStream stores
//! them in the order it receives them, so per topic the stream holds the outbox's
//! order. One case can break it: a publish the server refuses for the moment (a
//! stream electing a leader) while the next one, sent right after, is stored.
//! Republishing then stores the first after the second; the exporter sees it from
//! the acknowledgements (the earlier one new, a later one a duplicate), logs it
//! and counts it, rather than let it pass unseen.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture, context::PublishErrorKind};
use tokio::sync::watch;
use weft_core::consumer::Consumer;
use weft_core::failure::{FailureRecord, Status};
use weft_core::{Event, cloudevents};
use weft_store::{Completion, QueueId};

use crate::config::ExportConfig;
use crate::link::Denied;
use crate::shared::Shared;
use crate::wire;

/// How many acknowledged events make an outbox acknowledgement (one store commit),
/// at most; fewer when the window drains or [`ACK_EVERY`] passed.
const ACK_BATCH: usize = 256;
const ACK_EVERY: Duration = Duration::from_millis(20);
/// Backoff after a failed publish, doubling up to the maximum.
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One export and its outbox.
pub struct Exporter {
    pub(crate) shared: Arc<Shared>,
    pub(crate) export: ExportConfig,
    pub(crate) queue: QueueId,
    /// The outbox's queue name, which its error records go by.
    pub(crate) owner: String,
}

struct InFlight {
    seq: u64,
    subject: String,
    /// Kept for its error record, should JetStream refuse it for good.
    event: Event,
    ack: PublishAckFuture,
}

/// What a failed publish means.
enum Verdict {
    /// Refused for good: to the error queue.
    Permanent(String),
    /// Try again later, from the first event not acknowledged.
    Transient(String),
}

/// Acknowledgements not yet written to the outbox.
struct Acks {
    upto: Option<u64>,
    count: usize,
    since: Instant,
}

/// After a failed publish, what the republished range reveals about order.
#[derive(Default)]
struct Recovery {
    /// Last sequence handed out before the failure: the range being republished.
    until: u64,
    /// Subjects with an event that JetStream had not stored before the failure.
    fresh: HashSet<String>,
}

impl Exporter {
    /// Runs until `stop` turns true. Errors only when the local store fails.
    pub async fn run(
        self,
        js: jetstream::Context,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), weft_store::Error> {
        let mut consumer = Consumer::new(self.shared.hub.clone(), self.queue);
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let mut acks = Acks {
            upto: None,
            count: 0,
            since: Instant::now(),
        };
        let mut backoff = BACKOFF;
        let mut recovery: Option<Recovery> = None;
        let mut handed_out = 0u64;
        loop {
            if *stop.borrow() {
                self.flush(&consumer, &mut acks).await?;
                return Ok(());
            }
            // 1. Fill the window.
            let room = self.shared.config.window.saturating_sub(inflight.len());
            let mut failed = None;
            if room > 0 {
                for d in consumer.next(room)? {
                    handed_out = handed_out.max(d.seq);
                    let event = match d.event {
                        Ok(e) => e,
                        Err(e) => {
                            self.fail(d.seq, None, &format!("unreadable stored event: {e}"))
                                .await?;
                            continue;
                        }
                    };
                    let hops = event.hops.saturating_add(1);
                    if hops > self.shared.config.max_hops {
                        let reason = format!(
                            "not exported: it would leave its {hops}th host, past [mesh] max_hops = {} (a cycle through processors on several hosts?)",
                            self.shared.config.max_hops
                        );
                        self.fail(d.seq, Some(&event), &reason).await?;
                        continue;
                    }
                    let out = wire::encode(
                        &event,
                        &self.shared.config.prefix,
                        self.export.mode,
                        &self.shared.config.name,
                        hops,
                    );
                    match js
                        .publish_with_headers(out.subject.clone(), out.headers, out.payload)
                        .await
                    {
                        Ok(ack) => inflight.push_back(InFlight {
                            seq: d.seq,
                            subject: out.subject,
                            event,
                            ack,
                        }),
                        Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                            let reason = format!(
                                "not exported to `{}`: the message is over the NATS server's size limit ({e})",
                                out.subject
                            );
                            self.fail(d.seq, Some(&event), &reason).await?;
                        }
                        Err(e) => {
                            failed = Some(format!("cannot publish to `{}`: {e}", out.subject));
                            break;
                        }
                    }
                }
            }
            // 2. Take the oldest acknowledgement, in order.
            if failed.is_none() {
                let Some(front) = inflight.pop_front() else {
                    self.flush(&consumer, &mut acks).await?;
                    tokio::select! {
                        _ = consumer.wait() => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                };
                match front.ack.await {
                    Ok(ack) => {
                        backoff = BACKOFF;
                        self.check_order(&mut recovery, front.seq, &front.subject, ack.duplicate);
                        self.shared.board.export(&self.export.name, |s| {
                            s.published += 1;
                            s.duplicates += u64::from(ack.duplicate);
                        });
                        acks.upto = Some(front.seq);
                        acks.count += 1;
                        if acks.count >= ACK_BATCH
                            || acks.since.elapsed() >= ACK_EVERY
                            || inflight.is_empty()
                        {
                            self.flush(&consumer, &mut acks).await?;
                        }
                        continue;
                    }
                    Err(e) => match self.judge(&js, &front.subject, &e).await {
                        Verdict::Permanent(reason) => {
                            self.flush(&consumer, &mut acks).await?;
                            self.fail(front.seq, Some(&front.event), &reason).await?;
                            continue;
                        }
                        Verdict::Transient(reason) => failed = Some(reason),
                    },
                }
            }
            // 3. A publish failed for now: go back to the first event not
            //    acknowledged and try again after a pause.
            if let Some(reason) = failed {
                self.flush(&consumer, &mut acks).await?;
                tracing::warn!(export = %self.export.name, %reason, retry_in = ?backoff, "mesh: export waits");
                self.shared
                    .board
                    .export(&self.export.name, |s| s.last_error = Some(reason));
                inflight.clear();
                consumer.rewind();
                recovery = Some(Recovery {
                    until: handed_out,
                    fresh: HashSet::new(),
                });
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// Writes the acknowledgements gathered so far to the outbox (one commit).
    async fn flush(&self, consumer: &Consumer, acks: &mut Acks) -> Result<(), weft_store::Error> {
        if let Some(upto) = acks.upto.take() {
            consumer.ack_upto(upto).await?;
        }
        acks.count = 0;
        acks.since = Instant::now();
        Ok(())
    }

    /// Notes what a republished event's acknowledgement says about order.
    fn check_order(
        &self,
        recovery: &mut Option<Recovery>,
        seq: u64,
        subject: &str,
        duplicate: bool,
    ) {
        let Some(r) = recovery else {
            return;
        };
        if seq > r.until {
            *recovery = None;
            return;
        }
        if !duplicate {
            r.fresh.insert(subject.to_owned());
        } else if r.fresh.contains(subject) {
            tracing::warn!(export = %self.export.name, %subject, "mesh: a republish after a failed publish stored an event after one that followed it in the outbox");
            self.shared.board.export(&self.export.name, |s| {
                s.last_error = Some(format!(
                    "order on `{subject}` broken by a failed publish that a later one passed"
                ));
            });
        }
    }

    /// Why a publish failed, and whether trying again can help.
    async fn judge(
        &self,
        js: &jetstream::Context,
        subject: &str,
        e: &jetstream::context::PublishError,
    ) -> Verdict {
        verdict(e, subject, &self.shared.denied, js).await
    }

    /// Moves one outbox event to the outbox's error queue, with the reason.
    async fn fail(
        &self,
        seq: u64,
        event: Option<&Event>,
        reason: &str,
    ) -> Result<(), weft_store::Error> {
        tracing::error!(export = %self.export.name, seq, %reason, "mesh: event moved to the export's error queue");
        let now = chrono::Utc::now().to_rfc3339();
        let record = FailureRecord {
            event: match event {
                Some(e) => cloudevents::to_json(e),
                None => serde_json::value::to_raw_value(&serde_json::json!({ "seq": seq }))
                    .unwrap_or_default(),
            },
            topic: event.map(|e| e.topic.clone()).unwrap_or_default(),
            module: self.owner.clone(),
            version: String::new(),
            reason: reason.to_owned(),
            attempts: 1,
            first_failure: now.clone(),
            last_failure: now,
            replays: event.map(FailureRecord::replays_of).unwrap_or(0),
            status: Status::Failed,
            history: Vec::new(),
        };
        self.shared
            .hub
            .store()
            .complete(Completion {
                queue: self.queue,
                consumed: vec![seq],
                failed: vec![record.encode()],
                ..Default::default()
            })
            .await?;
        self.shared.board.export(&self.export.name, |s| {
            s.failed += 1;
            s.last_error = Some(reason.to_owned());
        });
        Ok(())
    }
}

/// Sorts a publish error into for good or for now. A publish that simply got no
/// answer is for now, unless the server refused the subject on the connection
/// (permissions are reported only there); "no responders" is for good only if
/// no stream captures the subject (it is also what a stream electing a leader
/// answers).
async fn verdict(
    e: &jetstream::context::PublishError,
    subject: &str,
    denied: &Denied,
    js: &jetstream::Context,
) -> Verdict {
    match e.kind() {
        PublishErrorKind::MaxPayloadExceeded => Verdict::Permanent(format!(
            "not exported to `{subject}`: the message is over the NATS server's size limit ({e})"
        )),
        PublishErrorKind::TimedOut => match denied.refusal(subject) {
            Some(refusal) => Verdict::Permanent(format!(
                "NATS refused this host publishing to `{subject}`: {refusal}; grant it in the server's permissions, then replay"
            )),
            None => Verdict::Transient(format!(
                "no acknowledgement from JetStream for `{subject}`: {e}"
            )),
        },
        PublishErrorKind::StreamNotFound => match js.stream_by_subject(subject).await {
            Ok(_) => Verdict::Transient(format!(
                "the stream holding `{subject}` did not answer (electing a leader?)"
            )),
            Err(le) if le.kind() == jetstream::context::GetStreamByNameErrorKind::NotFound => {
                Verdict::Permanent(format!(
                    "no JetStream stream captures `{subject}`: add it to the stream's subjects, then replay"
                ))
            }
            Err(le) => Verdict::Transient(format!("cannot publish to `{subject}` ({e}; {le})")),
        },
        PublishErrorKind::Other => match jetstream_code(e) {
            Some(code)
                if code == jetstream::ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM
                    || code == jetstream::ErrorCode::STREAM_HEADER_EXCEEDS_MAXIMUM
                    || code == jetstream::ErrorCode::STREAM_SEALED =>
            {
                Verdict::Permanent(format!("JetStream refused the event on `{subject}`: {e}"))
            }
            _ => Verdict::Transient(format!("cannot publish to `{subject}`: {e}")),
        },
        _ => Verdict::Transient(format!("cannot publish to `{subject}`: {e}")),
    }
}

/// The JetStream API error code behind a publish error, if the server sent one.
fn jetstream_code(e: &jetstream::context::PublishError) -> Option<jetstream::ErrorCode> {
    let source = std::error::Error::source(e)?;
    source
        .downcast_ref::<jetstream::Error>()
        .map(jetstream::Error::error_code)
}
