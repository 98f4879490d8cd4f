//! `weft publish`, `weft tap` and `weft status`: the host's HTTP API from the command
//! line. Each sends `--token` (or `WEFT_TOKEN`) as a bearer token.

use anyhow::Context as _;
use futures::StreamExt;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// What the CloudEvents HTTP binding says must be percent-encoded in a header value.
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

pub struct Publish {
    pub host: String,
    pub topic: String,
    pub data: Vec<u8>,
    pub ty: String,
    pub source: String,
    pub id: Option<String>,
    pub subject: Option<String>,
    pub content_type: String,
    pub token: Option<String>,
}

/// The request with the caller's token, if any.
pub fn with_token(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    }
}

/// What to tell the user when the host refused the token (401, 403); `body` is the
/// host's answer, `{"error": "..."}`.
pub fn refusal(
    status: reqwest::StatusCode,
    body: &str,
    token: Option<&str>,
) -> Option<anyhow::Error> {
    let reason = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    match (status.as_u16(), token) {
        (401, None) => Some(anyhow::anyhow!(
            "the host wants a token: pass --token or set WEFT_TOKEN ({status}: {reason})"
        )),
        (401 | 403, _) => Some(anyhow::anyhow!(
            "the host refused the token: {reason} ({status})"
        )),
        _ => None,
    }
}

/// Publishes one event in binary mode; returns the host's answer.
pub async fn publish(p: Publish) -> anyhow::Result<String> {
    let id = p.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let url = format!("{}/v1/events/{}", p.host.trim_end_matches('/'), p.topic);
    let enc = |v: &str| utf8_percent_encode(v, HEADER_VALUE).to_string();
    let mut req = with_token(reqwest::Client::new().post(&url), p.token.as_deref())
        .header("ce-specversion", "1.0")
        .header("ce-id", enc(&id))
        .header("ce-source", enc(&p.source))
        .header("ce-type", enc(&p.ty))
        .header("content-type", p.content_type)
        .body(p.data);
    if let Some(s) = &p.subject {
        req = req.header("ce-subject", enc(s));
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach weft at {url}: is `weft run` running there?"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else if let Some(e) = refusal(status, &body, p.token.as_deref()) {
        Err(e)
    } else {
        anyhow::bail!("weft refused the event ({status}): {body}")
    }
}

/// Prints every event accepted on topics matching `pattern`, one JSON line each,
/// until `count` events were shown (if given) or the host goes away.
pub async fn tap(
    host: &str,
    token: Option<&str>,
    pattern: &str,
    count: Option<usize>,
) -> anyhow::Result<()> {
    let url = format!("{}/v1/tap", host.trim_end_matches('/'));
    let resp = with_token(reqwest::Client::new().get(&url), token)
        .query(&[("pattern", pattern)])
        .send()
        .await
        .with_context(|| format!("cannot reach weft at {url}: is `weft run` running there?"))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if let Some(e) = refusal(status, &body, token) {
            return Err(e);
        }
        anyhow::bail!("weft refused the tap ({status}): {body}");
    }
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut shown = 0;
    let (mut kind, mut data) = (String::new(), String::new());
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if line.is_empty() && !data.is_empty() {
                if kind == "lagged" {
                    eprintln!("weft tap: too slow, skipped events: {data}");
                } else {
                    println!("{data}");
                    shown += 1;
                }
                data.clear();
                kind.clear();
                if count.is_some_and(|c| shown >= c) {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// `weft status`: one line per module and subscription, then refused files.
pub async fn status(host: &str, token: Option<&str>, raw: bool) -> anyhow::Result<()> {
    let url = format!("{}/v1/status", host.trim_end_matches('/'));
    let resp = with_token(reqwest::Client::new().get(&url), token)
        .send()
        .await
        .with_context(|| format!("cannot reach weft at {url}: is `weft run` running there?"))?;
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        if let Some(e) = refusal(status, &body, token) {
            return Err(e);
        }
        anyhow::bail!("weft answered {status}: {body}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("{url} did not answer JSON"))?;
    if raw {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "store: {} engine, {} bytes on disk",
        v["engine"].as_str().unwrap_or("?"),
        v["disk_usage_bytes"]
    );
    println!(
        "{:<14} {:<24} {:>10} {:>12} {:>12}  VERSION",
        "KIND", "NAME", "DEPTH", "BYTES", "OLDEST"
    );
    let rows = |kind: &str, list: &serde_json::Value| {
        for m in list.as_array().map(Vec::as_slice).unwrap_or_default() {
            let age = m["oldest_age_ms"]
                .as_u64()
                .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
                .unwrap_or_else(|| "-".into());
            let version = m["version"]
                .as_str()
                .map(|v| v.get(..12).unwrap_or(v))
                .unwrap_or("");
            println!(
                "{:<14} {:<24} {:>10} {:>12} {:>12}  {}",
                kind,
                m["name"].as_str().unwrap_or("?"),
                m["queue_depth"].as_u64().unwrap_or(0),
                m["queued_bytes"].as_u64().unwrap_or(0),
                age,
                version
            );
        }
    };
    rows("module", &v["modules"]);
    rows("subscription", &v["subscriptions"]);
    for r in v["refused"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        println!(
            "refused: {} {}",
            r["file"].as_str().unwrap_or("?"),
            r["reason"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
