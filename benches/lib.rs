//! Shared pieces of weft's benchmarks, kept in one place so that a case and its
//! baseline, and one benchmark and the next, measure with the same code: the 1 KiB
//! order event, the timed processing loop and output check of the in-process
//! benchmarks, publishing batches to a host, rounds, medians and percentiles, the
//! clock, the `weft` binary, and a process's resident memory and CPU time.
//!
//! Each benchmark is a plain `main` (`harness = false`) that runs [`ROUNDS`] rounds
//! of every case, its baseline included, and prints the median of the rounds.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;
use weft_core::{CallError, Event, Handler, Outcome};

pub use weft_tests::pid_with_arg;

/// Rounds per case; the median of them is reported.
pub const ROUNDS: usize = 5;

/// Size of an event's data (a JSON object), in bytes.
pub const EVENT_BYTES: usize = 1024;

/// The data of order number `i`: a JSON object of exactly [`EVENT_BYTES`] bytes,
/// `{"cust": ..., "amount": ..., "country": "DE", "note": "<padding>"}`.
pub fn order_json(i: u64) -> String {
    let mut s = format!(
        r#"{{"cust":"customer-{i:08}","amount":{}.5,"country":"DE","note":""#,
        i % 1000
    );
    let pad = EVENT_BYTES.saturating_sub(s.len() + 2);
    // Varied text, so nothing along the way gets an easy ride from repetition.
    const WORDS: &[u8] = b"lorem ipsum dolor sit amet consectetur adipiscing elit ";
    s.extend(
        WORDS
            .iter()
            .cycle()
            .skip((i % WORDS.len() as u64) as usize)
            .take(pad)
            .map(|&b| b as char),
    );
    s.push_str("\"}");
    s
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The `p`th percentile of sorted `v` (nearest rank); NaN when empty.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// `1234567.8` as `1,234,568`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where the `weft` binary was found, and whether it is an optimised build.
#[derive(Debug, Clone)]
pub struct WeftBin {
    pub path: PathBuf,
    pub release: bool,
}

/// The `weft` binary to benchmark: `$WEFT_BIN`, else `<target>/release/weft`, else
/// `<target>/debug/weft` (flagged: its numbers mean little). Benchmarks cannot use
/// `CARGO_BIN_EXE_*`, and building it from here would fight `cargo bench` for the
/// build lock, so it must be built first.
pub fn weft_bin() -> Result<WeftBin, String> {
    if let Some(path) = std::env::var_os("WEFT_BIN") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(WeftBin {
                release: !path.components().any(|c| c.as_os_str() == "debug"),
                path,
            })
        } else {
            Err(format!("WEFT_BIN={} is not a file", path.display()))
        };
    }
    let target = weft_tests::target_dir();
    for (profile, release) in [("release", true), ("debug", false)] {
        let path = target.join(profile).join("weft");
        if path.is_file() {
            return Ok(WeftBin { path, release });
        }
    }
    Err(format!(
        "no weft binary in {}/release or {}/debug: build it first with \
         `cargo build --release -p weft` (same CARGO_TARGET_DIR), or set WEFT_BIN",
        target.display(),
        target.display()
    ))
}

/// The value of a prerequisite (the `weft` or `nats-server` binary); without it,
/// says why and exits with status 2, so a missing prerequisite reads as one and not
/// as a failed benchmark.
pub fn or_exit<T, E: std::fmt::Display>(bench: &str, prerequisite: Result<T, E>) -> T {
    match prerequisite {
        Ok(value) => value,
        Err(e) => {
            eprintln!("{bench} benchmark: {e}");
            std::process::exit(2);
        }
    }
}

/// The runtime the benchmarks that load a host run on: tokio's default
/// multi-threaded one, so load generation uses both cores as a client would.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// Microseconds since the first call: the one clock an event's sender and its
/// receiver share (both run in the benchmark's process), so a send time carried
/// in an event or noted at publishing compares with an arrival time.
pub fn now_us() -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(std::time::Instant::now)
        .elapsed()
        .as_micros() as u64
}

