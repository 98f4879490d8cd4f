//! `weft request TOPIC [DATA]`: one request (CloudEvents binary mode), waiting
//! for its reply: the reply's data goes to standard output, its attributes to
//! standard error, so `weft request ... | jq` reads the answer alone.

use percent_encoding::{percent_decode_str, utf8_percent_encode};

use super::publish::{HEADER_VALUE, binary, data_arg};
use crate::client::{Remote, refusal};

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  weft request orders/created '{\"cust\":\"Ada\",\"amount\":42.5,\"country\":\"DE\"}' --timeout 5s"
)]
pub struct Args {
    topic: String,
    /// The request's data; `-` reads standard input.
    data: Option<String>,
    /// How long to wait for the reply (at most the host's `[requests] max_timeout`);
    /// default: the host's `[requests] timeout`.
    #[arg(long)]
    timeout: Option<String>,
    #[arg(long = "type", default_value = "weft.cli.request")]
    ty: String,
    #[arg(long, default_value = "/weft/cli")]
    source: String,
    /// Request id (default: a new UUIDv7). Sending the same id again after a
    /// timeout waits for the first request's reply instead of sending it twice.
    #[arg(long)]
    id: Option<String>,
    #[arg(long, default_value = "application/json")]
    content_type: String,
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let data = data_arg(a.data.as_deref())?;
    let id = a.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut url = a.remote.url(&format!("/v1/requests/{}", a.topic));
    if let Some(t) = &a.timeout {
        url = format!("{url}?timeout={}", utf8_percent_encode(t, HEADER_VALUE));
    }
    let client = a.remote.client()?;
    let req = binary(
        &client,
        &url,
        [&id, &a.source, &a.ty],
        &a.content_type,
        data,
    );
    let resp = req.send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach weft at {}: is `weft run` running there? ({e})",
            a.remote.host
        )
    })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        return Err(refusal(status, &text, a.remote.token.as_deref())
            .context(format!("request `{id}` to `{}`", a.topic)));
    }
    let attr = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| percent_decode_str(v).decode_utf8().ok())
            .map(|v| v.into_owned())
            .unwrap_or_default()
    };
    eprintln!(
        "reply {} from {} (type {}, correlationid {})",
        attr("ce-id"),
        attr("ce-source"),
        attr("ce-type"),
        attr("ce-correlationid")
    );
    use std::io::Write as _;
    let mut out = std::io::stdout();
    out.write_all(&body)?;
    if !body.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    Ok(())
}
