//! Secrets: values the host config and module manifests refer to by name and never
//! contain (`token = { secret = "CI_TOKEN" }`).
//!
//! The host config's `[secrets]` table says where each one comes from:
//!
//! ```toml
//! [secrets]
//! CI_TOKEN = { env = "WEFT_CI_TOKEN" }           # an environment variable of the host
//! GITHUB_TOKEN = { file = "/run/secrets/github" } # a file; one trailing newline is dropped
//! ```
//!
//! All of them are resolved once, at start: a variable that is not set, a file that
//! cannot be read, or an empty value is a start-up error naming the secret and its
//! source, never the value. Relative file paths are relative to the working directory,
//! like the flags' paths. [`Secrets`] never shows a value in `Debug`, so a config can be
//! logged whole.
//!
//! `modules = ["deliver", ...]` limits which modules' manifests may name a secret
//! (any other is refused with the reason); without it every module may, and the
//! host warns at start. A secret that backs an API token is readable by no module
//! ([`scopes`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use weft_core::secrets::{Scope, Secrets};

/// Where one secret comes from, as written in `[secrets]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// An environment variable of the host process.
    pub env: Option<String>,
    /// A file, read whole; one trailing newline (`\n` or `\r\n`) is dropped.
    pub file: Option<PathBuf>,
    /// The modules that may read it; without it, every module may.
    pub modules: Option<Vec<String>>,
}

