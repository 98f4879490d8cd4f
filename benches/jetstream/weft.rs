//! The weft side: a real `weft run` host over HTTP, as a client of its ingest and
//! of its `sink` pull subscription would use it, so its numbers compare with what
//! a JetStream client gets from the same calls.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use weft_benches::now_us;
use weft_tests::Host;

use crate::latency::{ACK_WAIT, Latency, STAMP_BASE, ack_latencies, paced, stamp, stamped_json};
use crate::load::Load;
use crate::{BATCH, LATENCY_FOR, RATE, TOPIC, WEFT_IN_FLIGHT};

/// Events acknowledged (202) by weft in `length`, in batch requests of [`BATCH`],
/// [`WEFT_IN_FLIGHT`] at a time.
pub async fn publish(host: &Host, load: &Load, length: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + length;
    let url = host.url(&format!("/v1/events/{TOPIC}"));
    let tasks: Vec<_> = (0..WEFT_IN_FLIGHT)
        .map(|_| {
            let (client, url, data, ids) = (
                host.http.clone(),
                url.clone(),
                load.data.clone(),
                load.ids.clone(),
            );
            tokio::spawn(async move {
                let mut acked = 0u64;
                while Instant::now() < deadline {
                    let first = ids.fetch_add(BATCH as u64, Ordering::Relaxed);
                    weft_benches::publish_batch(&client, &url, &data, first, BATCH).await?;
                    acked += BATCH as u64;
                }
                anyhow::Ok(acked)
            })
        })
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    Ok(acked)
}

/// The number of deliveries in a pull response and the highest `seq`, found
/// without parsing the events (the JetStream client does not decode payloads either).
fn scan_page(body: &str) -> (u64, u64) {
    let (mut count, mut last) = (0, 0);
    for (at, _) in body.match_indices("\"seq\":") {
        let digits: String = body[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(seq) = digits.parse::<u64>() {
            count += 1;
            last = last.max(seq);
        }
    }
    (count, last)
}

/// Consumes `expected` events from weft's `sink` subscription: pull [`BATCH`],
/// acknowledge up to the last, repeat.
pub async fn consume(host: &Host, expected: u64) -> anyhow::Result<()> {
    let pull = host.url(&format!("/v1/subscriptions/sink/events?max={BATCH}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut got = 0;
    while got < expected {
        let response = host.http.get(&pull).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            bail!("pull: {status}: {body}");
        }
        let (count, last) = scan_page(&body);
        if count == 0 {
            if Instant::now() > deadline {
                bail!("weft delivered {got} of {expected} events");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        }
        let ack = host
            .http
            .post(host.url(&format!("/v1/subscriptions/sink/ack?upto={last}")))
            .send()
            .await?;
        if !ack.status().is_success() {
            bail!("ack: {}: {}", ack.status(), ack.text().await?);
        }
        got += count;
    }
    if got != expected {
        bail!("weft delivered {got} events, {expected} were published");
    }
    Ok(())
}

/// Publish → delivery at [`RATE`]/s through weft: one event per HTTP request
/// (binary mode) to `from`, delivered over the `sink` subscription's SSE stream
/// of `to` (the same host, or the one across the mesh). The reader
/// acknowledges as it goes (`POST .../ack?upto=`, the latest id, one at a time),
/// since the stream only ever looks at the first 1,000 queued events.
pub async fn latency(from: &Host, to: &Host, load: &Load) -> anyhow::Result<Latency> {
    let n = (RATE * LATENCY_FOR.as_secs()) as usize;
    // No overall timeout on the stream.
    let sse = reqwest::Client::builder().build()?;
    let response = sse
        .get(to.url("/v1/subscriptions/sink/stream"))
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("stream: {}", response.status());
    }
    let (ack_tx, mut ack_rx) = tokio::sync::watch::channel(0u64);
    let acker = {
        let (client, base) = (to.http.clone(), to.url("/v1/subscriptions/sink/ack"));
        tokio::spawn(async move {
            while ack_rx.changed().await.is_ok() {
                let upto = *ack_rx.borrow_and_update();
                let r = client.post(format!("{base}?upto={upto}")).send().await;
                if let Ok(r) = r {
                    let _ = r.bytes().await;
                }
            }
        })
    };
    let reader = tokio::spawn(async move {
        let mut e2e = Vec::with_capacity(n);
        let mut body = response.bytes_stream();
        let mut buf: Vec<u8> = Vec::new();
        let end = Instant::now() + LATENCY_FOR + ACK_WAIT;
        while e2e.len() < n {
            let chunk = match tokio::time::timeout_at(end.into(), body.next()).await {
                Ok(Some(c)) => c?,
                Ok(None) | Err(_) => break,
            };
            buf.extend_from_slice(&chunk);
            while let Some(at) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..at + 2).collect();
                let text = String::from_utf8_lossy(&block);
                let mut seq = None;
                let mut data = None;
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        seq = v.trim().parse::<u64>().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                let (Some(seq), Some(data)) = (seq, data) else {
                    continue; // keep-alive
                };
                let received = now_us();
                let event: serde_json::Value = serde_json::from_str(&data)?;
                let sent = match &event["data"] {
                    serde_json::Value::String(s) => stamp(s.as_bytes()),
                    v => v["t"].as_u64().and_then(|t| t.checked_sub(STAMP_BASE)),
                }
                .context("an event without a send time")?;
                e2e.push(received.saturating_sub(sent) as f64 / 1000.0);
                let _ = ack_tx.send(seq);
            }
        }
        anyhow::Ok(e2e)
    });

    let (client, url) = (from.http.clone(), from.url(&format!("/v1/events/{TOPIC}")));
    let (tasks, rate) = paced(|i| {
        let (client, url) = (client.clone(), url.clone());
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        async move {
            let t = now_us();
            let response = client
                .post(&url)
                .header("ce-specversion", "1.0")
                .header("ce-id", format!("o-{id}"))
                .header("ce-source", "/bench")
                .header("ce-type", "bench.order")
                .header("content-type", "application/json")
                .body(stamped_json(i, t))
                .send()
                .await?;
            let status = response.status();
            let body = response.bytes().await?;
            if status != reqwest::StatusCode::ACCEPTED {
                bail!("{status}: {}", String::from_utf8_lossy(&body));
            }
            Ok((now_us() - t) as f64 / 1000.0)
        }
    })
    .await;
    let acks = ack_latencies(tasks).await?;
    let e2e = reader.await??;
    acker.abort();
    // Anything the reader missed stays queued: acknowledge it away.
    to.drain("sink").await;
    Ok(Latency::new(n, rate, e2e, acks))
}
