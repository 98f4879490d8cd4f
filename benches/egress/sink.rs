//! The local HTTP endpoint every case delivers to, so the connector and the native
//! client are timed by the same clock at the same place: when each event arrives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use weft_benches::now_us;

use crate::{BATCH_MAX, DRAIN, PAUSE_US};

/// The local HTTP endpoint: answers 200 at once, records (event number, arrival µs).
#[derive(Default)]
pub struct Sink {
    arrivals: Mutex<Vec<(u64, u64)>>,
    count: AtomicU64,
    /// Requests without a usable key, or whose body did not match it.
    bad: Mutex<Option<String>>,
}

pub async fn receive(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> StatusCode {
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
pub struct Arrivals {
    pub first_event: u64,
    pub events: Vec<(u64, u64)>,
    /// Requests for an event that had already arrived.
    pub repeats: usize,
}

impl Arrivals {
    /// Events/s from the first arrival to the last.
    pub fn rate(&self) -> f64 {
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
    pub fn paused(&self) -> (f64, usize) {
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
    pub fn reset(&self) {
        self.arrivals.lock().unwrap().clear();
        self.count.store(0, Ordering::Relaxed);
    }

    /// Waits until events `first..first + n` all arrived (or [`DRAIN`] passed).
    pub async fn collect(&self, first: u64, n: u64) -> anyhow::Result<Arrivals> {
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