/// Resolves every source, reading variables through `env` (the process
/// environment in the host; a map in tests). Every problem is returned, one line
/// each, naming the secret and its source, never a value.
pub fn resolve(
    sources: &BTreeMap<String, SecretSource>,
    env: impl Fn(&str) -> Result<String, std::env::VarError>,
) -> Result<Secrets, Vec<String>> {
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, source) in sources {
        match resolve_one(source, &env) {
            Ok(v) if v.is_empty() => {
                problems.push(format!("secrets.{name}: {} is empty", describe(source)))
            }
            Ok(v) => {
                values.insert(name.clone(), v);
            }
            Err(e) => problems.push(format!("secrets.{name}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(Secrets::new(values))
    } else {
        Err(problems)
    }
}

/// Each secret's scope: its `modules`, or none for one that backs an API token
/// (`token_secrets`: secret name, token name). A token's secret that also
/// names modules is a problem, not a silent choice.
pub fn scopes(
    sources: &BTreeMap<String, SecretSource>,
    token_secrets: &[(String, String)],
    problems: &mut Vec<String>,
) -> BTreeMap<String, Scope> {
    let mut scopes = BTreeMap::new();
    for (name, source) in sources {
        if let Some(modules) = &source.modules {
            let mut set = std::collections::BTreeSet::new();
            for m in modules {
                match weft_core::Name::parse(m) {
                    Ok(_) => {
                        set.insert(m.clone());
                    }
                    Err(e) => problems.push(format!(
                        "secrets.{name}.modules: `{m}` is not a module name ({})",
                        e.problem
                    )),
                }
            }
            scopes.insert(name.clone(), Scope::Modules(set));
        }
    }
    for (secret, token) in token_secrets {
        if sources.get(secret).is_some_and(|s| s.modules.is_some()) {
            problems.push(format!(
                "secrets.{secret} backs API token `{token}` and also names modules: no module may read a token's secret; give the modules a secret of their own"
            ));
        }
        scopes.insert(secret.clone(), Scope::ApiToken(token.clone()));
    }
    scopes
}

fn describe(source: &SecretSource) -> String {
    match (&source.env, &source.file) {
        (Some(var), _) => format!("environment variable `{var}`"),
        (None, Some(path)) => format!("file {}", path.display()),
        (None, None) => "nothing".into(),
    }
}

fn resolve_one(
    source: &SecretSource,
    env: &impl Fn(&str) -> Result<String, std::env::VarError>,
) -> Result<String, String> {
    match (&source.env, &source.file) {
        (Some(var), None) => env(var).map_err(|e| match e {
            std::env::VarError::NotPresent => {
                format!("environment variable `{var}` is not set")
            }
            std::env::VarError::NotUnicode(_) => {
                format!("environment variable `{var}` is not valid UTF-8")
            }
        }),
        (None, Some(path)) => {
            let text = read_secret_file(path)?;
            let text = text
                .strip_suffix("\r\n")
                .or_else(|| text.strip_suffix('\n'))
                .unwrap_or(&text);
            Ok(text.to_owned())
        }
        _ => Err("give either `env = \"VARIABLE\"` or `file = \"/path\"`".into()),
    }
}

/// The most bytes a secret file may hold: a token, a key or a NATS credentials
/// file is a few KiB.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A secret file's text, if it is a regular file (symlinks followed: mounted
/// secrets are symlinks) of at most [`MAX_SECRET_FILE`] bytes. A device or FIFO
/// (`/dev/zero`, `/dev/stdin`) would be read forever or block the start, and a
/// large file would be held in memory for nothing.
fn read_secret_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "the file {shown} is not a regular file (a device, FIFO or folder): give a file that holds the secret"
        ));
    }
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read the file {shown}: {e}"))?;
    let mut bytes = Vec::new();
    // Bounded even if the file grows between the check and the read.
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(format!(
            "the file {shown} is larger than {MAX_SECRET_FILE} bytes: a secret file holds one secret"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("the file {shown} is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn env_of(
        pairs: &[(&str, &str)],
    ) -> impl Fn(&str) -> Result<String, std::env::VarError> + use<> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned().ok_or(std::env::VarError::NotPresent)
    }

    fn sources(text: &str) -> BTreeMap<String, SecretSource> {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn secrets_come_from_the_environment_and_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let text = format!(
            "A = {{ env = \"WEFT_A\" }}\nB = {{ file = {:?} }}\n",
            file.display().to_string()
        );
        let s = resolve(&sources(&text), env_of(&[("WEFT_A", "from-env")])).unwrap();
        assert_eq!(s.get("A"), Some("from-env"));
        assert_eq!(
            s.get("B"),
            Some("from-a-file"),
            "one trailing newline dropped"
        );
        assert_eq!(s.get("C"), None);
    }

    #[test]
    fn only_one_trailing_newline_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "two\n\n").unwrap();
        let text = format!("B = {{ file = {:?} }}\n", file.display().to_string());
        let s = resolve(&sources(&text), env_of(&[])).unwrap();
        assert_eq!(s.get("B"), Some("two\n"));
    }

    #[test]
    fn every_missing_secret_is_named_with_its_source_at_once() {
        let text = "A = { env = \"WEFT_NOT_SET\" }\nB = { file = \"/nonexistent/weft/token\" }\nC = {}\nD = { env = \"WEFT_EMPTY\" }\n";
        let err = resolve(&sources(text), env_of(&[("WEFT_EMPTY", "")]))
            .unwrap_err()
            .join("\n");
        for needle in [
            "secrets.A: environment variable `WEFT_NOT_SET` is not set",
            "secrets.B: cannot read the file /nonexistent/weft/token",
            "secrets.C: give either",
            "secrets.D: environment variable `WEFT_EMPTY` is empty",
        ] {
            assert!(err.contains(needle), "{needle} missing in: {err}");
        }
    }

    #[test]
    fn a_device_or_a_huge_file_is_refused_not_read_forever() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; MAX_SECRET_FILE as usize + 1]).unwrap();
        let text = format!(
            "Z = {{ file = \"/dev/zero\" }}\nF = {{ file = {:?} }}\nB = {{ file = {:?} }}\n",
            dir.path().display().to_string(),
            big.display().to_string()
        );
        let err = resolve(&sources(&text), env_of(&[]))
            .unwrap_err()
            .join("\n");
        for needle in [
            "secrets.Z: the file /dev/zero is not a regular file",
            "secrets.F: the file",
            "is larger than 65536 bytes",
        ] {
            assert!(err.contains(needle), "{needle} missing in: {err}");
        }
    }

    #[test]
    fn debug_never_shows_a_value() {
        let s = resolve(
            &sources("A = { env = \"WEFT_A\" }\n"),
            env_of(&[("WEFT_A", "hunter2")]),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(shown.contains("\"A\""), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
