#![allow(clippy::unwrap_used, reason = "tests")]
use super::*;

#[test]
fn a_full_config_parses_with_units() {
    let c = HostConfig::parse(
        r#"
[ingest]
max_body = "2MiB"
dedup_window = "1h"
[store]
durability = "interval"
sync_interval = "50ms"
engine = "sled"
cache = "16MiB"
max_disk = "1GiB"
min_free_disk = "10MiB"
[modules]
memory = "32MiB"
max_queue_events = 10
pool_instances = 16
[errors]
max_replays = 5
retention = "2d"
[subscriptions.audit]
subscribe = ["orders/>"]
max_queue_bytes = "1MiB"
"#,
    )
    .unwrap();
    assert_eq!(c.ingest.max_body, 2 * 1024 * 1024);
    assert!(!c.store.durable);
    assert_eq!(c.store.sync_interval, Duration::from_millis(50));
    assert_eq!(c.store.engine, weft_store::EngineKind::Sled);
    assert_eq!(c.store.cache_bytes, 16 * 1024 * 1024);
    assert_eq!(c.disk.max_bytes, 1024 * 1024 * 1024);
    assert_eq!(c.modules.defaults.quota.max_events, 10);
    assert_eq!(c.modules.runtime.pool_instances, 16);
    assert_eq!(c.errors.max_replays, 5);
    assert_eq!(c.subscriptions[0].name, "audit");
    assert_eq!(c.subscriptions[0].quota.max_bytes, 1024 * 1024);
    assert_eq!(c.store.dedup_window, Duration::from_secs(3600));
    assert_eq!(c.modules.defaults.memory, 32 * 1024 * 1024);
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = HostConfig::parse(
        "[store]\ndurability = \"sometimes\"\ncache = \"big\"\n[ingest]\ndedup_window = \"long\"\n",
    )
    .unwrap_err()
    .to_string();
    for needle in ["store.durability", "store.cache", "ingest.dedup_window"] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
    let err = HostConfig::parse("[store]\nengin = \"redb\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `engin`"), "{err}");
}

fn secret_file(dir: &tempfile::TempDir, name: &str, value: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, value).unwrap();
    format!("{:?}", path.display().to_string())
}

#[test]
fn tokens_take_their_values_from_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let c = HostConfig::parse(&format!(
        r#"
[secrets]
CI = {{ file = {} }}
OPS = {{ file = {} }}
[tokens.ci]
token = {{ secret = "CI" }}
publish = ["orders/>"]
tap = ["orders/*"]
[tokens.ops]
token = {{ secret = "OPS" }}
admin = true
"#,
        secret_file(&dir, "ci", "ci-token\n"),
        secret_file(&dir, "ops", "ops-token"),
    ))
    .unwrap();
    assert_eq!(c.secrets.get("CI"), Some("ci-token"));
    let names: Vec<_> = c.tokens.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["ci", "ops"]);
    let auth = crate::auth::Auth::new(c.tokens.clone());
    let ci = auth.authenticate("ci-token").unwrap();
    assert_eq!(ci.publish.iter().next().unwrap().as_str(), "orders/>");
    assert!(!ci.admin);
    assert!(auth.authenticate("ops-token").unwrap().admin);
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("ci-token") && !shown.contains("ops-token"),
        "{shown}"
    );
}

#[test]
fn every_token_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let err = HostConfig::parse(&format!(
        r#"
[secrets]
SAME = {{ file = {} }}
[tokens.inline]
token = "abc"
publish = [">"]
[tokens.undeclared]
token = {{ secret = "NOPE" }}
publish = [">"]
[tokens.empty]
token = {{ secret = "SAME" }}
[tokens.bad]
token = {{ secret = "SAME" }}
publish = ["orders//x"]
[tokens.twin]
token = {{ secret = "SAME" }}
tap = [">"]
[tokens."a b"]
token = {{ secret = "SAME" }}
admin = true
"#,
        secret_file(&dir, "same", "same"),
    ))
    .unwrap_err()
    .to_string();
    for needle in [
        "tokens.inline.token must be { secret = \"NAME\" }",
        "tokens.undeclared.token: no secret `NOPE`",
        "tokens.empty grants nothing",
        "tokens.bad.publish: topic `orders//x` has an empty level",
        "have the same token value",
        "tokens.a b: a token name is",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
    let err = HostConfig::parse("[tokens.x]\ntoken = { secret = \"A\" }\npublsh = []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `publsh`"), "{err}");
}

