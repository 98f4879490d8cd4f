//! A subscription's worker: takes batches from its queue in order, calls the
//! handler, and commits outcomes, outputs and failures in one store transaction.
//!
//! Per event: outputs are committed with the input's removal; a `retry` stops the
//! batch there (what came before is committed, the rest is delivered again after a
//! backoff, so order holds); a `reject`, an output to an ungranted topic, or running
//! out of attempts moves the event to the module's error queue. The attempts are
//! counted in the queue entry, committed with the batch that counted them, so a
//! restart resumes the count. A failed call (a
//! trap, a timeout) says nothing about which event caused it, so the batch is run
//! again one event at a time and only the culprit is retried and, in the end,
//! rejected.
//!
//! Hot swap: a [`Control::Swap`] takes effect between batches, so the batch in
//! flight finishes on the version it started on and the queue keeps its position.
//! A swapped-in version is on probation for its first [`PROBATION_EVENTS`] events,
//! with the previous version kept at hand: when it fails a call on an event (a
//! trap, a timeout) that the previous version then handles, that event's result
//! comes from the previous version and counts a strike. [`ROLLBACK_AFTER`] strikes
//! on distinct events in a row roll it back for good. An event that fails on both
//! versions is a poison event, not a bad version: it takes the usual retry path and
//! counts no strike, however often it is retried.

use std::time::Duration;

use tokio::sync::watch;
use weft_store::{Attempts, Completion, Delivery, NewEvent, QueueId};

use crate::cloudevents;
use crate::counts::{FailKind, ModuleCounts};
use crate::failure::FailureRecord;
use crate::handler::{CallError, Handler, Outcome};
use crate::hub::Hub;
use crate::name::{Name, queue_of_module};
use crate::retry::RetryPolicy;
use crate::stamp::stamp_outputs;
use crate::{Event, Patterns, reply};

/// How often an idle worker looks at its queue even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// How long a worker waits when its outputs do not fit downstream.
const FULL_BACKOFF: Duration = Duration::from_millis(200);

/// Events a swapped-in version must handle before its predecessor is let go.
pub const PROBATION_EVENTS: u64 = 100;
/// Failed calls on distinct events in a row that roll a version back.
pub const ROLLBACK_AFTER: usize = 3;

/// What the host tells a running worker.
pub enum Control {
    /// Serve with these handlers (a new version) from the next batch on.
    Swap {
        sub: Box<Subscription>,
        handlers: Vec<Box<dyn Handler>>,
        /// Keep the current handlers as the fallback while the new ones prove
        /// themselves (off when the current version is itself broken or the same).
        probation: bool,
    },
    /// Finish the batch in flight and stop.
    Stop,
}

/// What a worker tells the host.
#[derive(Debug, Clone)]
pub enum Report {
    /// Version `from` failed on `strikes` distinct events in a row that `to`, the
    /// previous one, handled: `to` serves again.
    RolledBack {
        module: String,
        from: String,
        to: String,
        reason: String,
    },
    /// Version `version` served its probation.
    Proven { module: String, version: String },
}

/// The previous version, kept while a new one is on probation.
struct Probation {
    sub: Subscription,
    handlers: Vec<Option<Box<dyn Handler>>>,
    /// Distinct events the new version failed on since its last success.
    strikes: Vec<u64>,
    handled: u64,
    last_failure: String,
    /// Decided during a call, carried out after it (see [`Worker::settle`]).
    verdict: Option<Verdict>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    RollBack,
    Proven,
}

/// What a worker needs to know about its module.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub name: String,
    pub subscribe: Patterns,
    pub publish: Patterns,
    pub batch_max: usize,
    pub retry: RetryPolicy,
    pub quota: crate::Quota,
    /// Most error records the module may hold; at the limit the worker pauses.
    pub max_errors: usize,
    /// The attribute that keys parallel lanes (`subject`, `type`, `source`,
    /// `id`, `topic` or an extension); order is kept per key value. With one
    /// handler it does not matter.
    pub key: String,
    /// The module's own check of its outputs (its enforced JSON Schemas), run
    /// after stamping; a refusal fails the input like an ungranted topic.
    pub check: Option<std::sync::Arc<dyn crate::OutputCheck>>,
}

