//! The dashboard over real HTTP: the embedded page and assets, open on a host
//! without tokens; on a host with tokens the sign-in, its session cookie's
//! flags, and the CSRF token a change needs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod common;

use common::Host;
use serde_json::Value;

#[tokio::test]
async fn without_tokens_the_page_and_its_assets_are_served_from_the_binary() {
    let host = Host::start("").await;
    for (path, kind, needle) in [
        ("/ui", "text/html", "Error queue"),
        ("/ui/app.js", "text/javascript", "/v1/errors/replay"),
        ("/ui/style.css", "text/css", "svg.spark"),
    ] {
        let r = host.http.get(host.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{path}");
        assert!(
            !text.contains("https://"),
            "{path} loads nothing from elsewhere"
        );
    }
    host.stop().await.unwrap();
}

#[tokio::test]
async fn with_tokens_a_sign_in_sets_a_strict_http_only_cookie_and_changes_need_its_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin");
    std::fs::write(&admin, "adm1n").unwrap();
    let host = Host::start(&format!(
        "[secrets]\nA = {{ file = {:?} }}\n[tokens.ops]\ntoken = {{ secret = \"A\" }}\nadmin = true\n",
        admin.display().to_string()
    ))
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(host.url("/ui")).send().await.unwrap();
    let text = page.text().await.unwrap();
    assert!(
        text.contains("Sign in") && !text.contains("Error queue"),
        "{text}"
    );

    let form = |token: &str| {
        http.post(host.url("/ui/sign-in"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    let wrong = form("guess").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("does not know that token")
    );

    let signed = form("adm1n").await.unwrap();
    assert_eq!(signed.status(), 303);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    assert!(!session.contains("adm1n"), "the cookie is not the token");

    let page = http
        .get(host.url("/ui"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Error queue"), "{page}");
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    // Reading with the cookie works like the token.
    let r = http
        .get(host.url("/v1/status"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A change without the CSRF token is refused, with it it reaches the handler.
    let replay = |csrf: Option<&str>| {
        let mut req = http
            .post(host.url("/v1/errors/replay"))
            .header("cookie", &session)
            .header("content-type", "application/json")
            .body(r#"{"module":"nothing","seq":1}"#);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let refused = replay(None).await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("CSRF"), "{body}");
    let refused = replay(Some("forged")).await.unwrap();
    assert_eq!(refused.status(), 403);
    let done = replay(Some(&csrf)).await.unwrap();
    assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
    // Without the cookie, nothing.
    let r = http.get(host.url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    host.stop().await.unwrap();
}
