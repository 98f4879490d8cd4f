//! TLS on the listener (`[http.tls]`): the real binary serves https with a
//! certificate made in the test, `weft` commands reach it with `--ca`, and a
//! certificate replaced on disk is served without a restart.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use weft_tests::tls::TestPki;
use weft_tests::{Host, sink_config};

use crate::WEFT;

fn tls_config(pki: &TestPki) -> String {
    format!(
        "[http.tls]\ncert = \"{}\"\nkey = \"{}\"\n\n{}",
        pki.cert.display(),
        pki.key.display(),
        sink_config("seen", "orders/>")
    )
}

fn weft(args: &[&str]) -> (bool, String) {
    let out = Command::new(WEFT).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Replaces `to` with `from`'s content by a rename, as certificate tools do.
fn replace(from: &std::path::Path, to: &std::path::Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test]
async fn https_with_a_ca_file_and_a_certificate_renewed_on_disk() {
    let mut host = Host::new(WEFT);
    let pki = TestPki::new(host.dir.path(), "first");
    host.config(&tls_config(&pki));
    host.https(pki.client());
    host.start().await;
    let base = host.url("");
    let ca = pki.ca.to_str().unwrap();

    // The commands speak https with --ca; without it the certificate is not
    // trusted and the error says what to pass.
    let (ok, out) = weft(&[
        "publish",
        "--host",
        &base,
        "--ca",
        ca,
        "orders/1",
        r#"{"n":1}"#,
    ]);
    assert!(ok, "{out}");
    let (ok, out) = weft(&["status", "--host", &base, "--ca", ca]);
    assert!(ok && out.contains("seen"), "{out}");
    let (ok, out) = weft(&["status", "--host", &base]);
    assert!(!ok, "{out}");
    assert!(out.contains("pass --ca"), "{out}");
    let (ok, out) = weft(&["errors", "list", "--host", &base, "--ca", ca]);
    assert!(ok, "{out}");
    assert_eq!(host.drain("seen").await.len(), 1);

    // Plain HTTP to the TLS port gets no answer.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let port = host.port;
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_err()
    );

    // A new certificate from another CA, renamed over the files: new
    // connections get it without a restart; the first CA no longer verifies.
    let second = TestPki::new(host.dir.path(), "second");
    replace(&second.key, &pki.key);
    replace(&second.cert, &pki.cert);
    let fresh = |p: &TestPki| p.client();
    let mut served_new = false;
    for _ in 0..100 {
        if fresh(&second).get(host.url("/readyz")).send().await.is_ok() {
            served_new = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served_new,
        "the renewed certificate is served:\n{}",
        host.log()
    );
    assert!(fresh(&pki).get(host.url("/readyz")).send().await.is_err());
    host.https(second.client());
    let (status, _) = host.publish("orders/2", "e2", &json!({"n": 2})).await;
    assert_eq!(status, 202);
    assert!(
        host.log().contains("TLS certificate reloaded"),
        "{}",
        host.log()
    );

    // A broken file is not taken: the pair in force stays, and the log says so.
    std::fs::write(&pki.cert, "not a certificate").unwrap();
    let logged = weft_tests::eventually(Duration::from_secs(5), || {
        host.log().contains("TLS certificate not reloaded")
    })
    .await;
    assert!(logged, "{}", host.log());
    assert!(fresh(&second).get(host.url("/readyz")).send().await.is_ok());
}

#[test]
fn a_host_whose_key_does_not_fit_its_certificate_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestPki::new(dir.path(), "a");
    let b = TestPki::new(dir.path(), "b");
    let config = dir.path().join("weft.toml");
    std::fs::write(
        &config,
        format!(
            "[http.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            a.cert.display(),
            b.key.display()
        ),
    )
    .unwrap();
    let port = weft_tests::free_port().to_string();
    let (ok, out) = weft(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--modules",
        dir.path().join("modules").to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not fit the certificate"), "{out}");
    assert!(out.contains("b-key.pem"), "{out}");
}
