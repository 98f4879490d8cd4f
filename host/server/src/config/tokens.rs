//! `[tokens.NAME]`: the API's clients, each token the value of a secret.

use std::collections::BTreeMap;

use weft_core::secrets::Secrets;

use super::file::TokenFile;
use crate::auth::Grant;
use crate::secrets::SecretSource;

/// The grants of `[tokens]`, each token the value of a secret. A secret that is
/// declared but could not be resolved was reported already.
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
        let secret = match t.token.get("secret").and_then(toml::Value::as_str) {
            Some(s) if t.token.as_table().is_some_and(|table| table.len() == 1) => s.to_owned(),
            _ => {
                problems.push(format!(
                    "{at}.token must be {{ secret = \"NAME\" }}, naming an entry of [secrets]: token values are never written in the config"
                ));
                continue;
            }
        };
        let mut patterns = |field: &str, list: &[String]| match weft_core::Patterns::parse(list) {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{at}.{field}: {e}"));
                weft_core::Patterns::default()
            }
        };
        let publish = patterns("publish", &t.publish);
        let tap = patterns("tap", &t.tap);
        if t.publish.is_empty() && t.tap.is_empty() && !t.admin {
            problems.push(format!(
                "{at} grants nothing: give `publish`, `tap` or `admin = true`"
            ));
        }
        let Some(value) = secrets.get(&secret) else {
            if !declared.contains_key(&secret) {
                problems.push(format!(
                    "{at}.token: no secret `{secret}`; declare it under [secrets], e.g. {secret} = {{ env = \"{secret}\" }}"
                ));
            }
            continue;
        };
        let grant = Grant::new(name.clone(), value, publish, tap, t.admin);
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
