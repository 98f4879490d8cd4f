//! Import: mesh topics into the local store, through a durable JetStream consumer.
//!
//! Each import is a durable pull consumer filtered to its topics' subjects. A
//! fetched batch is published locally in one store transaction and only then
//! acknowledged to JetStream: an event is acknowledged after it is durable here,
//! never before, so a crash in between means a redelivery, which the store's
//! deduplication on (source, id) turns into nothing (no subscriber sees it twice).
//!
//! - **Order**: a batch is stored in the order it came; a new session (after a
//!   broken connection) resets the consumer to its acknowledged position, so what
//!   was in flight comes again first, not after the ack wait.
//! - **Full local queues**: the batch is not acknowledged and not fetched past;
//!   the host tells JetStream the work is in progress (so it is not redelivered
//!   elsewhere meanwhile) and tries again until there is room. JetStream holds the
//!   backlog; nothing is refused in a loop.
//! - **Loops**: a message this host exported itself (`Weft-Origin` is its name) is
//!   acknowledged and not imported; what is imported is marked as such, and export
//!   outboxes never take imported events.
//! - **Work shared across hosts**: hosts whose import names the same `group` share
//!   one durable consumer, so each message goes to one of them. A host that dies
//!   holding messages it had not acknowledged leaves them to the others after the
//!   consumer's ack wait. If it had stored them already, the second host handles
//!   them too: local subscribers there see them (at least once across hosts), but
//!   a processor's outputs get the same derived ids on either host, and the
//!   exports' `Nats-Msg-Id` makes JetStream keep one copy.
//! - **What is no event**: a message whose subject or content weft cannot read is
//!   terminated (never redelivered), counted, and its reason shown in the import's
//!   status.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, AckKind, Message};
use futures::StreamExt;
use tokio::sync::watch;
use weft_core::{Event, PublishError, cloudevents};

use crate::config::{ImportConfig, Start};
use crate::run::Shared;
use crate::wire;

/// Most messages fetched (and stored in one transaction) at once.
const BATCH: usize = 256;
/// How long an idle import's pull waits for a message before asking again.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How long an import waits when local queues are full, before trying again.
const FULL_BACKOFF: Duration = Duration::from_millis(200);
/// Backoff after a failed fetch.
const RETRY: Duration = Duration::from_secs(1);

pub struct Importer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) import: ImportConfig,
}

/// The durable consumer's name: one per group, or one per host and import.
pub fn consumer_name(host: &str, import: &ImportConfig) -> String {
    match &import.group {
        Some(g) => format!("weft-group-{g}"),
        None => format!("weft-{}-{}", host.replace('.', "_"), import.name),
    }
}

