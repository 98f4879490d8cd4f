//! The mesh benchmark's printed result: per server setting, the medians of the
//! throughput rounds with the ratio to plain JetStream, the latency rounds, the CPU
//! per event of each process, and whether the goals were met.

use weft_benches::{ROUNDS, WeftBin, median, percentile, thousands};

use crate::{
    BATCH, JS_IN_FLIGHT, LATENCY_FOR, LatencyRound, P99_GOAL_MS, PUBLISH, RATE, Setting,
    THROUGHPUT_GOAL, Throughput, WEFT_IN_FLIGHT,
};

pub fn print(bin: &WeftBin, nats_version: &str, settings: &[Setting]) {
    println!();
    println!(
        "mesh A -> NATS JetStream {nats_version} -> B, {} B events, median of {ROUNDS} rounds",
        weft_benches::EVENT_BYTES
    );
    println!(
        "throughput: publish for {PUBLISH:?}, timed until the far side has all; mesh: \
         {BATCH}-event requests to A, {WEFT_IN_FLIGHT} in flight, until B imported all; \
         JetStream: {JS_IN_FLIGHT} publish acks outstanding, one consumer fetching {BATCH} (AckAll)"
    );
    println!(
        "latency: {} events/s for {LATENCY_FOR:?} per round, one event per publish (mesh: HTTP \
         request to A -> SSE stream on B; JetStream: publish, ack awaited -> consumer.messages())",
        thousands(RATE as f64)
    );
    println!("weft: {}", bin.path.display());
    if !bin.release {
        println!("WARNING: a debug build of weft; run `cargo build --release -p weft` first");
    }
    for s in settings {
        println!();
        println!("nats-server with {}", s.label);
        println!(
            "{:<28} {:>10} {:>10} {:>10} {:>10}",
            "throughput", "events/s", "A µs/ev", "B µs/ev", "NATS µs/ev"
        );
        row("mesh A -> B", &s.mesh);
        row("JetStream publish->consume", &s.js);
        let ratio = rate(&s.mesh) / rate(&s.js);
        let list = |v: &[Throughput]| {
            v.iter()
                .map(|t| thousands(t.rate))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("rounds: mesh {} | JetStream {}", list(&s.mesh), list(&s.js));
        println!(
            "{:<28} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "latency (median of rounds)",
            "p50 ms",
            "p99 ms",
            "worst p99",
            "delivered",
            "A µs/ev",
            "B µs/ev",
            "NATS µs/ev"
        );
        latency_row("mesh A -> B", &s.mesh_latency);
        latency_row("JetStream", &s.js_latency);
        let p99 = p99(&s.mesh_latency);
        let all = s
            .mesh_latency
            .iter()
            .all(|r| r.latency.delivered == r.latency.sent && r.latency.failed == 0);
        println!(
            "goal: throughput >= {THROUGHPUT_GOAL}x plain JetStream: {} ({ratio:.2}x)",
            if ratio >= THROUGHPUT_GOAL {
                "met"
            } else {
                "MISSED"
            }
        );
        println!(
            "goal: p99 <= {P99_GOAL_MS} ms at {} events/s: {} ({p99:.2} ms{})",
            thousands(RATE as f64),
            if p99 <= P99_GOAL_MS && all {
                "met"
            } else {
                "MISSED"
            },
            if all {
                ""
            } else {
                ", some events not delivered"
            }
        );
        for r in s.mesh_latency.iter().chain(&s.js_latency) {
            if let Some(why) = &r.latency.first_failure {
                println!("{} publishes failed, first: {why}", r.latency.failed);
            }
        }
    }
}

fn rate(v: &[Throughput]) -> f64 {
    median(&v.iter().map(|t| t.rate).collect::<Vec<_>>())
}

fn cpu(v: impl Iterator<Item = f64> + Clone) -> String {
    let v: Vec<f64> = v.collect();
    let m = median(&v);
    if m.is_nan() {
        "-".into()
    } else {
        format!("{m:.1}")
    }
}

fn row(label: &str, v: &[Throughput]) {
    println!(
        "{label:<28} {:>10} {:>10} {:>10} {:>10}",
        thousands(rate(v)),
        cpu(v.iter().map(|t| t.a)),
        cpu(v.iter().map(|t| t.b)),
        cpu(v.iter().map(|t| t.nats)),
    );
}

/// The median over rounds of each round's p99.
fn p99(v: &[LatencyRound]) -> f64 {
    median(
        &v.iter()
            .map(|r| percentile(&r.latency.e2e, 99.0))
            .collect::<Vec<_>>(),
    )
}

fn latency_row(label: &str, v: &[LatencyRound]) {
    let p50 = median(
        &v.iter()
            .map(|r| percentile(&r.latency.e2e, 50.0))
            .collect::<Vec<_>>(),
    );
    let worst = v
        .iter()
        .map(|r| percentile(&r.latency.e2e, 99.0))
        .fold(f64::NAN, f64::max);
    let delivered: usize = v.iter().map(|r| r.latency.delivered).sum();
    let sent: usize = v.iter().map(|r| r.latency.sent).sum();
    println!(
        "{label:<28} {p50:>10.2} {:>10.2} {worst:>10.2} {:>10} {:>10} {:>10} {:>10}",
        p99(v),
        format!("{delivered}/{sent}"),
        cpu(v.iter().map(|r| r.cpu.a)),
        cpu(v.iter().map(|r| r.cpu.b)),
        cpu(v.iter().map(|r| r.cpu.nats)),
    );
}