#[test]
fn a_missing_secret_names_the_secret_and_its_source() {
    let err = HostConfig::parse(
        "[secrets]\nGH = { env = \"WEFT_TEST_SURELY_UNSET_VARIABLE\" }\nF = { file = \"/nonexistent/weft\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "secrets.GH: environment variable `WEFT_TEST_SURELY_UNSET_VARIABLE` is not set"
        ),
        "{err}"
    );
    assert!(
        err.contains("secrets.F: cannot read the file /nonexistent/weft"),
        "{err}"
    );
}

#[test]
fn the_listener_table_parses_with_units_and_refuses_zero_and_nonsense() {
    let c = HostConfig::parse(
        "[http]\nheader_timeout = \"2s\"\nidle_timeout = \"1m\"\nbody_timeout = \"5s\"\nbody_min_rate = \"1KiB/s\"\nmax_connections = 300\n",
    )
    .unwrap();
    assert_eq!(c.http.header_timeout, Duration::from_secs(2));
    assert_eq!(c.http.idle_timeout, Duration::from_secs(60));
    assert_eq!(c.http.body_timeout, Duration::from_secs(5));
    assert_eq!(c.http.body_min_rate, 1024);
    assert_eq!(c.http.max_connections, Some(300));
    let d = HostConfig::parse("[http]\nmax_connections = \"auto\"\n").unwrap();
    assert_eq!(d.http.max_connections, None, "auto: from the file limit");
    assert_eq!(d.http.header_timeout, Duration::from_secs(10));
    let err = HostConfig::parse(
        "[http]\nheader_timeout = \"0s\"\nbody_min_rate = \"16KiB\"\nmax_connections = 0\n",
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "http.header_timeout = \"0s\"",
        "http.body_min_rate = \"16KiB\" is not a rate like \"16KiB/s\"",
        "http.max_connections = 0",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
}

#[test]
fn http_tls_names_its_files_and_refuses_unknown_fields() {
    let c = HostConfig::parse("[http.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n").unwrap();
    let tls = c.http.tls.unwrap();
    assert_eq!(tls.cert, std::path::PathBuf::from("c.pem"));
    assert_eq!(tls.key, std::path::PathBuf::from("k.pem"));
    let e = HostConfig::parse("[http.tls]\ncert = \"c.pem\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing field `key`"), "{e}");
    assert!(HostConfig::parse("").unwrap().http.tls.is_none());
}

#[test]
fn a_token_by_digest_with_expiry_and_its_problems() {
    let digest = hex::encode(crate::auth::digest("weft_secret"));
    let c = HostConfig::parse(&format!(
        "[tokens.ci]\ndigest = \"sha256:{digest}\"\npublish = [\">\"]\nexpires = \"2030-01-01T00:00:00Z\"\n"
    ))
    .unwrap();
    let auth = crate::auth::Auth::new(c.tokens);
    let g = auth.authenticate("weft_secret").unwrap();
    assert_eq!(g.name, "ci");
    assert_eq!(g.expires.unwrap().to_rfc3339(), "2030-01-01T00:00:00+00:00");
    assert!(auth.authenticate("weft_other").is_none());

    let err = HostConfig::parse(&format!(
        r#"
[tokens.both]
token = {{ secret = "X" }}
digest = "sha256:{digest}"
tap = [">"]
[tokens.neither]
tap = [">"]
[tokens.short]
digest = "sha256:abc"
tap = [">"]
[tokens.algo]
digest = "md5:{digest}"
tap = [">"]
[tokens.when]
digest = "sha256:{digest}"
tap = [">"]
expires = "next week"
"#
    ))
    .unwrap_err()
    .to_string();
    for needle in [
        "tokens.both needs exactly one of `token = { secret = \"NAME\" }` and `digest",
        "tokens.neither needs exactly one of",
        "tokens.short.digest: `sha256:` must be followed by 64 hex digits",
        "tokens.algo.digest: \"md5:",
        "tokens.when.expires = \"next week\": not an RFC 3339 time",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
}
