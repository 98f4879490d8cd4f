//! The printed result: the medians side by side with weft's ratio to each
//! JetStream setting, every round (to show the spread), the latency table and
//! whether the goals were met.

use weft_benches::{ROUNDS, WeftBin, median, percentile, thousands};

use crate::latency::Latency;
use crate::{BATCH, Entry, JS_IN_FLIGHT, LATENCY_FOR, P99_GOAL_MS, PUBLISH, RATE, WEFT_IN_FLIGHT};

pub fn print(bin: &WeftBin, nats_version: &str, entries: &[Entry]) {
    println!();
    println!(
        "durable buffering vs NATS JetStream {nats_version}, {} B events, median of {ROUNDS} rounds",
        weft_benches::EVENT_BYTES
    );
    println!(
        "publish ({PUBLISH:?} per round): weft {BATCH}-event batch requests, {WEFT_IN_FLIGHT} in flight \
         ({JS_IN_FLIGHT} events); JetStream 1 message per publish, {JS_IN_FLIGHT} acks outstanding"
    );
    println!(
        "consume: one consumer, batches of {BATCH}, one cumulative ack per batch confirmed before the \
         next fetch (weft GET ?max={BATCH} + POST ack?upto; JetStream fetch {BATCH} + double_ack, AckAll)"
    );
    println!("weft: {}", bin.path.display());
    if !bin.release {
        println!("WARNING: a debug build of weft; run `cargo build --release -p weft` first");
    }
    println!(
        "{:<26} {:>13} {:>13} {:>13} {:>13}",
        "system", "publish ev/s", "consume ev/s", "pub µs CPU/ev", "con µs CPU/ev"
    );
    for e in entries {
        println!(
            "{:<26} {:>13} {:>13} {:>13.1} {:>13.1}",
            e.label,
            thousands(median(&e.publish)),
            thousands(median(&e.consume)),
            median(&e.publish_cpu),
            median(&e.consume_cpu)
        );
    }
    let weft = &entries[0];
    for other in &entries[1..] {
        println!(
            "{:<26} {:>12.2}x {:>12.2}x {:>12.2}x {:>12.2}x",
            format!("weft / {}", other.label.trim_start_matches("JetStream, ")),
            median(&weft.publish) / median(&other.publish),
            median(&weft.consume) / median(&other.consume),
            median(&weft.publish_cpu) / median(&other.publish_cpu),
            median(&weft.consume_cpu) / median(&other.consume_cpu)
        );
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| thousands(*x))
            .collect::<Vec<_>>()
            .join(" ")
    };
    for e in entries {
        println!(
            "rounds {}: publish {} | consume {}",
            e.label,
            list(&e.publish),
            list(&e.consume)
        );
    }
    println!();
    println!(
        "latency at {} events/s for {LATENCY_FOR:?}, one event per publish (weft: HTTP request \
         → SSE stream; JetStream: publish, ack awaited → consumer.messages())",
        thousands(RATE as f64)
    );
    println!(
        "{:<26} {:>9} {:>11} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
        "system",
        "sent/s",
        "acked",
        "delivered",
        "p50 ms",
        "p99 ms",
        "max ms",
        "ack p50",
        "ack p99",
        "µs CPU/ev"
    );
    for e in entries {
        let Some(l) = &e.latency else { continue };
        println!(
            "{:<26} {:>9} {:>11} {:>11} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>9.1}",
            e.label,
            thousands(l.rate),
            format!("{}/{}", l.sent - l.failed, l.sent),
            format!("{}/{}", l.delivered, l.sent),
            percentile(&l.e2e, 50.0),
            percentile(&l.e2e, 99.0),
            l.e2e.last().copied().unwrap_or(f64::NAN),
            percentile(&l.ack, 50.0),
            percentile(&l.ack, 99.0),
            l.cpu_us
        );
    }
    for e in entries {
        if let Some(Latency {
            failed,
            first_failure: Some(why),
            ..
        }) = &e.latency
        {
            println!("{}: {failed} publishes failed, first: {why}", e.label);
        }
    }
    let (w, d) = (median(&weft.publish), median(&entries[1].publish));
    let (wc, dc) = (median(&weft.consume), median(&entries[1].consume));
    println!(
        "goal: weft at or above JetStream (default sync): publish {} ({:.2}x), consume {} ({:.2}x)",
        if w >= d { "met" } else { "MISSED" },
        w / d,
        if wc >= dc { "met" } else { "MISSED" },
        wc / dc
    );
    if let Some(l) = &weft.latency {
        let p99 = percentile(&l.e2e, 99.0);
        println!(
            "goal: weft p99 <= {P99_GOAL_MS} ms at {} events/s: {} ({p99:.2} ms, {}/{} delivered)",
            thousands(RATE as f64),
            if p99 <= P99_GOAL_MS && l.delivered == l.sent && l.failed == 0 {
                "met"
            } else {
                "MISSED"
            },
            l.delivered,
            l.sent
        );
    }
}
