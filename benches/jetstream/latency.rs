//! The latency phase's common ground, so weft and JetStream are paced, timed and
//! counted the same way: one clock (events carry their send time), one pacing of
//! sends at [`RATE`], one rule for a publish that is not acknowledged in time.

use std::time::Duration;

use weft_benches::order_json;

use crate::{LATENCY_FOR, RATE};

/// One system's latency phase.
pub struct Latency {
    pub sent: usize,
    pub delivered: usize,
    pub rate: f64,
    /// publish → delivery, ms, sorted.
    pub e2e: Vec<f64>,
    /// publish → acknowledgement, ms, sorted.
    pub ack: Vec<f64>,
    /// Publishes not acknowledged (within [`ACK_WAIT`]), and the first such failure.
    pub failed: usize,
    pub first_failure: Option<String>,
    /// The server's CPU per event, filled in by the caller, who reads it around
    /// the whole phase.
    pub cpu_us: f64,
}

impl Latency {
    /// `sent` events paced at `rate`, of which `e2e` (ms, any order) were delivered;
    /// `acks` as [`ack_latencies`] gives them.
    pub fn new(sent: usize, rate: f64, mut e2e: Vec<f64>, acks: Acks) -> Self {
        let (ack, failed, first_failure) = acks;
        e2e.sort_by(f64::total_cmp);
        Self {
            sent,
            delivered: e2e.len(),
            rate,
            e2e,
            ack,
            failed,
            first_failure,
            cpu_us: f64::NAN,
        }
    }
}

/// How long a latency-phase publish may wait for its acknowledgement; a later
/// one counts as failed (an overloaded server, not a benchmark error).
pub const ACK_WAIT: Duration = Duration::from_secs(10);

pub type Sends = Vec<tokio::task::JoinHandle<anyhow::Result<f64>>>;

/// Acknowledgement latencies (ms, sorted), how many publishes failed, the first failure.
pub type Acks = (Vec<f64>, usize, Option<String>);

/// Paced sends: `f(i)` at `start + i / RATE`; returns the tasks and the send rate.
pub async fn paced<F, Fut>(mut f: F) -> (Sends, f64)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<f64>> + Send + 'static,
{
    let n = RATE * LATENCY_FOR.as_secs();
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / RATE)).await;
        let send = f(i);
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(ACK_WAIT, send)
                .await
                .map_err(|_| anyhow::anyhow!("no acknowledgement within {ACK_WAIT:?}"))?
        }));
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    (tasks, rate)
}

/// The acknowledgement latencies (ms, sorted), and the first failure with their count.
pub async fn ack_latencies(tasks: Sends) -> anyhow::Result<Acks> {
    let mut out = Vec::with_capacity(tasks.len());
    let (mut failed, mut first) = (0, None);
    for t in tasks {
        match t.await? {
            Ok(ms) => out.push(ms),
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    out.sort_by(f64::total_cmp);
    Ok((out, failed, first))
}

/// Added to send times so they always have 20 digits (JSON numbers cannot start with 0).
pub const STAMP_BASE: u64 = 10_000_000_000_000_000_000;

/// A 1 KiB JSON event carrying its send time: `{"t":<20 digits>,"cust":...}`.
pub fn stamped_json(i: u64, t: u64) -> String {
    let order = order_json(i);
    let head = format!("{{\"t\":{},", STAMP_BASE + t);
    // Drop as much of the padding at the end of "note" as the stamp adds.
    let keep = order.len() - 2 - head.len() + 1;
    let s = format!("{head}{}\"}}", &order[1..keep]);
    debug_assert_eq!(s.len(), weft_benches::EVENT_BYTES);
    s
}

/// The send time in a [`stamped_json`] payload.
pub fn stamp(payload: &[u8]) -> Option<u64> {
    let t: u64 = std::str::from_utf8(payload.get(5..25)?)
        .ok()?
        .parse()
        .ok()?;
    t.checked_sub(STAMP_BASE)
}
