//! The cases themselves: publishing into the host (or posting natively) and
//! reading back what the sink saw, per throughput round and per latency round.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context as _, bail};
use weft_benches::{cpu_us, median, now_us, percentile, thousands};
use weft_tests::Host;

use crate::sink::Sink;
use crate::{
    BATCH_MAX, BEYOND, Case, DISTINCT, DRAIN, LATENCY_FOR, PUBLISH_BATCH, PUBLISH_IN_FLIGHT,
    ROUNDS, SUSTAINED_P99_MS, TICK,
};

/// One throughput round.
#[derive(Default)]
pub struct Through {
    /// Delivered events/s at the sink.
    pub rate: f64,
    /// Events/s the host acknowledged on ingest (weft cases).
    pub ingest: f64,
    /// The host's CPU per delivered event, µs (weft cases).
    pub cpu: f64,
    /// The share of the delivery time in pauses (see [`Arrivals::paused`]), and
    /// how many there were.
    pub paused: f64,
    pub pauses: usize,
    pub missing: u64,
    pub repeats: usize,
}

/// One latency round.
pub struct Latency {
    pub sent: u64,
    /// Events/s actually sent (the pacing may fall behind).
    pub send_rate: f64,
    pub delivered: usize,
    /// Events/s delivered from the first arrival to the last.
    pub delivery_rate: f64,
    /// See [`Arrivals::paused`]; includes idle time when there is no backlog.
    pub paused: f64,
    /// Publish send → sink arrival, ms, sorted.
    pub e2e: Vec<f64>,
    /// Publish send → 202, ms, sorted.
    pub ack: Vec<f64>,
    pub failed: usize,
    pub first_failure: Option<String>,
    pub cpu: f64,
}

impl Latency {
    pub fn sustained(&self) -> bool {
        self.failed == 0
            && self.delivered as u64 == self.sent
            && percentile(&self.e2e, 99.0) < SUSTAINED_P99_MS
    }
}

/// The latency rounds of one connector at one rate.
pub struct Level {
    pub case: Case,
    pub rate: u64,
    pub rounds: Vec<Latency>,
}

impl Level {
    /// Sustained in most rounds.
    pub fn held(&self) -> bool {
        self.rounds.iter().filter(|l| l.sustained()).count() * 2 > self.rounds.len()
    }

    pub fn delivery_rate(&self) -> f64 {
        median(
            &self
                .rounds
                .iter()
                .map(|l| l.delivery_rate)
                .collect::<Vec<_>>(),
        )
    }
}

pub struct Bench {
    pub host: Host,
    pub pid: u32,
    pub sink: Arc<Sink>,
    pub url: String,
    pub data: Arc<Vec<String>>,
    /// Event data parsed once, for the native client's structured bodies.
    pub values: Vec<serde_json::Value>,
    pub next: AtomicU64,
    pub keep_alive: reqwest::Client,
    pub new_connection: reqwest::Client,
}

pub fn manifest(port: u16, topic: &str, workers: usize) -> String {
    let pattern = format!("{}/>", topic.rsplit_once('/').map_or(topic, |(p, _)| p));
    let lanes = if workers > 1 {
        format!("workers = {workers}\nkey = \"id\"\n")
    } else {
        String::new()
    };
    format!(
        r#"subscribe = ["{pattern}"]
[http]
allow = ["http://127.0.0.1:{port}"]
timeout = "5s"
max_response = "64KiB"
[limits]
memory = "64MiB"
call_timeout = "60s"
[delivery]
batch_max = {BATCH_MAX}
{lanes}[delivery.retry]
attempts = 10
initial = "200ms"
max = "5s"
[config]
url = "http://127.0.0.1:{port}/events"
"#
    )
}

impl Bench {
    /// The next `n` event numbers (unique across the run: deduplication is on).
    fn ids(&self, n: u64) -> u64 {
        self.next.fetch_add(n, Ordering::Relaxed)
    }

    pub async fn throughput(&self, case: Case, n: u64) -> anyhow::Result<Through> {
        let first = self.ids(n);
        self.sink.reset();
        let mut t = Through::default();
        match case.module() {
            Some((_, topic, _)) => {
                let cpu_before = cpu_us(self.pid);
                let start = Instant::now();
                self.publish_all(topic, first, n).await?;
                t.ingest = n as f64 / start.elapsed().as_secs_f64();
                let got = self.sink.collect(first, n).await?;
                t.cpu = match (cpu_before, cpu_us(self.pid)) {
                    (Some(a), Some(b)) => (b - a) / n as f64,
                    _ => f64::NAN,
                };
                t.rate = got.rate();
                (t.paused, t.pauses) = got.paused();
                t.missing = n - got.events.len() as u64;
                t.repeats = got.repeats;
                if t.missing > 0 {
                    eprintln!(
                        "{}: {} of {n} events did not arrive within {DRAIN:?}; errors: {}",
                        case.label(),
                        t.missing,
                        self.host.errors(case.module().unwrap().0).await.len()
                    );
                }
            }
            None => {
                let client = if case == Case::NativeKeepAlive {
                    &self.keep_alive
                } else {
                    &self.new_connection
                };
                self.native(client, first, n).await?;
                let got = self.sink.collect(first, n).await?;
                t.rate = got.rate();
                (t.paused, t.pauses) = got.paused();
                t.missing = n - got.events.len() as u64;
                t.repeats = got.repeats;
            }
        }
        Ok(t)
    }

