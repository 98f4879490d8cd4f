//! Tokens no file can leak: `weft token new` prints a token once and writes only
//! its digest and grants; the host authenticates by the digest, refuses an
//! expired token, and logs and counts every refusal by the token's name.

use std::process::Command;

use serde_json::Value;
use weft_tests::Host;

use crate::WEFT;

fn weft(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(WEFT).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn call(host: &Host, token: &str, method: &str, path: &str) -> (u16, Value) {
    let req = match method {
        "POST" => host
            .http
            .post(host.url(path))
            .header("ce-specversion", "1.0")
            .header("ce-id", path)
            .header("ce-source", "/test")
            .header("ce-type", "t")
            .header("content-type", "application/json")
            .body("{}"),
        _ => host.http.get(host.url(path)),
    };
    let r = req.bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tokens_by_digest_expire_and_every_refusal_is_counted_by_name() {
    let mut host = Host::new(WEFT);
    let config = host.dir.path().join("weft.toml");
    std::fs::write(
        &config,
        "[subscriptions.seen]\nsubscribe = [\"orders/>\"]\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let new = |args: &[&str]| {
        let mut all = vec!["token", "new"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", cfg]);
        let (ok, out, err) = weft(&all);
        assert!(ok, "{out}{err}");
        out.trim().to_owned()
    };
    let ci = new(&["ci", "--publish", "orders/>"]);
    let ops = new(&["ops", "--admin", "--tap", ">"]);
    let old = new(&["old", "--publish", ">", "--expires", "2020-01-01T00:00:00Z"]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(ci.starts_with("weft_") && ci.len() == 69, "{ci}");
    for token in [&ci, &ops, &old] {
        assert!(
            !text.contains(token.as_str()),
            "the config never holds a token:\n{text}"
        );
    }
    assert!(
        text.contains("[tokens.ci]\npublish = [\"orders/>\"]\ndigest = \"sha256:"),
        "{text}"
    );
    assert!(
        text.contains("expires = \"2020-01-01T00:00:00Z\""),
        "{text}"
    );

    // A name taken already: refused, the file unchanged.
    let (ok, _, err) = weft(&["token", "new", "ci", "--tap", ">", "--config", cfg]);
    assert!(!ok);
    assert!(
        err.contains("already has [tokens.ci]: nothing written"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    // Without --config: the table on stdout (valid TOML), the token on stderr.
    let (ok, out, err) = weft(&["token", "new", "tmp", "--tap", "a/*", "--expires", "30d"]);
    assert!(ok, "{err}");
    let table: toml::Table = toml::from_str(&out).unwrap();
    assert!(
        table["tokens"]["tmp"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(err.contains("shown once") && err.contains("weft_"), "{err}");
    let (ok, _, err) = weft(&["token", "new", "nothing"]);
    assert!(!ok && err.contains("would grant nothing"), "{err}");

    host.start().await;
    assert_eq!(call(&host, &ci, "POST", "/v1/events/orders/1").await.0, 202);
    let (status, body) = call(&host, &ci, "POST", "/v1/events/payments/1").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&host, &ci, "GET", "/v1/status").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&host, &old, "POST", "/v1/events/orders/2").await;
    assert_eq!(status, 401, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("token `old` expired at 2020-01-01"),
        "{detail}"
    );
    assert_eq!(call(&host, "weft_guess", "GET", "/v1/tap").await.0, 401);

    let (status, s) = call(&host, &ops, "GET", "/v1/status").await;
    assert_eq!(status, 200, "{s}");
    let refused = |name: &str| {
        s["auth"]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["refused"].as_u64().unwrap())
    };
    assert_eq!(refused("ci"), Some(2), "{s}");
    assert_eq!(refused("old"), Some(1), "{s}");
    assert_eq!(refused("ops"), Some(0), "{s}");
    assert_eq!(s["auth"]["refused_unknown_token"], 1, "{s}");
    let log = crate::grants::plain(&host.log());
    let logged = |needle: &str| log.lines().any(|l| l.contains(needle));
    assert!(
        logged("publish refused: not granted token=ci topic=payments/1 refused=1"),
        "{log}"
    );
    assert!(
        logged("admin route refused token=ci path=/v1/status refused=2"),
        "{log}"
    );
    assert!(logged("expired token refused token=old"), "{log}");
    assert!(logged("unknown token refused"), "{log}");
    for token in [&ci, &ops, &old] {
        assert!(!log.contains(token.as_str()), "the log never shows a token");
    }
    let seen = &s["subscriptions"][0];
    assert_eq!(
        (&seen["name"], &seen["queue_depth"]),
        (&"seen".into(), &1.into()),
        "{s}"
    );
}
