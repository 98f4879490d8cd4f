//! Egress through the `http-post` connector to a local HTTP sink, against a native
//! Rust client posting the same events to the same sink, in the same run.
//!
//! The sink is an axum server in this process on loopback: it answers every POST
//! with an empty 200 and records when each event arrived, by its
//! `Idempotency-Key` (the event id; every 64th body is parsed and checked against
//! it). One real `weft run` host (the release binary) loads the `http-post`
//! connector twice, each with `delivery.batch_max = 64` and the sink's origin in
//! `[http] allow`:
//!
//! - `one`: one lane (the default: delivery in order);
//! - `two`: `workers = 2`, `key = "id"`: two instances delivering in parallel.
//!
//! Throughput: [`EVENTS`] 1 KiB events are published in batch requests of
//! [`PUBLISH_BATCH`] ([`PUBLISH_IN_FLIGHT`] in flight, as fast as ingest takes
//! them); the rate is delivered events/s at the sink from the first delivery to
//! the last. Baselines, on the same events and sink: `reqwest` posting the same
//! structured CloudEvent body with the same headers, one request per event,
//! sequentially as the connector does, over one kept-alive connection, and again
//! with a new connection per request (what the host's outbound HTTP does today).
//!
//! Latency: [`RATE`] events/s, paced as batch requests every [`TICK`], for
//! [`LATENCY_FOR`], through the one-lane connector; per event, the time from the
//! publish request's send to the event's arrival at the sink (p50, p99, max). A
//! rate counts as sustained when everything arrived with a p99 under a second (no
//! backlog building up); if [`RATE`] is not, lower rates (70% of what got
//! through) are measured too, at most [`LATENCY_LEVELS`] in all, and the two-lane
//! connector at [`RATE`]. A round that delivers less than [`BEYOND`] of its rate
//! is the last at that rate.
//!
//! Needs the binary: `cargo build --release -p weft`, then
//! `cargo bench -p weft-benches --bench egress` (or `scripts/bench.sh --bench egress`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use weft_benches::{WeftBin, cpu_us, median, order_json, percentile, thousands};
use weft_tests::Host;

/// Rounds per case (each case's rounds are interleaved with the others').
const ROUNDS: usize = 3;
/// Events per throughput round.
const EVENTS: u64 = 20_000;
/// Events per warm-up round of each case.
const WARMUP_EVENTS: u64 = 1_000;
/// Events per publish request in the throughput rounds, and requests in flight.
const PUBLISH_BATCH: usize = 100;
const PUBLISH_IN_FLIGHT: usize = 4;
/// The connector's `delivery.batch_max`.
const BATCH_MAX: usize = 64;
/// Offered load of the latency rounds, events/s.
const RATE: u64 = 5_000;
/// One publish request per tick in the latency rounds.
const TICK: Duration = Duration::from_millis(10);
const LATENCY_FOR: Duration = Duration::from_secs(10);
/// How long the sink waits for the last delivery of a round.
const DRAIN: Duration = Duration::from_secs(60);
/// A rate is sustained when everything arrived and 99% of it within this (no
/// backlog building up).
const SUSTAINED_P99_MS: f64 = 1_000.0;
/// A latency round delivering less than this share of the offered rate ends the
/// rounds at that rate (the backlog takes long to drain and the answer is clear).
const BEYOND: f64 = 0.8;
/// Rates tried through the one-lane connector: [`RATE`], then lower ones while
/// not sustained.
const LATENCY_LEVELS: usize = 3;
/// A gap between two arrivals at least this long (µs) counts as a pause.
const PAUSE_US: u64 = 1_000;
/// Distinct event data cycled through.
const DISTINCT: usize = 1024;

fn main() -> anyhow::Result<()> {
    let bin = match weft_benches::weft_bin() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("egress benchmark: {e}");
            std::process::exit(2);
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(bin))
}

/// Microseconds since the first call: the one clock publisher and sink share.
fn now_us() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// The local HTTP endpoint: answers 200 at once, records (event number, arrival µs).
#[derive(Default)]
struct Sink {
    arrivals: Mutex<Vec<(u64, u64)>>,
    count: AtomicU64,
    /// Requests without a usable key, or whose body did not match it.
    bad: Mutex<Option<String>>,
}