impl Importer {
    /// Runs until `stop` turns true. Errors only when the local store fails.
    pub async fn run(
        self,
        js: jetstream::Context,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), weft_store::Error> {
        let name = consumer_name(&self.shared.config.name, &self.import);
        let mut consumer: Option<PullConsumer> = None;
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let c = match &consumer {
                Some(c) => c.clone(),
                None => match self.consumer(&js, &name).await {
                    Ok(c) => {
                        consumer = Some(c.clone());
                        c
                    }
                    Err(reason) => {
                        self.error(reason);
                        self.pause(&mut stop, RETRY).await;
                        continue;
                    }
                },
            };
            let messages = tokio::select! {
                m = fetch(&c) => m,
                _ = stop.changed() => continue,
            };
            match messages {
                Ok(m) if m.is_empty() => {}
                Ok(m) => self.store(m, &mut stop).await?,
                Err(reason) => {
                    self.error(reason);
                    // The consumer may be gone (deleted, or the stream recreated).
                    consumer = None;
                    self.pause(&mut stop, RETRY).await;
                }
            }
        }
    }

    /// The durable consumer, made if missing.
    async fn consumer(&self, js: &jetstream::Context, name: &str) -> Result<PullConsumer, String> {
        let stream_name = &self.shared.config.stream.name;
        let stream = js
            .get_stream(stream_name)
            .await
            .map_err(|e| format!("cannot find stream `{stream_name}`: {e}"))?;
        let filters: Vec<String> = self
            .import
            .topics
            .iter()
            .map(|p| self.shared.config.prefix.filter(p))
            .collect();
        let config = pull::Config {
            durable_name: Some(name.to_owned()),
            description: Some(format!("weft import `{}`", self.import.name)),
            deliver_policy: match self.import.start {
                Start::New => DeliverPolicy::New,
                Start::All => DeliverPolicy::All,
            },
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.import.ack_wait,
            filter_subjects: filters.clone(),
            max_ack_pending: 4 * BATCH as i64,
            ..Default::default()
        };
        let mut consumer: PullConsumer = stream
            .get_or_create_consumer(name, config)
            .await
            .map_err(|e| {
                format!("cannot create consumer `{name}` on stream `{stream_name}`: {e}")
            })?;
        // A new session starts again from the first message this host did not
        // acknowledge, in stream order: what the server handed out on a connection
        // that then broke would otherwise come back only after the ack wait,
        // behind later messages. (A group's consumer is shared: its hosts'
        // deliveries are not this host's to reset, and across hosts there is no
        // order to keep.) Needs nats-server 2.14 (consumer reset); an older server
        // refuses it, and then such messages arrive late, still once.
        if self.import.group.is_none()
            && let Err(e) = consumer.reset(None).await
        {
            tracing::warn!(import = %self.import.name, error = %e, "mesh: cannot reset the consumer to its acknowledged position (nats-server older than 2.14?); a message lost in flight will come back after the ack wait");
        }
        if let Ok(info) = consumer.info().await {
            let mut have = info.config.filter_subjects.clone();
            if have.is_empty() && !info.config.filter_subject.is_empty() {
                have.push(info.config.filter_subject.clone());
            }
            let (mut a, mut b) = (have.clone(), filters.clone());
            a.sort();
            b.sort();
            if a != b {
                self.error(format!(
                    "consumer `{name}` exists with subjects {have:?}, this host's import asks for {filters:?}: the hosts of a group must import the same topics"
                ));
            }
        }
        Ok(consumer)
    }

    /// Stores one fetched batch, then acknowledges it.
    async fn store(
        &self,
        messages: Vec<Message>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), weft_store::Error> {
        let limits = cloudevents::Limits { max_events: 1000 };
        let mut events: Vec<Event> = Vec::new();
        let mut take = Vec::new();
        for m in messages {
            let decoded = wire::decode(
                m.subject.as_str(),
                m.headers.as_ref(),
                &m.payload,
                &self.shared.config.prefix,
                &limits,
            );
            match decoded {
                Ok(incoming) if incoming.origin == self.shared.config.name => {
                    self.shared.board.import(&self.import.name, |s| s.own += 1);
                    ack(&m, AckKind::Ack).await;
                }
                Ok(incoming) => {
                    events.extend(incoming.events);
                    take.push(m);
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(import = %self.import.name, %reason, "mesh: message refused");
                    self.shared.board.import(&self.import.name, |s| {
                        s.refused += 1;
                        s.last_error = Some(reason);
                    });
                    ack(&m, AckKind::Term).await;
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        loop {
            match self.shared.hub.publish(events.clone()).await {
                Ok(accepted) => {
                    let dup = accepted.iter().filter(|a| a.duplicate).count() as u64;
                    self.shared.board.import(&self.import.name, |s| {
                        s.imported += accepted.len() as u64 - dup;
                        s.duplicates += dup;
                    });
                    for m in &take {
                        ack(m, AckKind::Ack).await;
                    }
                    return Ok(());
                }
                Err(PublishError::Full(full)) => {
                    // Hold the batch: JetStream keeps the rest, and is told the
                    // work goes on so it does not hand these to another host.
                    self.error(format!("waiting for room: {full}"));
                    for m in &take {
                        ack(m, AckKind::Progress).await;
                    }
                    if *stop.borrow() {
                        return Ok(());
                    }
                    self.pause(stop, FULL_BACKOFF).await;
                }
                Err(PublishError::Store(e)) => return Err(e),
            }
        }
    }

    fn error(&self, reason: String) {
        tracing::warn!(import = %self.import.name, %reason, "mesh: import");
        self.shared
            .board
            .import(&self.import.name, |s| s.last_error = Some(reason));
    }

    async fn pause(&self, stop: &mut watch::Receiver<bool>, wait: Duration) {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// One batch: what the consumer has now, up to [`BATCH`] messages; when it has
/// nothing, the first message to arrive within [`FETCH_WAIT`] and whatever came
/// with it.
///
/// A waiting pull for a whole batch (`batch()`) would hold the first messages
/// until [`BATCH`] arrived or the wait ran out: at a steady 2,000 events/s that
/// was ~80 ms at the median. A pull for what is there (`fetch()`, no wait) never
/// holds anything, and an idle import waits in a pull for one message instead of
/// asking again and again.
async fn fetch(consumer: &PullConsumer) -> Result<Vec<Message>, String> {
    let now = drain(consumer.fetch().max_messages(BATCH).messages().await).await?;
    if !now.is_empty() {
        return Ok(now);
    }
    let mut first = drain(
        consumer
            .batch()
            .max_messages(1)
            .expires(FETCH_WAIT)
            .messages()
            .await,
    )
    .await?;
    if first.is_empty() {
        return Ok(first);
    }
    // What arrived together with the first one goes into the same transaction.
    match drain(consumer.fetch().max_messages(BATCH - 1).messages().await).await {
        Ok(more) => first.extend(more),
        Err(e) => tracing::debug!(error = %e, "mesh: fetching after the first message"),
    }
    Ok(first)
}

/// The messages of one pull request.
async fn drain<E: std::fmt::Display>(
    batch: Result<jetstream::consumer::pull::Batch, E>,
) -> Result<Vec<Message>, String> {
    let mut batch = batch.map_err(|e| format!("cannot fetch: {e}"))?;
    let mut out = Vec::new();
    while let Some(m) = batch.next().await {
        match m {
            Ok(m) => out.push(m),
            Err(e) if out.is_empty() => return Err(format!("cannot fetch: {e}")),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// Acknowledges (or terminates, or extends) one message. A lost acknowledgement
/// only means a redelivery, which deduplication absorbs.
async fn ack(m: &Message, kind: AckKind) {
    if let Err(e) = m.ack_with(kind).await {
        tracing::debug!(error = %e, "mesh: acknowledgement not sent");
    }
}
