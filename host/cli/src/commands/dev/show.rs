//! What `weft dev` prints: timestamped lines, the live tap of the module's
//! topics, and the replay of sample events.

use std::path::Path;

use serde_json::Value;

use super::host::Target;
use crate::client::Remote;
use crate::commands::publish::{Lines, publish_lines};
use crate::commands::tap::stream;

/// One line on standard output, with the wall-clock time.
pub fn say(line: &str) {
    let now = chrono_now();
    println!("[{now}] {line}");
}

/// `HH:MM:SS.mmm` in UTC, without a date crate for one format.
fn chrono_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// Follows each of `inputs` and `outputs` (topic patterns) on the host's tap
/// and prints every event as `in`/`out`, topic, id and data. Returns once every
/// tap is live, so events published afterwards are shown.
pub async fn tap(remote: &Remote, inputs: &[String], outputs: &[String]) {
    let mut live = Vec::new();
    for (label, pattern) in inputs
        .iter()
        .map(|p| ("in ", p))
        .chain(outputs.iter().map(|p| ("out", p)))
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        live.push(rx);
        let (remote, pattern) = (remote.clone(), pattern.clone());
        tokio::spawn(async move {
            let shown = stream(&remote, &pattern, Some(tx), |text| {
                say(&format!("{label} {}", summary(&text)));
                true
            })
            .await;
            if let Err(e) = shown {
                say(&format!("tap of {pattern} ended: {e:#}"));
            }
        });
    }
    for rx in live {
        let _ = rx.await;
    }
}

/// `topic id data`, the data cut to one short line.
fn summary(text: &str) -> String {
    let Ok(event) = serde_json::from_str::<Value>(text) else {
        return text.to_owned();
    };
    let data = match (&event["data"], &event["data_base64"]) {
        (Value::Null, Value::String(b)) => format!("({} bytes, base64)", b.len() / 4 * 3),
        (Value::Null, _) => "(no data)".to_owned(),
        (d, _) => d.to_string(),
    };
    let data: String = if data.chars().count() > 160 {
        data.chars().take(157).collect::<String>() + "..."
    } else {
        data
    };
    format!(
        "{} {} {data}",
        event["topic"].as_str().unwrap_or("?"),
        event["id"].as_str().unwrap_or("?")
    )
}

/// Publishes the sample events again. A host of `weft dev`'s own has dedup off;
/// a running host's would drop ids it has seen, so there each replay's ids get
/// the suffix `.dev.ROUND`.
pub async fn replay(
    target: &Target,
    input: &Path,
    topic: Option<&str>,
    round: u32,
    external: bool,
) {
    let how = Lines {
        id_suffix: external.then(|| format!(".dev.{round}")),
        quiet: true,
    };
    let file = input.to_string_lossy();
    match publish_lines(&file, topic, &target.remote, &how).await {
        Ok(n) => say(&format!("replayed {n} events from {file}")),
        Err(e) => say(&format!("replay of {file} stopped: {e:#}")),
    }
}
