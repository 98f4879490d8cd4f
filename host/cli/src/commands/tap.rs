//! `weft tap [PATTERN]`: events accepted on matching topics, live, one JSON line
//! each; nothing is consumed.

use futures::StreamExt;

use crate::client::{Remote, refusal};

#[derive(clap::Args)]
#[command(after_help = "Example:\n  weft tap 'orders/>' --count 5")]
pub struct Args {
    #[arg(default_value = ">")]
    pattern: String,
    /// Exit after this many events.
    #[arg(long)]
    count: Option<usize>,
    #[command(flatten)]
    remote: Remote,
}

/// Prints events until `count` were shown (if given) or the host goes away.
pub async fn run(a: Args) -> anyhow::Result<()> {
    let mut shown = 0;
    stream(&a.remote, &a.pattern, None, |data| {
        println!("{data}");
        shown += 1;
        a.count.is_none_or(|c| shown < c)
    })
    .await
}

/// Follows the host's tap for `pattern`, calling `each` with every event's JSON
/// until it returns false or the host goes away (`weft tap`, `weft dev`).
/// `connected` is told once the tap is live (events from then on are shown).
pub async fn stream(
    remote: &Remote,
    pattern: &str,
    connected: Option<tokio::sync::oneshot::Sender<()>>,
    mut each: impl FnMut(String) -> bool,
) -> anyhow::Result<()> {
    let url = remote.url("/v1/tap");
    let resp = remote
        .client()?
        .get(&url)
        .query(&[("pattern", pattern)])
        .send()
        .await
        .map_err(|e| remote.unreachable(&e))?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        return Err(refusal(status, &body, remote.token.as_deref()));
    }
    if let Some(c) = connected {
        let _ = c.send(());
    }
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let (mut kind, mut data) = (String::new(), String::new());
    let mut lines = 0;
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
                // Lines of one event's data are joined by line feeds, as SSE has it:
                // JSON data whose whitespace holds line breaks is printed as it came.
                if lines > 0 {
                    data.push('\n');
                }
                lines += 1;
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            } else if line.is_empty() && !data.is_empty() {
                let go_on = if kind == "lagged" {
                    eprintln!("weft tap: too slow, skipped events: {data}");
                    true
                } else {
                    each(std::mem::take(&mut data))
                };
                data.clear();
                kind.clear();
                lines = 0;
                if !go_on {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}
