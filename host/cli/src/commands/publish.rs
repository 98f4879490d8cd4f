//! `weft publish TOPIC [DATA]`: one event, CloudEvents binary mode; or
//! `weft publish [TOPIC] --file F|-`: structured events, one JSON object a line,
//! for scripting (`weft tap ... > f` and `weft publish --file f` round-trip).
//!
//! # A bad line
//!
//! Lines are checked here, before anything is sent, with the host's own decoder,
//! and sent in batches of consecutive lines. The first line that is not a valid
//! event (not JSON, a missing attribute, no topic) stops the command: every line
//! before it has been published and acknowledged, nothing from it on is sent, and
//! the error names `FILE:LINE`, the reason, and where to resume. A batch the host
//! refuses (a token that may not publish there, a full disk) stops it the same way,
//! naming the batch's first line. Blank lines are skipped. So a rerun from the
//! named line (`tail -n +LINE F`) never publishes an event twice in a row and
//! never skips one; a rerun of the whole file is safe too, as the host drops
//! events whose `source` and `id` it has seen (`duplicate: true`).

use anyhow::Context as _;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json;
use tokio::io::AsyncBufReadExt as _;
use weft_core::{Topic, cloudevents};

use crate::client::Remote;

/// What the CloudEvents HTTP binding says must be percent-encoded in a header value.
pub(crate) const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

/// Lines per request, and bytes: well inside the host's default limits (1000
/// events, 1 MiB), so a default host never refuses a batch for its size.
const BATCH_EVENTS: usize = 100;
const BATCH_BYTES: usize = 256 * 1024;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft publish orders/created '{\"id\":1}'
  weft publish orders/created --file events.jsonl
  weft tap 'orders/>' --count 10 > sample.jsonl && weft publish --file sample.jsonl")]
pub struct Args {
    /// The topic; with --file, the topic of lines that carry no `topic` member.
    #[arg(required_unless_present = "file")]
    topic: Option<String>,
    /// The event data; `-` reads standard input.
    #[arg(conflicts_with = "file")]
    data: Option<String>,
    /// Publish structured CloudEvents read from F, one JSON object a line (`-`:
    /// standard input); each line may carry a `topic`. A bad line stops the
    /// command: the lines before it are published, none after.
    #[arg(long, value_name = "F")]
    file: Option<String>,
    #[arg(long = "type", default_value = "weft.cli.published")]
    ty: String,
    #[arg(long, default_value = "/weft/cli")]
    source: String,
    /// Event id (default: a new UUIDv7).
    #[arg(long)]
    id: Option<String>,
    #[arg(long)]
    subject: Option<String>,
    #[arg(long, default_value = "application/json")]
    content_type: String,
    #[command(flatten)]
    remote: Remote,
}

/// The data argument of `publish` and `request`: the text itself, `-` for
/// standard input, none for no data.
pub(crate) fn data_arg(arg: Option<&str>) -> std::io::Result<Vec<u8>> {
    Ok(match arg {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
        Some(d) => d.as_bytes().to_vec(),
        None => Vec::new(),
    })
}

/// A POST of one CloudEvent in binary mode: `[id, source, type]` as percent-encoded
/// `ce-` headers, the data as the body.
pub(crate) fn binary(
    client: &reqwest::Client,
    url: &str,
    [id, source, ty]: [&str; 3],
    content_type: &str,
    data: Vec<u8>,
) -> reqwest::RequestBuilder {
    let enc = |v: &str| utf8_percent_encode(v, HEADER_VALUE).to_string();
    client
        .post(url)
        .header("ce-specversion", "1.0")
        .header("ce-id", enc(id))
        .header("ce-source", enc(source))
        .header("ce-type", enc(ty))
        .header("content-type", content_type)
        .body(data)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if let Some(file) = &a.file {
        let sent = publish_lines(file, a.topic.as_deref(), &a.remote, &Lines::default()).await?;
        eprintln!("weft publish: {sent} events from {file}");
        return Ok(());
    }
    let topic = a.topic.clone().unwrap_or_default();
    let data = data_arg(a.data.as_deref())?;
    let id = a.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let url = a.remote.url(&format!("/v1/events/{topic}"));
    let client = a.remote.client()?;
    let mut req = binary(
        &client,
        &url,
        [&id, &a.source, &a.ty],
        &a.content_type,
        data,
    );
    if let Some(s) = &a.subject {
        req = req.header(
            "ce-subject",
            utf8_percent_encode(s, HEADER_VALUE).to_string(),
        );
    }
    let answer = a.remote.send(req).await?;
    println!("{answer}");
    Ok(())
}

