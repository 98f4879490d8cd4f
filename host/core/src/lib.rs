//! weft's core: events, topics, routing, the delivery workers and the readers of
//! queues.
//!
//! An event enters through the [`Hub`] (HTTP ingest, a connector, a processor's
//! output), which routes it by topic to the queues whose patterns match, stores it
//! once in the durable store with a reference in each of those queues, and wakes
//! their readers. A module's queue is read by its [`Worker`], which owns one
//! [`Handler`] per lane (a loaded module), takes batches in order and commits each
//! batch's outcome in one transaction. An outside subscription's queue is read by a
//! [`Consumer`] (the HTTP subscriptions API, a mesh exporter), which hands events
//! out and removes them when they are acknowledged.
//!
//! This crate knows nothing of WebAssembly or HTTP; the runtime implements
//! [`Handler`] and the binary feeds the hub and serves consumers.
//!
//! # Invariants
//!
//! - An event is accepted only once it is durable, and is refused whole, with
//!   nothing stored, when a queue it goes to or the disk has no room: accepted
//!   events are never dropped to make room.
//! - A queue gives its events out in order. A worker keeps that order per lane key
//!   (a retry stops the lane there); a consumer per queue.
//! - Delivery is at least once: an event leaves a queue only when its handling is
//!   committed (a worker: with the outputs, error records and state it produced, in
//!   one transaction) or when its consumer acknowledges it.
//! - A module's outputs get ids derived from the input, so a rerun after a crash
//!   emits the same ids.
//! - An event that fails for good goes to its module's error queue with the reason;
//!   it is never lost silently, and a module whose error queue is full pauses.
//! - Queue names are spelled in one place, [`name`], and are on disk: module
//!   queues by the bare module name, subscriptions' with a prefix.
//! - An event is kept as it was sent: its data is the bytes that arrived (JSON data
//!   as its exact text), its extensions keep their CloudEvents types, and every
//!   string attribute is a CloudEvents String; `hops` and `origin` are weft's own and
//!   never leave in CloudEvents output or reach a guest.
//! - A reply (an event to a reply address, `_reply/...`) is never stored, queued
//!   or shown on a tap: it goes only to the caller waiting for it, and a module
//!   may emit one only to the `replyto` of the event it handles.
//! - A lock poisoned by a panic is never ignored: its data is recovered where it
//!   cannot be half-changed (each site says why), or the caller gets an error.
//!
//! # Layout
//!
//! - [`event`]: the [`Event`] (CloudEvents attributes plus a topic), its stored
//!   form and derived output ids.
//! - [`value`]: the CloudEvents type system: which strings attributes may hold,
//!   typed extension values.
//! - [`cloudevents`]: the CloudEvents HTTP binding and JSON form.
//! - [`excerpt`]: bounded excerpts of what refusals quote (a file's line, a value).
//! - [`topic`]: topics and subscription patterns.
//! - [`name`]: module, subscription and token names, and the queue each owns.
//! - [`route`]: which queues an event on a topic goes to.
//! - [`quota`]: the limits on what may wait (per subscription, on disk) and [`Full`].
//! - [`room`]: whether new events fit where they go, checked before a publish.
//! - [`hub`]: publishing, routing, waking readers, live taps.
//! - [`handler`]: what a module implements for a worker ([`Handler`], [`Outcome`]).
//! - [`worker`]: a module's worker: batches, retries, lanes, hot swap and probation.
//! - [`stamp`]: checking and stamping what modules emit.
//! - [`retry`]: backoff between attempts.
//! - [`failure`]: the error record kept for an event that failed for good.
//! - [`repair`]: finding, replaying and purging error records.
//! - [`consumer`]: reading a queue from outside: pull, stream, acknowledge.
//! - [`counts`]: totals per module and subscription, for status and metrics.
//! - [`reply`]: request-reply: reply addresses and the callers waiting on them.
//! - [`trace`]: the W3C trace context events carry, inherited by module outputs.

pub mod cloudevents;
pub mod consumer;
pub mod counts;
pub mod event;
pub mod excerpt;
pub mod failure;
pub mod handler;
pub mod hub;
pub mod name;
pub mod quota;
pub mod repair;
pub mod reply;
pub mod retry;
pub mod room;
pub mod route;
pub mod secrets;
pub mod stamp;
pub mod topic;
pub mod trace;
pub mod units;
pub mod value;
pub mod worker;

pub use consumer::Consumer;
pub use event::Event;
pub use failure::FailureRecord;
pub use handler::{CallError, Handler, Outcome};
pub use hub::{Accepted, Hub, PublishError};
pub use name::{Name, NameError, QueueOwner};
pub use quota::{DiskQuota, Full, Quota};
pub use retry::RetryPolicy;
pub use stamp::{OutputCheck, check_outputs, stamp_ingress, stamp_outputs};
pub use topic::{Pattern, Patterns, Topic, TopicError};
pub use value::ExtValue;
pub use worker::{Control, PROBATION_EVENTS, ROLLBACK_AFTER, Report, Subscription, Worker, short};