/// Publishes events `first..first + count` in one
/// `application/cloudevents-batch+json` request (see [`batch_body`]); only a 202,
/// the host's promise that the events are stored durably, counts.
pub async fn publish_batch(
    client: &reqwest::Client,
    url: &str,
    data: &[String],
    first: u64,
    count: usize,
) -> anyhow::Result<()> {
    let response = client
        .post(url)
        .header("content-type", "application/cloudevents-batch+json")
        .body(batch_body(data, first, count))
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    if status != reqwest::StatusCode::ACCEPTED {
        anyhow::bail!("publish: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// A field of `/proc/PID/status` in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// User + system CPU time of process `pid` so far, in microseconds
/// (`/proc/PID/stat`, in clock ticks of `getconf CLK_TCK`).
pub fn cpu_us(pid: u32) -> Option<f64> {
    static TICK_US: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    let tick_us = *TICK_US.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or(10_000.0, |hz| 1e6 / hz)
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "(comm) ": state is field 3; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * tick_us)
}

/// KiB as MiB, one decimal.
pub fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// `count` structured CloudEvents from id `first` on, as one
/// `application/cloudevents-batch+json` body; event `id` carries `data[id % data.len()]`.
pub fn batch_body(data: &[String], first: u64, count: usize) -> String {
    let Some(sample) = data.first() else {
        return "[]".into();
    };
    let mut body = String::with_capacity(count * (sample.len() + 160) + 2);
    body.push('[');
    for id in first..first + count as u64 {
        if id > first {
            body.push(',');
        }
        body.push_str(r#"{"specversion":"1.0","id":"o-"#);
        body.push_str(&id.to_string());
        body.push_str(
            r#"","source":"/bench","type":"bench.order","datacontenttype":"application/json","data":"#,
        );
        body.push_str(&data[id as usize % data.len()]);
        body.push('}');
    }
    body.push(']');
    body
}

/// Events/s of `handler` over `count` events taken from `events` in batches of
/// `batch`: the worker's view of a processor (a batch of events in, one outcome per
/// event out), shared so a guest and its baseline are timed by the same loop.
pub fn process_rate(
    handler: &mut dyn Handler,
    events: &[Event],
    batch: usize,
    count: usize,
) -> Result<f64, CallError> {
    let chunks: Vec<&[Event]> = events.chunks(batch).collect();
    let start = Instant::now();
    let mut done = 0;
    for chunk in chunks.iter().cycle() {
        if done >= count {
            break;
        }
        let outcomes = handler.process(chunk)?;
        done += black_box(outcomes).len();
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// Order `i` as published on `orders/created`, as a handler receives it.
pub fn order_event(i: u64) -> Event {
    Event {
        id: format!("order-{i}"),
        source: "/bench/shop".into(),
        ty: "shop.order.created".into(),
        subject: None,
        time: None,
        datacontenttype: Some("application/json".into()),
        dataschema: None,
        extensions: Vec::new(),
        topic: "orders/created".into(),
        data: Some(order_json(i).into_bytes()),
        hops: 0,
        origin: None,
    }
}

/// Whether `got` carries the same outputs as `expected`, the baseline's: each
/// event one output with the same topic, content type and JSON data (compared as
/// values, so key order and spacing do not count). Throughputs compare only
/// when the work does.
pub fn check_same(
    name: &str,
    baseline: &str,
    got: &[Outcome],
    expected: &[Outcome],
) -> anyhow::Result<()> {
    anyhow::ensure!(
        got.len() == expected.len(),
        "{name}: {} outcomes",
        got.len()
    );
    for (g, e) in got.iter().zip(expected) {
        let (Outcome::Emit(g), Outcome::Emit(e)) = (g, e) else {
            anyhow::bail!("{name}: {g:?} where {baseline} gave {e:?}");
        };
        anyhow::ensure!(g.len() == 1 && e.len() == 1, "{name}: not one output each");
        let (g, e) = (&g[0], &e[0]);
        anyhow::ensure!(
            g.topic == e.topic && g.datacontenttype == e.datacontenttype,
            "{name}: attributes differ: {g:?} vs {e:?}"
        );
        let gv: Value = serde_json::from_slice(g.data_bytes())?;
        let ev: Value = serde_json::from_slice(e.data_bytes())?;
        anyhow::ensure!(gv == ev, "{name}: data differs:\n{gv}\n{ev}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn orders_are_1_kib_json_objects() {
        for i in [0, 7, 123_456, 99_999_999] {
            let s = order_json(i);
            assert_eq!(s.len(), EVENT_BYTES);
            let v: serde_json::Value = serde_json::from_str(&s).unwrap();
            assert_eq!(v["country"], "DE");
        }
    }

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert!(percentile(&[], 50.0).is_nan());
    }
}