/// Consecutive checked lines for one topic, not yet sent.
#[derive(Default)]
struct Batch {
    topic: String,
    first_line: usize,
    lines: Vec<usize>,
    events: Vec<String>,
    bytes: usize,
}

/// How `publish_lines` treats the lines.
#[derive(Default)]
pub struct Lines {
    /// Appended to every event's id (`weft dev` replays the same file after each
    /// swap, and a host drops an id it has seen as a duplicate).
    pub id_suffix: Option<String>,
    /// Print nothing per event.
    pub quiet: bool,
}

/// Publishes the lines of `file` (see the module docs for the rule on a bad line)
/// and, unless quiet, prints one JSON line per event the host accepted: its line,
/// id and whether it was a duplicate. Returns how many were published.
pub async fn publish_lines(
    file: &str,
    topic: Option<&str>,
    remote: &Remote,
    how: &Lines,
) -> anyhow::Result<usize> {
    let default_topic = topic
        .map(Topic::parse)
        .transpose()
        .context("bad TOPIC argument")?;
    let (name, reader): (String, Box<dyn tokio::io::AsyncRead + Unpin>) = if file == "-" {
        ("stdin".into(), Box::new(tokio::io::stdin()))
    } else {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot read {file}"))?;
        (file.to_owned(), Box::new(f))
    };
    let client = remote.client()?;
    let mut lines = tokio::io::BufReader::new(reader).lines();
    let mut batch = Batch::default();
    let mut published = 0;
    let mut n = 0;
    loop {
        n += 1;
        let line = match lines.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                send(
                    &client,
                    remote,
                    &name,
                    &mut batch,
                    &mut published,
                    how.quiet,
                )
                .await?;
                return Err(stopped(&name, n, &e.to_string(), published));
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut event = match cloudevents::from_json(&line, default_topic.as_ref()) {
            Ok(e) => e,
            Err(e) => {
                send(
                    &client,
                    remote,
                    &name,
                    &mut batch,
                    &mut published,
                    how.quiet,
                )
                .await?;
                return Err(stopped(&name, n, &e.to_string(), published));
            }
        };
        if let Some(suffix) = &how.id_suffix {
            event.id.push_str(suffix);
        }
        let wire = cloudevents::to_json_text(&event, cloudevents::Form::Wire);
        if !batch.events.is_empty()
            && (batch.topic != event.topic
                || batch.events.len() >= BATCH_EVENTS
                || batch.bytes + wire.len() > BATCH_BYTES)
        {
            send(
                &client,
                remote,
                &name,
                &mut batch,
                &mut published,
                how.quiet,
            )
            .await?;
        }
        if batch.events.is_empty() {
            batch.topic = event.topic.clone();
            batch.first_line = n;
        }
        batch.bytes += wire.len();
        batch.lines.push(n);
        batch.events.push(wire);
    }
    send(
        &client,
        remote,
        &name,
        &mut batch,
        &mut published,
        how.quiet,
    )
    .await?;
    Ok(published)
}

/// Sends `batch` as one batched request and prints what the host accepted.
async fn send(
    client: &reqwest::Client,
    remote: &Remote,
    name: &str,
    batch: &mut Batch,
    published: &mut usize,
    quiet: bool,
) -> anyhow::Result<()> {
    if batch.events.is_empty() {
        return Ok(());
    }
    let body = format!("[{}]", batch.events.join(","));
    let req = client
        .post(remote.url(&format!("/v1/events/{}", batch.topic)))
        .header("content-type", cloudevents::BATCH)
        .body(body);
    let answer = remote.send(req).await.map_err(|e| {
        stopped(
            name,
            batch.first_line,
            &format!("the host refused the batch starting here: {e:#}"),
            *published,
        )
    })?;
    let accepted = answer["accepted"].as_array().cloned().unwrap_or_default();
    for (line, a) in batch.lines.iter().zip(&accepted).filter(|_| !quiet) {
        println!(
            "{}",
            json!({ "line": line, "id": a["id"], "duplicate": a["duplicate"] })
        );
    }
    *published += batch.events.len();
    *batch = Batch::default();
    Ok(())
}

fn stopped(name: &str, line: usize, why: &str, published: usize) -> anyhow::Error {
    let resume = if name == "stdin" {
        String::new()
    } else {
        format!(" (tail -n +{line} {name} | weft publish --file -)")
    };
    anyhow::anyhow!(
        "{name}:{line}: {why}\n  stopped there: {published} events before line {line} were \
         published, none from line {line} on; fix the line and resume from it{resume}"
    )
}
