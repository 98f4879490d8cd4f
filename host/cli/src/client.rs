//! The HTTP API from the command line: where the host is, the token, and what
//! to tell the user when the host refuses.
//!
//! The host answers every error as an RFC 9457 problem (`type`, `title`,
//! `status`, `detail`); the commands show its `detail`, which says what failed and
//! what to do.

use anyhow::Context as _;
use serde_json::Value;

/// Where the host is and who is calling: every remote command takes these.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// The host's API address.
    #[arg(
        long,
        env = "WEFT_HOST",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub host: String,
    /// API token, sent as `Authorization: Bearer TOKEN`.
    #[arg(long, env = "WEFT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust for an `https://` host (beside
    /// the public roots), e.g. a host's own CA or its self-signed certificate.
    #[arg(long, env = "WEFT_CA", value_name = "FILE", global = true)]
    pub ca: Option<std::path::PathBuf>,
}

impl Remote {
    /// `PATH` on the host (`/v1/status`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.host.trim_end_matches('/'))
    }

    /// A client that sends the token with every request (marked sensitive, so it
    /// never shows in debug output).
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = &self.token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {t}"))
                .context("the token cannot be sent in an HTTP header")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .use_rustls_tls();
        if let Some(ca) = &self.ca {
            for cert in ca_certificates(ca)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(builder.build()?)
    }

    /// Sends `req` and reads its JSON answer; a refusal is an error saying why.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        Err(refusal(status, &text, self.token.as_deref()))
    }

    /// Why the host could not be reached; a certificate the client does not
    /// trust says to give `--ca`, a plain `http://` to a TLS host to use https.
    pub fn unreachable(&self, e: &reqwest::Error) -> anyhow::Error {
        use std::error::Error as _;
        let mut causes = String::new();
        let mut source = e.source();
        while let Some(s) = source {
            causes.push_str(&format!(": {s}"));
            source = s.source();
        }
        let hint = if causes.contains("certificate") || causes.contains("UnknownIssuer") {
            "the host's TLS certificate is not trusted: pass --ca FILE (or WEFT_CA) with the CA that issued it"
        } else {
            "is `weft run` running there (with https:// if its config has [http.tls])?"
        };
        anyhow::anyhow!("cannot reach weft at {}{causes}; {hint}", self.host)
    }
}

/// The certificates of a `--ca` file; one without any is refused (a wrong file
/// would otherwise surface later as an unexplained certificate error).
fn ca_certificates(path: &std::path::Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read the CA file {} (--ca)", path.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
        format!(
            "{} (--ca) is not a PEM file of certificates",
            path.display()
        )
    })?;
    if certs.is_empty() {
        anyhow::bail!(
            "{} (--ca) holds no certificate: give a PEM file with -----BEGIN CERTIFICATE----- blocks",
            path.display()
        );
    }
    Ok(certs)
}

/// The reason a host gave: a problem's `detail`, or the body as it is.
pub fn reason(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

/// What to tell the user about a refused request; a refused token (401, 403)
/// says what to do about the token.
pub fn refusal(status: reqwest::StatusCode, body: &str, token: Option<&str>) -> anyhow::Error {
    let reason = reason(body);
    match (status.as_u16(), token) {
        (401, None) => anyhow::anyhow!(
            "the host wants a token: pass --token or set WEFT_TOKEN ({status}: {reason})"
        ),
        (401 | 403, _) => anyhow::anyhow!("the host refused the token: {reason} ({status})"),
        _ => anyhow::anyhow!("weft answered {status}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_shows_the_problems_detail() {
        let body = r#"{"type":"tag:weft,2026:problem/forbidden","title":"The token does not grant this","status":403,"detail":"token `ci` may not publish to `x`"}"#;
        let e = refusal(reqwest::StatusCode::FORBIDDEN, body, Some("t")).to_string();
        assert_eq!(
            e,
            "the host refused the token: token `ci` may not publish to `x` (403 Forbidden)"
        );
        let e = refusal(reqwest::StatusCode::UNAUTHORIZED, body, None).to_string();
        assert!(e.starts_with("the host wants a token: pass --token"), "{e}");
        let e = refusal(reqwest::StatusCode::BAD_GATEWAY, "not json", None).to_string();
        assert_eq!(e, "weft answered 502 Bad Gateway: not json");
    }
}
