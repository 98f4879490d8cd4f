//! `[http]`: the origins a module may reach and the addresses granted beyond
//! the default policy (see [`crate::http`], which enforces them per request).
//! No table, no outbound HTTP at all.

use serde::Deserialize;

use super::field;
use crate::http::{DEFAULT_DEADLINE, DEFAULT_MAX_RESPONSE, DEFAULT_TIMEOUT, HttpGrant};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpFile {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    timeout: Option<String>,
    deadline: Option<String>,
    max_response: Option<String>,
}

/// Reads `[http]` into the module's grant; the grant's own problems are
/// prefixed with `http:` so the operator knows which table they are in.
pub(super) fn parse(file: Option<&HttpFile>, problems: &mut Vec<String>) -> HttpGrant {
    let Some(file) = file else {
        return HttpGrant::none();
    };
    // A slow or huge answer fails the request, not the host.
    let timeout = field::duration(
        file.timeout.as_deref(),
        "http.timeout",
        DEFAULT_TIMEOUT,
        problems,
    );
    let deadline = field::duration(
        file.deadline.as_deref(),
        "http.deadline",
        DEFAULT_DEADLINE,
        problems,
    );
    let max_response = match &file.max_response {
        None => DEFAULT_MAX_RESPONSE,
        Some(s) => {
            field::size(s, "http.max_response", "4MiB", problems).unwrap_or(DEFAULT_MAX_RESPONSE)
        }
    };
    HttpGrant::new(
        &file.allow,
        &file.addresses,
        timeout,
        deadline,
        max_response,
    )
    .unwrap_or_else(|e| {
        problems.extend(e.problems.into_iter().map(|p| format!("http: {p}")));
        HttpGrant::none()
    })
}