async fn receive(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let at = now_us();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(n) = key.strip_prefix("o-").and_then(|n| n.parse::<u64>().ok()) else {
        sink.bad
            .lock()
            .unwrap()
            .get_or_insert_with(|| format!("a request without an idempotency key: {headers:?}"));
        return StatusCode::BAD_REQUEST;
    };
    if n % BATCH_MAX as u64 == 0 {
        // A sample of the bodies: the structured CloudEvent of this very event.
        let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let fine =
            event["id"] == key && event["specversion"] == "1.0" && event["data"]["country"] == "DE";
        if !fine {
            sink.bad.lock().unwrap().get_or_insert_with(|| {
                format!(
                    "key {key}, body {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )
            });
        }
    }
    sink.arrivals.lock().unwrap().push((n, at));
    sink.count.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// What arrived in a round: one arrival per event (the first), sorted by event.
struct Arrivals {
    first_event: u64,
    events: Vec<(u64, u64)>,
    /// Requests for an event that had already arrived.
    repeats: usize,
}

impl Arrivals {
    /// Events/s from the first arrival to the last.
    fn rate(&self) -> f64 {
        let (lo, hi) = self
            .events
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), &(_, t)| (lo.min(t), hi.max(t)));
        if self.events.len() < 2 || hi <= lo {
            return f64::NAN;
        }
        (self.events.len() - 1) as f64 / ((hi - lo) as f64 / 1e6)
    }

    /// The share of the time from the first arrival to the last spent in gaps of
    /// at least [`PAUSE_US`] between consecutive arrivals: with a backlog, the
    /// time between one batch's last request and the next batch's first.
    fn paused(&self) -> (f64, usize) {
        let mut times: Vec<u64> = self.events.iter().map(|&(_, t)| t).collect();
        times.sort_unstable();
        let (Some(first), Some(last)) = (times.first(), times.last()) else {
            return (f64::NAN, 0);
        };
        let (sum, count) = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .filter(|&gap| gap >= PAUSE_US)
            .fold((0, 0), |(sum, count), gap| (sum + gap, count + 1));
        (sum as f64 / (last - first).max(1) as f64, count)
    }
}

impl Sink {
    /// Forgets earlier rounds.
    fn reset(&self) {
        self.arrivals.lock().unwrap().clear();
        self.count.store(0, Ordering::Relaxed);
    }