pub struct Worker {
    hub: Hub,
    sub: Subscription,
    queue: QueueId,
    /// One handler per parallel lane; a lane is taken out while it runs.
    handlers: Vec<Option<Box<dyn Handler>>>,
    /// After a failed call, events up to this sequence number go one at a time.
    single_until: Option<u64>,
    control: tokio::sync::mpsc::UnboundedReceiver<Control>,
    control_tx: tokio::sync::mpsc::UnboundedSender<Control>,
    reports: Option<tokio::sync::mpsc::UnboundedSender<Report>>,
    probation: Option<Probation>,
    counts: std::sync::Arc<ModuleCounts>,
}

impl Worker {
    /// Subscribes `sub` (its queue collects from now on) and readies its worker.
    /// Fails when the store does, or when `sub.name` is not a [`Name`].
    pub async fn new(
        hub: Hub,
        sub: Subscription,
        handlers: Vec<Box<dyn Handler>>,
    ) -> anyhow::Result<Self> {
        let queue = queue_of_module(&Name::parse(&sub.name)?);
        let queue = hub
            .subscribe(&queue, sub.subscribe.clone(), sub.quota)
            .await?;
        let (control_tx, control) = tokio::sync::mpsc::unbounded_channel();
        let counts = hub.counts().module(&sub.name);
        Ok(Self {
            counts,
            hub,
            sub,
            queue,
            handlers: handlers.into_iter().map(Some).collect(),
            single_until: None,
            control,
            control_tx,
            reports: None,
            probation: None,
        })
    }

    /// Where the host sends swaps and stops to this worker.
    pub fn controller(&self) -> tokio::sync::mpsc::UnboundedSender<Control> {
        self.control_tx.clone()
    }

    /// Where this worker tells of rollbacks and proven versions.
    pub fn report_to(&mut self, reports: tokio::sync::mpsc::UnboundedSender<Report>) {
        self.reports = Some(reports);
    }

    /// Applies a control message; `false` when told to stop.
    fn apply(&mut self, control: Control) -> bool {
        match control {
            Control::Stop => false,
            Control::Swap {
                sub,
                handlers,
                probation,
            } => {
                let old =
                    std::mem::replace(&mut self.handlers, handlers.into_iter().map(Some).collect());
                let old_sub = std::mem::replace(&mut self.sub, *sub);
                self.probation = probation.then(|| Probation {
                    sub: old_sub,
                    handlers: old,
                    strikes: Vec::new(),
                    handled: 0,
                    last_failure: String::new(),
                    verdict: None,
                });
                self.single_until = None;
                self.counts.swapped();
                true
            }
        }
    }

    fn version(&self) -> String {
        self.handlers
            .iter()
            .flatten()
            .next()
            .map(|h| h.version().to_owned())
            .unwrap_or_default()
    }

    fn report(&self, report: Report) {
        if let Some(r) = &self.reports {
            let _ = r.send(report);
        }
    }

    /// Counts what the version on probation did with one event: `Some(seq)` it
    /// failed on (and the previous version handled), `None` it handled. The first
    /// verdict reached stands; [`Self::settle`] carries it out after the call.
    fn judge(&mut self, failed_on: Option<u64>) {
        let Some(p) = &mut self.probation else {
            return;
        };
        if p.verdict.is_some() {
            return;
        }
        match failed_on {
            None => {
                p.strikes.clear();
                p.handled += 1;
                if p.handled >= PROBATION_EVENTS {
                    p.verdict = Some(Verdict::Proven);
                }
            }
            Some(seq) => {
                if !p.strikes.contains(&seq) {
                    p.strikes.push(seq);
                }
                if p.strikes.len() >= ROLLBACK_AFTER {
                    p.verdict = Some(Verdict::RollBack);
                }
            }
        }
    }

