//! The printed result: throughput against the native keep-alive baseline with the
//! diagnostics that explain the gap, every round, the latency table per rate and
//! whether [`RATE`] was sustained.

use weft_benches::{WeftBin, median, percentile, thousands};

use crate::run::{Latency, Level, Through};
use crate::{
    BATCH_MAX, Case, EVENTS, LATENCY_FOR, PAUSE_US, PUBLISH_BATCH, PUBLISH_IN_FLIGHT, RATE, ROUNDS,
    SUSTAINED_P99_MS, TICK,
};

pub fn print(bin: &WeftBin, through: &[Vec<Through>], latency: &[Level]) {
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
