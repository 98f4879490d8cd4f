//! weft's core: events, topics, routing and the delivery workers.
//!
//! An event enters through the [`Hub`] (HTTP ingest, a processor's output), which
//! routes it by topic to the subscriptions whose patterns match, stores it once in
//! the durable store with a reference in each of their queues, and wakes their
//! [`Worker`]s. A worker owns one subscription and one [`Handler`] (a loaded module),
//! takes batches in order, and commits each batch's outcome in one transaction.
//!
//! This crate knows nothing of WebAssembly or HTTP; the runtime implements
//! [`Handler`] and the binary feeds the hub.

pub mod cloudevents;
pub mod consumer;
pub mod event;
pub mod failure;
pub mod handler;
pub mod hub;
pub mod name;
pub mod quota;
pub mod repair;
pub mod retry;
pub mod route;
pub mod topic;
pub mod worker;

pub use consumer::Consumer;
pub use event::Event;
pub use failure::FailureRecord;
pub use handler::{CallError, Handler, Outcome};
pub use hub::{Accepted, Hub, PublishError};
pub use name::{Name, NameError, QueueOwner};
pub use quota::{DiskQuota, Full, Quota};
pub use retry::RetryPolicy;
pub use topic::{Pattern, Patterns, Topic, TopicError};
pub use worker::{
    Control, PROBATION_EVENTS, ROLLBACK_AFTER, Report, Subscription, Worker, short, stamp_ingress,
    stamp_outputs,
};