    /// Carries out the probation's verdict, once every lane's handler is back
    /// from its call: a rollback replaces the whole set of handlers, and one done
    /// while another lane's call is still out would have that lane's handler of
    /// the new version put back into the old set (and a set of fewer lanes
    /// indexed past its end).
    fn settle(&mut self) {
        let verdict = self.probation.as_ref().and_then(|p| p.verdict);
        match verdict {
            None => {}
            Some(Verdict::Proven) => {
                self.probation = None;
                let version = self.version();
                self.report(Report::Proven {
                    module: self.sub.name.clone(),
                    version,
                });
            }
            Some(Verdict::RollBack) => {
                let from = self.version();
                if let Some(p) = self.probation.take() {
                    self.handlers = p.handlers;
                    self.sub = p.sub;
                    let to = self.version();
                    let reason = format!(
                        "failed on {ROLLBACK_AFTER} distinct events in a row that the previous version handled; last: {}",
                        p.last_failure
                    );
                    tracing::error!(module = %self.sub.name, from = %short(&from), to = %short(&to), %reason, "new version rolled back");
                    self.counts.rolled_back();
                    self.report(Report::RolledBack {
                        module: self.sub.name.clone(),
                        from,
                        to,
                        reason,
                    });
                }
            }
        }
    }

    /// Runs until `shutdown` turns true, finishing the batch in flight first.
    /// Returns an error only when the store fails: per-event failures never stop it.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let waker = self.hub.waker(self.queue);
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            while let Ok(c) = self.control.try_recv() {
                if !self.apply(c) {
                    return Ok(());
                }
            }
            let size = self.batch_size();
            let batch = self.hub.store().peek(self.queue, size)?;
            if batch.is_empty() {
                tokio::select! {
                    _ = waker.notified() => {}
                    _ = shutdown.changed() => {}
                    c = self.control.recv() => match c {
                        Some(c) => if !self.apply(c) { return Ok(()) },
                        None => return Ok(()),
                    },
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            if let Some(wait) = self.handle(batch).await? {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                    c = self.control.recv() => match c {
                        Some(c) => if !self.apply(c) { return Ok(()) },
                        None => return Ok(()),
                    },
                }
            }
        }
    }

    fn batch_size(&mut self) -> usize {
        match self.single_until {
            Some(until) => {
                let head = self.hub.store().peek(self.queue, 1).ok();
                let past = head
                    .and_then(|h| h.first().map(|d| d.seq > until))
                    .unwrap_or(true);
                if past {
                    self.single_until = None;
                    self.sub.batch_max.max(1)
                } else {
                    1
                }
            }
            None => self.sub.batch_max.max(1),
        }
    }

    /// Handles one batch; returns how long to back off before the next.
    async fn handle(&mut self, batch: Vec<Delivery>) -> anyhow::Result<Option<Duration>> {
        let mut completion = Completion {
            queue: self.queue,
            ..Default::default()
        };
        // Counted once the batch is committed.
        let mut failed: Vec<FailKind> = Vec::new();
        let mut emitted = 0u64;
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut events = Vec::with_capacity(batch.len());
        for d in batch {
            match Event::decode(&d.payload) {
                Ok(e) => {
                    deliveries.push(d);
                    events.push(e);
                }
                Err(e) => {
                    tracing::error!(module = %self.sub.name, seq = d.seq, error = %e, "unreadable stored event moved to the error queue");
                    completion.consumed.push(d.seq);
                    completion.failed.push(self.unreadable(&d, &e.to_string()));
                    failed.push(FailKind::Unreadable);
                }
            }
        }
        let lanes = self.lanes(&events);
        // Sized before the call: a rollback at its end may leave fewer handlers
        // than the lanes just counted.
        let mut blocked = vec![false; self.handlers.len()];
        let (outcomes, state) = self.call(&deliveries, events.clone(), &lanes).await?;
        completion.state = state
            .into_iter()
            .map(|(key, value)| (self.sub.name.clone(), key, value))
            .collect();
        let mut wait: Option<Duration> = None;
        let mut shown = Vec::new();
        // A lane stops at its first event that is not done, so order holds per key.
        for (((d, event), outcome), lane) in deliveries.iter().zip(&events).zip(outcomes).zip(lanes)
        {
            if blocked[lane] {
                continue;
            }
            let Some(outcome) = outcome else {
                blocked[lane] = true;
                continue;
            };
            let outcome = match outcome {
                Outcome::Emit(outputs) => match self.outputs(event, outputs) {
                    Ok(outputs) => Ok(outputs),
                    Err(reason) => Err((FailKind::OutputRefused, self.failure(event, &reason, 1))),
                },
                Outcome::Reject(reason) => {
                    Err((FailKind::Rejected, self.failure(event, &reason, 1)))
                }
                Outcome::Retry(reason) => match self.retry(d, event, &reason) {
                    Ok((backoff, attempts)) => {
                        completion.retried.push((d.seq, attempts));
                        wait = Some(wait.map_or(backoff, |w| w.min(backoff)));
                        blocked[lane] = true;
                        continue;
                    }
                    Err(record) => Err((FailKind::GaveUp, *record)),
                },
            };
            completion.consumed.push(d.seq);
            match outcome {
                Ok(outputs) => {
                    emitted += outputs.len() as u64;
                    for out in outputs {
                        // A reply is not stored: it goes to its caller once the
                        // request's handling is committed.
                        if reply::is_address(&out.topic) {
                            shown.push(out);
                            continue;
                        }
                        completion.outputs.push(NewEvent {
                            dedup: None,
                            payload: out.encode(),
                            queues: self.hub.queues_for(&out),
                        });
                        shown.push(out);
                    }
                }
                Err((kind, record)) => {
                    failed.push(kind);
                    tracing::warn!(module = %self.sub.name, id = %event.id, topic = %event.topic, reason = %record.reason, "event moved to the error queue");
                    completion.failed.push(record.encode());
                    if let Some(address) = reply::replyto(event) {
                        let module = &self.sub.name;
                        shown.push(reply::failure(event, address, module, &record.reason));
                    }
                }
            }
        }
        if let Err(full) = self.hub.check_room(&mut completion.outputs) {
            // Downstream has no room: commit nothing and try the batch again later,
            // so the backlog stays here, in order, and ingest meets the quota.
            tracing::debug!(module = %self.sub.name, reason = %full, "outputs wait for room");
            return Ok(Some(FULL_BACKOFF));
        }
        if !completion.failed.is_empty() && self.error_queue_full()? {
            tracing::warn!(module = %self.sub.name, limit = self.sub.max_errors, "error queue full: pausing until records are replayed or purged");
            return Ok(Some(FULL_BACKOFF * 10));
        }
        if !completion.consumed.is_empty()
            || !completion.state.is_empty()
            || !completion.retried.is_empty()
        {
            let woken: Vec<QueueId> = completion
                .outputs
                .iter()
                .flat_map(|o| o.queues.clone())
                .collect();
            let consumed = completion.consumed.len() as u64;
            self.hub.store().complete(completion).await?;
            self.counts.handled(consumed, emitted);
            for kind in failed {
                self.counts.failed(kind, 1);
            }
            self.hub.wake(&woken);
            self.hub.count_routed(&woken);
            for out in shown {
                self.hub.show(out);
            }
        }
        Ok(wait)
    }

    fn error_queue_full(&self) -> anyhow::Result<bool> {
        let max = self.sub.max_errors;
        Ok(self.hub.store().errors(self.queue, max)?.len() >= max)
    }

    /// The lane of each event: the hash of its key attribute, modulo the lanes.
    fn lanes(&self, events: &[Event]) -> Vec<usize> {
        let n = self.handlers.len().max(1);
        if n == 1 {
            return vec![0; events.len()];
        }
        events
            .iter()
            .map(|e| {
                let key = match self.sub.key.as_str() {
                    "id" => Some(std::borrow::Cow::Borrowed(e.id.as_str())),
                    "source" => Some(e.source.as_str().into()),
                    "type" => Some(e.ty.as_str().into()),
                    "topic" => Some(e.topic.as_str().into()),
                    "subject" => e.subject.as_deref().map(Into::into),
                    other => e.extension(other).map(|v| v.canonical()),
                };
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&key, &mut h);
                (std::hash::Hasher::finish(&h) % n as u64) as usize
            })
            .collect()
    }

    /// Calls the lanes' handlers, in parallel, off the async threads (a guest call
    /// may run for its whole time budget). Returns one outcome per event; `None`
    /// for the events of a lane whose call failed and that will be run again one
    /// at a time. Also returns the handlers' state changes, committed with the batch.
    async fn call(
        &mut self,
        deliveries: &[Delivery],
        events: Vec<Event>,
        lanes: &[usize],
    ) -> anyhow::Result<(Vec<Option<Outcome>>, Vec<(String, Option<Vec<u8>>)>)> {
        let mut by_lane: Vec<Vec<usize>> = vec![Vec::new(); self.handlers.len()];
        for (i, lane) in lanes.iter().enumerate() {
            by_lane[*lane].push(i);
        }
        let mut calls = Vec::new();
        for (lane, indices) in by_lane.iter().enumerate() {
            if indices.is_empty() {
                continue;
            }
            let Some(mut handler) = self.handlers[lane].take() else {
                anyhow::bail!("worker for `{}` lost its handler", self.sub.name);
            };
            let batch: Vec<Event> = indices.iter().map(|i| events[*i].clone()).collect();
            calls.push((
                lane,
                tokio::task::spawn_blocking(move || {
                    let started = std::time::Instant::now();
                    let recycled = handler.recycled();
                    let result = handler.process(&batch);
                    let recycled = handler.recycled().saturating_sub(recycled);
                    (handler, result, started.elapsed(), recycled)
                }),
            ));
        }
        let mut outcomes: Vec<Option<Outcome>> = vec![None; events.len()];
        let mut state = Vec::new();
        let mut recycles = 0;
        for (lane, call) in calls {
            let (mut handler, result, took, recycled) = call.await?;
            self.counts.call_took(took);
            recycles += recycled;
            state.extend(handler.take_state());
            self.handlers[lane] = Some(handler);
            let indices = &by_lane[lane];
            let result = match result {
                Ok(o) if o.len() == indices.len() => Ok(o),
                Ok(o) => Err(CallError::Other(format!(
                    "returned {} outcomes for a batch of {} events; a processor must return exactly one per input",
                    o.len(),
                    indices.len()
                ))),
                Err(e) => Err(e),
            };
            match result {
                Ok(o) => {
                    for _ in 0..o.len() {
                        self.judge(None);
                    }
                    for (i, outcome) in indices.iter().zip(o) {
                        outcomes[*i] = Some(outcome);
                    }
                }
                Err(e) => {
                    self.counts.call_failed(&e);
                    tracing::warn!(module = %self.sub.name, error = %e, batch = indices.len(), "call failed");
                    if let [only] = indices.as_slice() {
                        let seq = deliveries[*only].seq;
                        let fallback = self.on_previous(lane, &events[*only], &e).await?;
                        outcomes[*only] = Some(match fallback {
                            Some((outcome, previous_state)) => {
                                state.extend(previous_state);
                                self.judge(Some(seq));
                                outcome
                            }
                            None => Outcome::Retry(e.to_string()),
                        });
                    } else {
                        // Which event caused it is unknown: run them again one by one.
                        self.single_until = deliveries.last().map(|d| d.seq);
                    }
                }
            }
        }
        let memory = self
            .handlers
            .iter()
            .flatten()
            .filter_map(|h| h.memory())
            .sum();
        self.counts.instances(memory, recycles);
        self.settle();
        Ok((outcomes, state))
    }

    /// During probation: runs one event the new version failed on with the
    /// previous version. Its outcome if it handled it; `None` if there is no
    /// previous version or it failed too (a poison event, not a bad version).
    async fn on_previous(
        &mut self,
        lane: usize,
        event: &Event,
        error: &CallError,
    ) -> anyhow::Result<Option<(Outcome, Vec<(String, Option<Vec<u8>>)>)>> {
        let Some(p) = &mut self.probation else {
            return Ok(None);
        };
        let lane = lane.min(p.handlers.len().saturating_sub(1));
        let Some(mut handler) = p.handlers.get_mut(lane).and_then(Option::take) else {
            return Ok(None);
        };
        let batch = vec![event.clone()];
        let (mut handler, result) = tokio::task::spawn_blocking(move || {
            let result = handler.process(&batch);
            (handler, result)
        })
        .await?;
        let state = handler.take_state();
        p.handlers[lane] = Some(handler);
        match result {
            Ok(mut o) if o.len() == 1 => {
                p.last_failure = error.to_string();
                tracing::warn!(module = %self.sub.name, id = %event.id, error = %error, "new version failed on an event the previous version handled");
                Ok(o.pop().map(|o| (o, state)))
            }
            _ => Ok(None),
        }
    }

    fn outputs(&self, input: &Event, outputs: Vec<Event>) -> Result<Vec<Event>, String> {
        let outputs = stamp_outputs(&self.sub.name, &self.sub.publish, input, outputs)?;
        if let Some(check) = &self.sub.check {
            crate::check_outputs(check.as_ref(), &outputs)?;
        }
        Ok(outputs)
    }

    /// Counts a failed attempt: the backoff before the next one and the count to
    /// commit into the queue entry, or, when the attempts are used up, the record
    /// for the error queue. The count starts from what the entry recorded, so a
    /// restart (or a swap) does not grant the event its attempts afresh; an
    /// attempt whose batch is not committed (downstream full) is not counted.
    fn retry(
        &self,
        d: &Delivery,
        event: &Event,
        reason: &str,
    ) -> Result<(Duration, Attempts), Box<FailureRecord>> {
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        let before = d.attempts.unwrap_or(Attempts {
            count: 0,
            first_failure_ms: now,
        });
        let count = before.count.saturating_add(1);
        if count >= self.sub.retry.attempts {
            let mut record = self.failure(event, reason, count);
            record.reason = format!("gave up after {count} attempts: {reason}");
            if let Some(first) =
                chrono::DateTime::from_timestamp_millis(before.first_failure_ms as i64)
            {
                record.first_failure = first.to_rfc3339();
            }
            return Err(Box::new(record));
        }
        let backoff = self.sub.retry.backoff(count);
        self.counts.retried();
        tracing::info!(module = %self.sub.name, id = %event.id, attempt = count, ?backoff, %reason, "will retry");
        Ok((backoff, Attempts { count, ..before }))
    }

    fn failure(&self, event: &Event, reason: &str, attempts: u32) -> FailureRecord {
        let now = chrono::Utc::now().to_rfc3339();
        FailureRecord {
            event: cloudevents::to_json(event),
            topic: event.topic.clone(),
            module: self.sub.name.clone(),
            version: self
                .handlers
                .iter()
                .flatten()
                .next()
                .map(|h| h.version().to_owned())
                .unwrap_or_default(),
            reason: reason.to_owned(),
            attempts,
            first_failure: now.clone(),
            last_failure: now,
            replays: FailureRecord::replays_of(event),
            status: Default::default(),
            history: Vec::new(),
        }
    }

    fn unreadable(&self, d: &Delivery, error: &str) -> Vec<u8> {
        let now = chrono::Utc::now().to_rfc3339();
        FailureRecord {
            event: serde_json::value::to_raw_value(
                &serde_json::json!({ "stored_bytes": d.payload.len(), "seq": d.seq }),
            )
            .unwrap_or_default(),
            topic: String::new(),
            module: self.sub.name.clone(),
            version: String::new(),
            reason: error.to_owned(),
            attempts: 0,
            first_failure: now.clone(),
            last_failure: now,
            replays: 0,
            status: Default::default(),
            history: Vec::new(),
        }
        .encode()
    }
}

/// The first 12 hex digits of a version hash, as logs show it.
pub fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}
