//! `[tokens.NAME]`: the API's clients. A token is given either as a secret's
//! value (`token = { secret = "NAME" }`) or by its digest alone (`digest =
//! "sha256:HEX"`, what `weft token new` writes), so that no file the host reads
//! holds the token itself.

use std::collections::BTreeMap;

use weft_core::secrets::Secrets;

use super::file::TokenFile;
use crate::auth::Grant;
use crate::secrets::SecretSource;

/// The grants of `[tokens]`. A secret that is declared but could not be
/// resolved was reported already.
pub(super) fn tokens(
    files: BTreeMap<String, TokenFile>,
    declared: &BTreeMap<String, SecretSource>,
    secrets: &Secrets,
    problems: &mut Vec<String>,
) -> Vec<Grant> {
    let mut grants: Vec<Grant> = Vec::new();
    for (name, t) in files {
        let at = format!("tokens.{name}");
        if let Err(e) = weft_core::Name::parse(&name) {
            problems.push(format!(
                "{at}: a token name is {} ({})",
                weft_core::name::NAME_RULE,
                e.problem
            ));
        }
        let mut patterns = |field: &str, list: &[String]| match weft_core::Patterns::parse(list) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{at}.{field}: {e}"));
                weft_core::Patterns::default()
            }
        };
        let publish = patterns("publish", &t.publish);
        let tap = patterns("tap", &t.tap);
        if t.publish.is_empty() && t.tap.is_empty() && !t.admin && !t.metrics {
            problems.push(format!(
                "{at} grants nothing: give `publish`, `tap`, `metrics = true` or `admin = true`"
            ));
        }
        let expires = match t
            .expires
            .as_deref()
            .map(chrono::DateTime::parse_from_rfc3339)
        {
            None => None,
            Some(Ok(at)) => Some(at.with_timezone(&chrono::Utc)),
            Some(Err(e)) => {
                problems.push(format!(
                    "{at}.expires = {:?}: not an RFC 3339 time like \"2027-01-31T00:00:00Z\" ({e})",
                    t.expires.unwrap_or_default()
                ));
                None
            }
        };
        let digest = match (&t.token, &t.digest) {
            (Some(_), Some(_)) | (None, None) => {
                problems.push(format!(
                    "{at} needs exactly one of `token = {{ secret = \"NAME\" }}` and `digest = \"sha256:...\"` (`weft token new {name}` makes a token and its digest)"
                ));
                continue;
            }
            (None, Some(d)) => match parse_digest(d) {
                Ok(d) => d,
                Err(why) => {
                    problems.push(format!("{at}.digest: {why}"));
                    continue;
                }
            },
            (Some(token), None) => {
                let secret = match token.get("secret").and_then(toml::Value::as_str) {
                    Some(s) if token.as_table().is_some_and(|table| table.len() == 1) => s,
                    _ => {
                        problems.push(format!(
                            "{at}.token must be {{ secret = \"NAME\" }}, naming an entry of [secrets]: token values are never written in the config (or give `digest` instead)"
                        ));
                        continue;
                    }
                };
                let Some(value) = secrets.get(secret) else {
                    if !declared.contains_key(secret) {
                        problems.push(format!(
                            "{at}.token: no secret `{secret}`; declare it under [secrets], e.g. {secret} = {{ env = \"{secret}\" }}"
                        ));
                    }
                    continue;
                };
                crate::auth::digest(value)
            }
        };
        let mut grant = Grant::from_digest(name.clone(), digest, publish, tap, t.admin, expires);
        grant.metrics = t.metrics;
        if let Some(other) = grants.iter().find(|g| g.same_token(&grant)) {
            problems.push(format!(
                "{at} and tokens.{} have the same token value: give each client its own",
                other.name
            ));
        }
        grants.push(grant);
    }
    grants
}

/// `sha256:` and 64 hex digits.
fn parse_digest(text: &str) -> Result<[u8; 32], String> {
    let digits = text.strip_prefix("sha256:").ok_or_else(|| {
        format!("{text:?} must start with `sha256:` (the SHA-256 of the token, in hex)")
    })?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| {
        "`sha256:` must be followed by 64 hex digits (the SHA-256 of the token)".to_owned()
    })?;
    Ok(out)
}

/// The secrets that back API tokens, as (secret, token) names: no module may
/// read those.
pub(super) fn token_secrets(files: &BTreeMap<String, TokenFile>) -> Vec<(String, String)> {
    files
        .iter()
        .filter_map(|(name, t)| {
            let secret = t.token.as_ref()?.get("secret")?.as_str()?;
            Some((secret.to_owned(), name.clone()))
        })
        .collect()
}