    /// Publishes events `first..first + n` to `topic` in batch requests,
    /// [`PUBLISH_IN_FLIGHT`] at a time.
    async fn publish_all(&self, topic: &str, first: u64, n: u64) -> anyhow::Result<()> {
        let url = self.host.url(&format!("/v1/events/{topic}"));
        let cursor = Arc::new(AtomicU64::new(first));
        let tasks: Vec<_> = (0..PUBLISH_IN_FLIGHT)
            .map(|_| {
                let (client, url, data, cursor) = (
                    self.host.http.clone(),
                    url.clone(),
                    self.data.clone(),
                    cursor.clone(),
                );
                tokio::spawn(async move {
                    loop {
                        let from = cursor.fetch_add(PUBLISH_BATCH as u64, Ordering::Relaxed);
                        if from >= first + n {
                            return anyhow::Ok(());
                        }
                        let count = (first + n - from).min(PUBLISH_BATCH as u64) as usize;
                        weft_benches::publish_batch(&client, &url, &data, from, count).await?;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await??;
        }
        Ok(())
    }

    /// What the connector does, natively: one POST per event, in order, each the
    /// event as a structured CloudEvent with its `Idempotency-Key`.
    async fn native(&self, client: &reqwest::Client, first: u64, n: u64) -> anyhow::Result<()> {
        for e in first..first + n {
            let id = format!("o-{e}");
            let event = serde_json::json!({
                "specversion": "1.0",
                "id": id,
                "source": "/bench",
                "type": "bench.order",
                "topic": "bench/native/orders",
                "datacontenttype": "application/json",
                "data": self.values[e as usize % DISTINCT],
            });
            let response = client
                .post(&self.url)
                .header("content-type", "application/cloudevents+json")
                .header("idempotency-key", id)
                .body(serde_json::to_vec(&event)?)
                .send()
                .await?;
            let status = response.status();
            response.bytes().await?;
            if !status.is_success() {
                bail!("the sink answered {status}");
            }
        }
        Ok(())
    }

    /// Up to [`ROUNDS`] latency rounds of `case` at `rate`; a round far beyond
    /// capacity is the last.
    pub async fn level(&self, case: Case, rate: u64) -> anyhow::Result<Level> {
        let mut rounds = Vec::new();
        for r in 0..ROUNDS {
            let l = self
                .latency(case, rate)
                .await
                .with_context(|| format!("latency round {r} of {} at {rate}/s", case.label()))?;
            eprintln!(
                "latency {} {rate}/s round {r}: p50 {:.2} ms p99 {:.2} ms, delivered {} ev/s{}",
                case.label(),
                percentile(&l.e2e, 50.0),
                percentile(&l.e2e, 99.0),
                thousands(l.delivery_rate),
                if l.sustained() {
                    ""
                } else {
                    " (not sustained)"
                }
            );
            // Far beyond capacity: more rounds would only take long to drain.
            let beyond = l.delivery_rate < BEYOND * rate as f64;
            rounds.push(l);
            if beyond {
                eprintln!("latency {rate}/s: beyond capacity, no more rounds at this rate");
                break;
            }
        }
        Ok(Level { case, rate, rounds })
    }

    /// `rate` events/s into `case`'s connector for [`LATENCY_FOR`], one batch
    /// request per [`TICK`]; publish send → sink arrival per event.
    async fn latency(&self, case: Case, rate: u64) -> anyhow::Result<Latency> {
        let per_tick = (rate * TICK.as_micros() as u64 / 1_000_000).max(1);
        let ticks = (LATENCY_FOR.as_micros() / TICK.as_micros()) as u64;
        let n = per_tick * ticks;
        let first = self.ids(n);
        self.sink.reset();
        let (_, topic, _) = case.module().context("latency is measured through weft")?;
        let url = self.host.url(&format!("/v1/events/{topic}"));
        let cpu_before = cpu_us(self.pid);
        let start = tokio::time::Instant::now();
        let mut tasks = Vec::with_capacity(ticks as usize);
        for k in 0..ticks {
            tokio::time::sleep_until(start + TICK * k as u32).await;
            let (client, url, data) = (self.host.http.clone(), url.clone(), self.data.clone());
            tasks.push(tokio::spawn(async move {
                let t = now_us();
                weft_benches::publish_batch(
                    &client,
                    &url,
                    &data,
                    first + k * per_tick,
                    per_tick as usize,
                )
                .await?;
                anyhow::Ok((t, now_us() - t))
            }));
        }
        let send_rate = n as f64 / (start.elapsed() + TICK).as_secs_f64();
        let mut sent_at = Vec::with_capacity(tasks.len());
        let mut ack = Vec::with_capacity(tasks.len());
        let (mut failed, mut first_failure) = (0, None);
        for t in tasks {
            match t.await? {
                Ok((at, took)) => {
                    sent_at.push(Some(at));
                    ack.push(took as f64 / 1000.0);
                }
                Err(e) => {
                    sent_at.push(None);
                    failed += per_tick as usize;
                    first_failure.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        ack.sort_by(f64::total_cmp);
        let got = self.sink.collect(first, n).await?;
        let cpu = match (cpu_before, cpu_us(self.pid)) {
            (Some(a), Some(b)) => (b - a) / n as f64,
            _ => f64::NAN,
        };
        let mut e2e: Vec<f64> = got
            .events
            .iter()
            .filter_map(|&(e, at)| {
                let sent = sent_at[((e - got.first_event) / per_tick) as usize]?;
                Some(at.saturating_sub(sent) as f64 / 1000.0)
            })
            .collect();
        e2e.sort_by(f64::total_cmp);
        Ok(Latency {
            sent: n,
            send_rate,
            delivered: got.events.len(),
            delivery_rate: got.rate(),
            paused: got.paused().0,
            e2e,
            ack,
            failed,
            first_failure,
            cpu,
        })
    }
}
