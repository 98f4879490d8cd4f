//! Secrets scoped to modules: a manifest may name a secret only when the host
//! config lets its module read it; a secret that backs an API token is for no
//! module; an unscoped one draws a warning at start.

use serde_json::Value;
use weft_tests::{Host, guest, manifest};

use crate::WEFT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_reads_only_the_secrets_scoped_to_it_and_never_a_tokens() {
    let mut host = Host::new(WEFT);
    let with_secret = |secret: &str| {
        manifest("in", "out", "").replace(
            "[config]\n",
            &format!("[config]\nkey = {{ secret = \"{secret}\" }}\n"),
        )
    };
    host.module("deliver", &guest("echo"), &with_secret("SINK_KEY"));
    host.module("other", &guest("echo"), &with_secret("SINK_KEY"));
    host.module("thief", &guest("echo"), &with_secret("OPS_TOKEN"));
    host.module("open", &guest("echo"), &with_secret("SHARED"));
    host.config(
        r#"
[secrets]
SINK_KEY = { env = "WEFT_TEST_SINK_KEY", modules = ["deliver"] }
OPS_TOKEN = { env = "WEFT_TEST_OPS" }
SHARED = { env = "WEFT_TEST_SHARED" }
[tokens.ops]
token = { secret = "OPS_TOKEN" }
admin = true
"#,
    );
    host.env("WEFT_TEST_SINK_KEY", "k")
        .env("WEFT_TEST_OPS", "ops-token-value")
        .env("WEFT_TEST_SHARED", "s");
    host.start().await;

    let status: Value = host
        .http
        .get(host.url("/v1/status"))
        .bearer_auth("ops-token-value")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let loaded: Vec<&str> = status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(loaded, ["deliver", "open"], "{status}");
    let reason = |file: &str| {
        status["refused"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(file))
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{file} not refused: {status}"))
    };
    let other = reason("other.wasm");
    assert!(
        other.contains("config.key: secret `SINK_KEY` is for modules `deliver` only")
            && other.contains("module `other` may not read it"),
        "{other}"
    );
    let thief = reason("thief.wasm");
    assert!(
        thief.contains(
            "secret `OPS_TOKEN` is the value of API token `ops`, which no module may read"
        ),
        "{thief}"
    );
    let log = crate::grants::plain(&host.log());
    assert!(
        log.lines()
            .any(|l| l.contains("secret readable by every module") && l.contains("secret=SHARED")),
        "{log}"
    );
    assert!(
        !log.contains("secret=SINK_KEY") && !log.contains("secret=OPS_TOKEN"),
        "{log}"
    );
}

#[test]
fn a_tokens_secret_scoped_to_modules_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        "[secrets]\nT = { env = \"HOME\", modules = [\"m\", \"bad name\"] }\n[tokens.ops]\ntoken = { secret = \"T\" }\nadmin = true\n",
    )
    .unwrap();
    let out = std::process::Command::new(WEFT)
        .args(["run", "--config", config.to_str().unwrap(), "--data"])
        .arg(dir.path().join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", weft_tests::free_port()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("secrets.T backs API token `ops` and also names modules"),
        "{err}"
    );
    assert!(
        err.contains("secrets.T.modules: `bad name` is not a module name"),
        "{err}"
    );
}
