//! `weft publish TOPIC [DATA]`: one event, CloudEvents binary mode.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use crate::client::Remote;

/// What the CloudEvents HTTP binding says must be percent-encoded in a header value.
pub(crate) const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'%');

#[derive(clap::Args)]
pub struct Args {
    topic: String,
    /// The event data; `-` reads standard input.
    data: Option<String>,
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

pub async fn run(a: Args) -> anyhow::Result<()> {
    let data = match a.data.as_deref() {
        Some("-") => {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
            buf
        }
        Some(d) => d.as_bytes().to_vec(),
        None => Vec::new(),
    };
    let id = a.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let enc = |v: &str| utf8_percent_encode(v, HEADER_VALUE).to_string();
    let url = a.remote.url(&format!("/v1/events/{}", a.topic));
    let mut req = a
        .remote
        .client()?
        .post(&url)
        .header("ce-specversion", "1.0")
        .header("ce-id", enc(&id))
        .header("ce-source", enc(&a.source))
        .header("ce-type", enc(&a.ty))
        .header("content-type", a.content_type)
        .body(data);
    if let Some(s) = &a.subject {
        req = req.header("ce-subject", enc(s));
    }
    let answer = a.remote.send(req).await?;
    println!("{answer}");
    Ok(())
}
