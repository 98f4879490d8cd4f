//! `weft status`: one line per module and subscription, then refused files.

use crate::client::Remote;

#[derive(clap::Args)]
#[command(after_help = "Example:\n  weft status --host http://127.0.0.1:8080")]
pub struct Args {
    /// Print the raw JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let v = a
        .remote
        .send(a.remote.client()?.get(a.remote.url("/v1/status")))
        .await?;
    if a.json {
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
            // Shown only when it is not the usual (tiered compilation).
            let compiler = match m["compiler"].as_str() {
                Some(c) if c != "cranelift" => format!("  compiler: {c}"),
                _ => String::new(),
            };
            println!(
                "{:<14} {:<24} {:>10} {:>12} {:>12}  {}{compiler}",
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
    mesh(&v["mesh"]);
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

/// The mesh's link, outboxes and imports, when the host has one.
fn mesh(m: &serde_json::Value) {
    if m.is_null() {
        return;
    }
    let link = &m["link"];
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
    let mut line = format!(
        "mesh: {} as `{}` on stream {} since {}",
        s(&link["state"]),
        s(&m["name"]),
        s(&m["stream"]),
        s(&link["since"])
    );
    if let Some(server) = link["server"].as_str() {
        line.push_str(&format!(", server {server}"));
    }
    if let Some(rtt) = link["rtt_ms"].as_f64() {
        line.push_str(&format!(", rtt {rtt:.1} ms"));
    }
    if let Some(reason) = link["reason"].as_str() {
        line.push_str(&format!(": {reason}"));
    }
    println!("{line}");
    for e in m["exports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let age = e["oldest_age_ms"]
            .as_u64()
            .map(|ms| format!("{:.1}s", ms as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        println!(
            "  export {:<16} outbox {:>8} oldest {:>8}  published {}  failed {}{}",
            s(&e["name"]),
            e["outbox_depth"].as_u64().unwrap_or(0),
            age,
            e["published"].as_u64().unwrap_or(0),
            e["failed"].as_u64().unwrap_or(0),
            e["last_error"]
                .as_str()
                .map(|r| format!("  last error: {r}"))
                .unwrap_or_default()
        );
    }
    for i in m["imports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let pending = i["pending"]
            .as_u64()
            .map(|p| p.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "  import {:<16} consumer {}  pending {:>8}  imported {}{}",
            s(&i["name"]),
            s(&i["consumer"]),
            pending,
            i["imported"].as_u64().unwrap_or(0),
            i["last_error"]
                .as_str()
                .map(|r| format!("  last error: {r}"))
                .unwrap_or_default()
        );
    }
}
