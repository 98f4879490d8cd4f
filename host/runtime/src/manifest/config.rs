//! `[config]`: the module's settings, handed to the guest's `config` import as
//! strings. A value may name a host secret (`{ secret = "NAME" }`) instead of
//! holding it, so the manifest can be shared and shown; the secret's value is
//! resolved here and its name kept, so nothing shows the value later.

use std::collections::BTreeMap;

use weft_core::secrets::Secrets;

/// `[config]` resolved.
pub(super) struct Config {
    /// Flattened to strings, secrets resolved.
    pub values: Vec<(String, String)>,
    /// Keys whose value is a secret, with the secret's name.
    pub secret_keys: BTreeMap<String, String>,
}

/// Resolves `[config]` against the host's `secrets`, as module `module` may
/// read them (`None`: offline, no scopes); a secret the host does not hold, or
/// does not let this module read, is a problem, never an empty value.
pub(super) fn parse(
    table: BTreeMap<String, toml::Value>,
    secrets: &Secrets,
    module: Option<&str>,
    problems: &mut Vec<String>,
) -> Config {
    let mut values = Vec::new();
    let mut secret_keys = BTreeMap::new();
    for (key, value) in table {
        match secret_ref(&value) {
            Some(name) => match module.map_or(secrets.get(name).map(Ok), |m| secrets.for_module(m, name)) {
                Some(Ok(v)) => {
                    secret_keys.insert(key.clone(), name.to_owned());
                    values.push((key, v.to_owned()));
                }
                Some(Err(why)) => problems.push(format!("config.{key}: {why}")),
                None => problems.push(format!(
                    "config.{key} refers to secret `{name}`, which the host does not hold: define it in the host config's [secrets]"
                )),
            },
            None => values.push((key, config_value(value))),
        }
    }
    Config {
        values,
        secret_keys,
    }
}

/// `{ secret = "NAME" }`: a value the host holds, named instead of written.
fn secret_ref(v: &toml::Value) -> Option<&str> {
    let t = v.as_table()?;
    if t.len() != 1 {
        return None;
    }
    t.get("secret")?.as_str()
}

/// Strings as they are; other scalars in their TOML form; arrays and tables as JSON.
fn config_value(v: toml::Value) -> String {
    match v {
        toml::Value::String(s) => s,
        toml::Value::Array(_) | toml::Value::Table(_) => {
            serde_json::to_string(&v).unwrap_or_default()
        }
        other => other.to_string(),
    }
}