    /// Waits until events `first..first + n` all arrived (or [`DRAIN`] passed).
    async fn collect(&self, first: u64, n: u64) -> anyhow::Result<Arrivals> {
        let deadline = Instant::now() + DRAIN;
        loop {
            if self.count.load(Ordering::Relaxed) >= n {
                let got = self.take(first, n, false);
                if got.events.len() as u64 >= n {
                    break;
                }
            }
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if let Some(bad) = self.bad.lock().unwrap().take() {
            bail!("the sink got a bad request: {bad}");
        }
        Ok(self.take(first, n, true))
    }

    fn take(&self, first: u64, n: u64, clear: bool) -> Arrivals {
        let mut all = if clear {
            std::mem::take(&mut *self.arrivals.lock().unwrap())
        } else {
            self.arrivals.lock().unwrap().clone()
        };
        all.retain(|(e, _)| (first..first + n).contains(e));
        all.sort_unstable();
        let before = all.len();
        all.dedup_by_key(|(e, _)| *e);
        Arrivals {
            first_event: first,
            repeats: before - all.len(),
            events: all,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    WeftOne,
    WeftTwo,
    NativeKeepAlive,
    NativeNewConnection,
}

impl Case {
    const ALL: [Case; 4] = [
        Case::WeftOne,
        Case::WeftTwo,
        Case::NativeKeepAlive,
        Case::NativeNewConnection,
    ];

    fn label(self) -> &'static str {
        match self {
            Case::WeftOne => "weft http-post, 1 lane",
            Case::WeftTwo => "weft http-post, 2 lanes (key id)",
            Case::NativeKeepAlive => "native reqwest, keep-alive",
            Case::NativeNewConnection => "native reqwest, new conn/request",
        }
    }

    /// The connector module and its topic, for the weft cases.
    fn module(self) -> Option<(&'static str, &'static str, usize)> {
        match self {
            Case::WeftOne => Some(("one", "bench/one/orders", 1)),
            Case::WeftTwo => Some(("two", "bench/two/orders", 2)),
            _ => None,
        }
    }
}

/// One throughput round.
#[derive(Default)]
struct Through {
    /// Delivered events/s at the sink.
    rate: f64,
    /// Events/s the host acknowledged on ingest (weft cases).
    ingest: f64,
    /// The host's CPU per delivered event, µs (weft cases).
    cpu: f64,
    /// The share of the delivery time in pauses (see [`Arrivals::paused`]), and
    /// how many there were.
    paused: f64,
    pauses: usize,
    missing: u64,
    repeats: usize,
}

/// One latency round.
struct Latency {
    sent: u64,
    /// Events/s actually sent (the pacing may fall behind).
    send_rate: f64,
    delivered: usize,
    /// Events/s delivered from the first arrival to the last.
    delivery_rate: f64,
    /// See [`Arrivals::paused`]; includes idle time when there is no backlog.
    paused: f64,
    /// Publish send → sink arrival, ms, sorted.
    e2e: Vec<f64>,
    /// Publish send → 202, ms, sorted.
    ack: Vec<f64>,
    failed: usize,
    first_failure: Option<String>,
    cpu: f64,
}

impl Latency {
    fn sustained(&self) -> bool {
        self.failed == 0
            && self.delivered as u64 == self.sent
            && percentile(&self.e2e, 99.0) < SUSTAINED_P99_MS
    }
}

/// The latency rounds of one connector at one rate.
struct Level {
    case: Case,
    rate: u64,
    rounds: Vec<Latency>,
}

impl Level {
    /// Sustained in most rounds.
    fn held(&self) -> bool {
        self.rounds.iter().filter(|l| l.sustained()).count() * 2 > self.rounds.len()
    }

    fn delivery_rate(&self) -> f64 {
        median(
            &self
                .rounds
                .iter()
                .map(|l| l.delivery_rate)
                .collect::<Vec<_>>(),
        )
    }
}

struct Bench {
    host: Host,
    pid: u32,
    sink: Arc<Sink>,
    url: String,
    data: Arc<Vec<String>>,
    /// Event data parsed once, for the native client's structured bodies.
    values: Vec<serde_json::Value>,
    next: AtomicU64,
    keep_alive: reqwest::Client,
    new_connection: reqwest::Client,
}

fn manifest(port: u16, topic: &str, workers: usize) -> String {
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

async fn bench(bin: WeftBin) -> anyhow::Result<()> {
    let started = Instant::now();
    now_us();
    let sink = Arc::new(Sink::default());
    let addr = weft_tests::serve(
        Router::new()
            .route("/events", post(receive))
            .with_state(sink.clone()),
    )
    .await;

    let wasm = weft_tests::guest("http-post");
    let mut host = Host::new(bin.path.to_str().context("weft path is not UTF-8")?);
    for case in Case::ALL {
        if let Some((name, topic, workers)) = case.module() {
            host.module(name, &wasm, &manifest(addr.port(), topic, workers));
        }
    }
    host.start().await;
    let pid = weft_benches::pid_with_arg(host.dir.path())
        .context("cannot find the weft process in /proc")?;

    let data: Vec<String> = (0..DISTINCT as u64).map(order_json).collect();
    let values = data
        .iter()
        .map(|d| serde_json::from_str(d))
        .collect::<Result<_, _>>()?;
    let b = Bench {
        host,
        pid,
        sink,
        url: format!("http://{addr}/events"),
        data: Arc::new(data),
        values,
        next: AtomicU64::new(0),
        keep_alive: reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()?,
        new_connection: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()?,
    };

    for case in Case::ALL {
        b.throughput(case, WARMUP_EVENTS)
            .await
            .with_context(|| format!("warm-up of {}", case.label()))?;
    }
    let mut through: Vec<Vec<Through>> = Case::ALL.iter().map(|_| Vec::new()).collect();
    for r in 0..ROUNDS {
        // Rotate the order, so no case always runs first.
        for k in 0..Case::ALL.len() {
            let i = (r + k) % Case::ALL.len();
            let case = Case::ALL[i];
            let t = b
                .throughput(case, EVENTS)
                .await
                .with_context(|| format!("round {r} of {}", case.label()))?;
            eprintln!(
                "round {r} {:<34} {:>8} ev/s delivered, {:>4.1}% of the time in {} pauses",
                case.label(),
                thousands(t.rate),
                t.paused * 100.0,
                t.pauses
            );
            through[i].push(t);
        }
    }

    let mut latency: Vec<Level> = Vec::new();
    let mut rate = RATE;
    loop {
        let level = b.level(Case::WeftOne, rate).await?;
        let (held, got_through) = (level.held(), level.delivery_rate());
        latency.push(level);
        if held || latency.len() >= LATENCY_LEVELS {
            break;
        }
        // Again at 70% of what got through, in whole events per tick.
        let step = 1_000_000 / TICK.as_micros() as u64;
        rate = ((got_through.min(rate as f64) * 0.7 / step as f64).floor() as u64 * step).max(step);
    }
    if !latency[0].held() {
        // Whether two lanes carry what one cannot.
        latency.push(b.level(Case::WeftTwo, RATE).await?);
    }

    report(&bin, &through, &latency);
    println!("(took {:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

impl Bench {
    /// The next `n` event numbers (unique across the run: deduplication is on).
    fn ids(&self, n: u64) -> u64 {
        self.next.fetch_add(n, Ordering::Relaxed)
    }

    async fn throughput(&self, case: Case, n: u64) -> anyhow::Result<Through> {
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
                        publish(&client, &url, &data, from, count).await?;
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
    async fn level(&self, case: Case, rate: u64) -> anyhow::Result<Level> {
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
                publish(
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

/// One `application/cloudevents-batch+json` request of events `from..from + count`.
async fn publish(
    client: &reqwest::Client,
    url: &str,
    data: &[String],
    from: u64,
    count: usize,
) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .header("content-type", "application/cloudevents-batch+json")
        .body(weft_benches::batch_body(data, from, count))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("publish: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

fn report(bin: &WeftBin, through: &[Vec<Through>], latency: &[Level]) {
    println!();
    println!(
        "egress to a local HTTP sink (axum, 200 at once), {} B events, connector batch_max {BATCH_MAX}, \
         median of {ROUNDS} rounds",
        weft_benches::EVENT_BYTES
    );
    println!(
        "throughput: {} events per round, published in batch requests of {PUBLISH_BATCH} \
         ({PUBLISH_IN_FLIGHT} in flight); delivered events/s at the sink, first to last arrival; \
         paused: share of that time in gaps >= {PAUSE_US} µs between arrivals",
        thousands(EVENTS as f64)
    );
    println!("weft: {}", bin.path.display());
    if !bin.release {
        println!("WARNING: a debug build of weft; run `cargo build --release -p weft` first");
    }
    let native = median(&through[2].iter().map(|t| t.rate).collect::<Vec<_>>());
    println!(
        "{:<34} {:>10} {:>10} {:>9} {:>14} {:>12} {:>8}",
        "case", "events/s", "vs native", "paused", "host µs CPU/ev", "ingest ev/s", "missing"
    );
    for (case, rounds) in Case::ALL.iter().zip(through) {
        let m = |f: fn(&Through) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
        let rate = m(|t| t.rate);
        let weft = case.module().is_some();
        println!(
            "{:<34} {:>10} {:>9.2}x {:>8.1}% {:>14} {:>12} {:>8}",
            case.label(),
            thousands(rate),
            rate / native,
            m(|t| t.paused) * 100.0,
            if weft {
                format!("{:.1}", m(|t| t.cpu))
            } else {
                "-".into()
            },
            if weft {
                thousands(m(|t| t.ingest))
            } else {
                "-".into()
            },
            rounds
                .iter()
                .map(|t| format!("{}", t.missing))
                .collect::<Vec<_>>()
                .join("/")
        );
    }
    for (case, rounds) in Case::ALL.iter().zip(through) {
        let repeats: usize = rounds.iter().map(|t| t.repeats).sum();
        println!(
            "rounds {}: {}{}",
            case.label(),
            rounds
                .iter()
                .map(|t| thousands(t.rate))
                .collect::<Vec<_>>()
                .join(" "),
            if repeats > 0 {
                format!(" ({repeats} repeated deliveries)")
            } else {
                String::new()
            }
        );
    }
    println!();
    println!(
        "latency: batch requests every {TICK:?} for {LATENCY_FOR:?}; \
         publish send -> sink arrival, ms; median of the rounds (up to {ROUNDS}; one when far beyond capacity)"
    );
    println!(
        "{:>6} {:>8} {:>9} {:>12} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "lanes",
        "offered",
        "sent/s",
        "delivered",
        "deliv ev/s",
        "paused",
        "p50",
        "p99",
        "max",
        "ack p50",
        "ack p99",
        "µs CPU/ev",
        "sustained"
    );
    for Level { case, rate, rounds } in latency {
        let m = |f: &dyn Fn(&Latency) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
        println!(
            "{:>6} {:>8} {:>9} {:>12} {:>12} {:>7.1}% {:>8.2} {:>8.2} {:>8.1} {:>8.2} {:>8.2} {:>10.1} {:>10}",
            case.module().map_or(0, |(_, _, lanes)| lanes),
            thousands(*rate as f64),
            thousands(m(&|l| l.send_rate)),
            rounds
                .iter()
                .map(|l| if l.delivered as u64 == l.sent {
                    "all".to_string()
                } else {
                    format!("{}", l.delivered)
                })
                .collect::<Vec<_>>()
                .join("/"),
            thousands(m(&|l| l.delivery_rate)),
            m(&|l| l.paused * 100.0),
            m(&|l| percentile(&l.e2e, 50.0)),
            m(&|l| percentile(&l.e2e, 99.0)),
            m(&|l| l.e2e.last().copied().unwrap_or(f64::NAN)),
            m(&|l| percentile(&l.ack, 50.0)),
            m(&|l| percentile(&l.ack, 99.0)),
            m(&|l| l.cpu),
            format!(
                "{}/{}",
                rounds.iter().filter(|l| l.sustained()).count(),
                rounds.len()
            )
        );
    }
    for Level { case, rate, rounds } in latency {
        println!(
            "rounds {} at {}/s: p50 {} | p99 {} | max {}",
            case.label(),
            thousands(*rate as f64),
            rounds
                .iter()
                .map(|l| format!("{:.2}", percentile(&l.e2e, 50.0)))
                .collect::<Vec<_>>()
                .join(" "),
            rounds
                .iter()
                .map(|l| format!("{:.2}", percentile(&l.e2e, 99.0)))
                .collect::<Vec<_>>()
                .join(" "),
            rounds
                .iter()
                .map(|l| format!("{:.1}", l.e2e.last().copied().unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
                .join(" "),
        );
        for l in rounds {
            if let Some(why) = &l.first_failure {
                println!(
                    "  {} events' publishes failed at {}/s, first: {why}",
                    l.failed,
                    thousands(*rate as f64)
                );
            }
        }
    }
    println!("sustained: every event delivered, p99 under {SUSTAINED_P99_MS} ms (in most rounds)");
    for case in [Case::WeftOne, Case::WeftTwo] {
        let tried: Vec<&Level> = latency.iter().filter(|l| l.case == case).collect();
        let Some(at_rate) = tried.iter().find(|l| l.rate == RATE) else {
            continue;
        };
        let lower = tried.iter().find(|l| l.rate < RATE && l.held());
        println!(
            "{}: {} events/s {}",
            case.label(),
            thousands(RATE as f64),
            match (at_rate.held(), lower) {
                (true, _) => "sustained".to_string(),
                (false, Some(l)) =>
                    format!("NOT sustained; {} events/s was", thousands(l.rate as f64)),
                (false, None) if tried.len() > 1 =>
                    "NOT sustained, nor the lower rates tried".into(),
                (false, None) => "NOT sustained".into(),
            }
        );
    }
}
