//! The JetStream side, through `async-nats`: the server process comes from
//! `weft_tests::nats` (shared with tests that run NATS), the client, stream and
//! consumer from here, set up to keep a message until it is acknowledged, as a weft
//! subscription's queue does.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use weft_benches::now_us;
use weft_tests::nats::{NatsServer, SyncInterval};

use crate::latency::{ACK_WAIT, Latency, ack_latencies, paced, stamp, stamped_json};
use crate::load::Load;
use crate::{BATCH, DISTINCT, JS_IN_FLIGHT, LATENCY_FOR, RATE, SUBJECT};

/// A running `nats-server` with JetStream, its stream and pull consumer. Killed on drop.
pub struct Nats {
    pub server: NatsServer,
    pub js: Context,
    pub consumer: PullConsumer,
}

impl Nats {
    pub async fn start(bin: &Path, sync: SyncInterval) -> anyhow::Result<Self> {
        Self::on(NatsServer::start(bin, sync).await?).await
    }

    /// The stream `BENCH` (`bench.>`) and its consumer on `server`, which may carry
    /// other streams too (the mesh's).
    pub async fn on(server: NatsServer) -> anyhow::Result<Self> {
        let client = async_nats::connect(server.url())
            .await
            .with_context(|| format!("connecting to nats-server at {}", server.url()))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(30))
            .max_ack_inflight(JS_IN_FLIGHT * 2)
            .backpressure_on_inflight(true)
            .build(client);
        let stream = js
            .create_stream(stream::Config {
                name: "BENCH".into(),
                subjects: vec!["bench.>".into()],
                storage: StorageType::File,
                retention: RetentionPolicy::Interest,
                ..Default::default()
            })
            .await?;
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("sink".into()),
                ack_policy: AckPolicy::All,
                // Not the limit in the latency phase (weft has none).
                max_ack_pending: 100_000,
                ..Default::default()
            })
            .await?;
        Ok(Self {
            server,
            js,
            consumer,
        })
    }
}

/// Messages acknowledged by JetStream in `length`, one per publish,
/// [`JS_IN_FLIGHT`] acks outstanding.
pub async fn publish(js: &Context, load: &Load, length: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + length;
    let mut pending = FuturesUnordered::new();
    let mut acked = 0u64;
    let mut check = |ack: Result<jetstream::publish::PublishAck, _>| -> anyhow::Result<()> {
        let ack: jetstream::publish::PublishAck = ack?;
        if ack.duplicate {
            bail!("JetStream took message {} for a duplicate", ack.sequence);
        }
        acked += 1;
        Ok(())
    };
    while Instant::now() < deadline {
        if pending.len() >= JS_IN_FLIGHT {
            check(pending.next().await.unwrap())?;
            continue;
        }
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        let message = PublishMessage::build()
            .payload(load.bytes[id as usize % DISTINCT].clone())
            .message_id(format!("o-{id}"));
        pending.push(js.send_publish(SUBJECT, message).await?.into_future());
    }
    while let Some(ack) = pending.next().await {
        check(ack)?;
    }
    Ok(acked)
}

/// Consumes `expected` messages: fetch [`BATCH`], `double_ack` the last (AckAll),
/// repeat.
pub async fn consume(consumer: &PullConsumer, expected: u64) -> anyhow::Result<()> {
    let (_, target) = tokio::sync::watch::channel(Some(expected));
    consume_until(consumer, target).await.map(|_| ())
}

/// Consumes until it got the number `target` turns to (it may still be `None`
/// while the publisher runs, so consuming overlaps publishing); returns that number.
pub async fn consume_until(
    consumer: &PullConsumer,
    target: tokio::sync::watch::Receiver<Option<u64>>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = 0;
    loop {
        let expected = *target.borrow();
        if expected.is_some_and(|e| got >= e) {
            break;
        }
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .messages()
            .await
            .map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
        let mut last = None;
        let mut count = 0;
        while let Some(m) = batch.next().await {
            let m = m.map_err(|e| anyhow::anyhow!("fetch: {e}"))?;
            if m.payload.len() != weft_benches::EVENT_BYTES {
                bail!("a message of {} bytes", m.payload.len());
            }
            count += 1;
            last = Some(m);
        }
        match last {
            Some(m) => {
                m.double_ack()
                    .await
                    .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
                got += count;
            }
            None if Instant::now() > deadline => {
                bail!("JetStream delivered {got} of {expected:?} messages")
            }
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    let expected = target.borrow().unwrap_or_default();
    if got != expected {
        bail!("JetStream delivered {got} messages, {expected} were published");
    }
    Ok(got)
}

/// Publish → delivery at [`RATE`]/s through JetStream: one publish per message,
/// its ack awaited; delivered to `consumer.messages()` (pipelined pulls), each
/// message acknowledged.
pub async fn latency(nats: &Nats, load: &Load) -> anyhow::Result<Latency> {
    let n = (RATE * LATENCY_FOR.as_secs()) as usize;
    let mut messages = nats
        .consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("consumer stream: {e}"))?;
    let reader = tokio::spawn(async move {
        let mut e2e = Vec::with_capacity(n);
        let end = Instant::now() + LATENCY_FOR + ACK_WAIT;
        while e2e.len() < n {
            let m = match tokio::time::timeout_at(end.into(), messages.next()).await {
                Ok(Some(m)) => m.map_err(|e| anyhow::anyhow!("consume: {e}"))?,
                Ok(None) | Err(_) => break,
            };
            let received = now_us();
            let sent = stamp(&m.payload).context("a message without a send time")?;
            e2e.push(received.saturating_sub(sent) as f64 / 1000.0);
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        anyhow::Ok(e2e)
    });
    let js = nats.js.clone();
    let (tasks, rate) = paced(|i| {
        let js = js.clone();
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        async move {
            let t = now_us();
            let message = PublishMessage::build()
                .payload(Bytes::from(stamped_json(i, t)))
                .message_id(format!("o-{id}"));
            let ack = js.send_publish(SUBJECT, message).await?.await?;
            if ack.duplicate {
                bail!("JetStream took message {} for a duplicate", ack.sequence);
            }
            Ok((now_us() - t) as f64 / 1000.0)
        }
    })
    .await;
    let acks = ack_latencies(tasks).await?;
    let e2e = reader.await??;
    Ok(Latency::new(n, rate, e2e, acks))
}
