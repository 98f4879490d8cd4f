#![allow(clippy::unwrap_used, reason = "tests")]
use super::*;

#[test]
fn a_full_manifest_parses_with_units() {
    let m = Manifest::parse(
        r#"
subscribe = ["orders/>"]
publish = ["orders/enriched/>"]
[limits]
memory = "32MiB"
call_timeout = "250ms"
[delivery]
batch_max = 16
retry = { attempts = 3, initial = "10ms", max = "1s" }
[config]
currency = "EUR"
rate = 2
on = true
[config.rename]
cust = "customer"
"#,
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(m.memory, 32 * 1024 * 1024);
    assert_eq!(m.call_timeout, Duration::from_millis(250));
    assert_eq!(m.batch_max, 16);
    assert_eq!(m.retry.attempts, 3);
    assert_eq!(m.retry.max, Duration::from_secs(1));
    let get = |k: &str| m.config.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("currency"), "EUR");
    assert_eq!(get("rate"), "2");
    assert_eq!(get("on"), "true");
    assert_eq!(get("rename"), r#"{"cust":"customer"}"#);
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Manifest::parse(
        r#"
subscribe = ["a//b"]
publish = ["x/>/y"]
[limits]
memory = "lots"
call_timeout = "soon"
"#,
        &Defaults::default(),
    )
    .unwrap_err()
    .to_string();
    for needle in [
        "subscribe:",
        "publish:",
        "limits.memory",
        "limits.call_timeout",
    ] {
        assert!(err.contains(needle), "{needle} missing in: {err}");
    }
}

#[test]
fn unknown_fields_and_missing_subscriptions_are_refused() {
    let err = Manifest::parse(
        "subscribe = [\"a\"]\nsubscrbe = [\"b\"]",
        &Defaults::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `subscrbe`"), "{err}");
    let m = Manifest::parse("publish = [\"a\"]", &Defaults::default()).unwrap();
    let err = m.check_world(Kind::Processor).unwrap_err().to_string();
    assert!(err.contains("`subscribe` is empty"), "{err}");
}

#[test]
fn each_world_gets_its_own_fields_checked() {
    let d = Defaults::default();
    let ingress = Manifest::parse(
        "publish = [\"hooks/>\"]\n[ingress]\nroute = true\ninterval = \"5s\"\nwatch = \"inbox\"",
        &d,
    )
    .unwrap();
    ingress.check_world(Kind::Ingress).unwrap();
    let t = ingress.ingress.clone().unwrap();
    assert_eq!(t.interval, Some(Duration::from_secs(5)));
    assert!(t.route);
    let err = ingress
        .check_world(Kind::Processor)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[ingress]") && err.contains("subscribe"),
        "{err}"
    );
    let egress = Manifest::parse("subscribe = [\"a/>\"]\npublish = [\"b\"]", &d).unwrap();
    let err = egress.check_world(Kind::Egress).unwrap_err().to_string();
    assert!(err.contains("`publish` is set"), "{err}");
    let err = Manifest::parse("publish = [\"a\"]\n[ingress]\n", &d)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no trigger"), "{err}");
    let err = Manifest::parse("publish = [\"a\"]\n[ingress]\ninterval = \"1us\"", &d)
        .unwrap_err()
        .to_string();
    assert!(err.contains("too short"), "{err}");
}

#[test]
fn folders_need_absolute_guest_paths_and_resolve_against_the_modules_folder() {
    let d = Defaults::default();
    let err = Manifest::parse(
        "subscribe = [\"a\"]\n[folders]\n\"out\" = { path = \"x\" }\n\"/a/../b\" = { path = \"y\" }",
        &d,
    )
    .unwrap_err().to_string();
    assert!(err.contains("\"out\" is not a guest path"), "{err}");
    assert!(err.contains("\"/a/../b\" is not a guest path"), "{err}");
    let mut m = Manifest::parse(
        "subscribe = [\"a\"]\n[folders]\n\"/out\" = { path = \"out\", write = true }\n\"/in\" = { path = \"/srv/in\" }",
        &d,
    )
    .unwrap();
    m.resolve_paths(Path::new("/mods"));
    assert_eq!(
        m.folders,
        vec![
            Folder {
                guest: "/in".into(),
                host: "/srv/in".into(),
                write: false
            },
            Folder {
                guest: "/out".into(),
                host: "/mods/out".into(),
                write: true
            },
        ]
    );
}

#[test]
fn secrets_resolve_by_name_and_are_never_shown() {
    let d = Defaults {
        secrets: Secrets::new(BTreeMap::from([("GH".to_owned(), "s3cr3t".to_owned())])),
        ..Defaults::default()
    };
    let m = Manifest::parse(
        "subscribe = [\"a\"]\n[config]\ntoken = { secret = \"GH\" }\nplain = \"x\"",
        &d,
    )
    .unwrap();
    assert!(
        m.config
            .contains(&("token".to_owned(), "s3cr3t".to_owned()))
    );
    let shown = format!("{:?} {:?} {:?}", m.shown_config(), m, d);
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("<secret GH>"), "{shown}");
    let err = Manifest::parse(
        "subscribe = [\"a\"]\n[config]\ntoken = { secret = \"NOPE\" }",
        &d,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("secret `NOPE`") && err.contains("[secrets]"),
        "{err}"
    );
}

#[test]
fn a_manifest_error_shows_one_problem_per_line() {
    let err = Manifest::parse(
        "subscribe = [\"a\"]\n[limits]\nmemory = \"lots\"\n[delivery]\nworkers = 0",
        &Defaults::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "limits.memory = \"lots\" is not a size: write it with its unit, e.g. \"64MiB\"\n\
         delivery.workers = 0 is out of range: 1 to 64"
    );
    let syntax = Manifest::parse("subscribe = [", &Defaults::default()).unwrap_err();
    assert!(matches!(syntax, ManifestError::Syntax(_)), "{syntax:?}");
    assert!(
        syntax.to_string().starts_with("TOML parse error"),
        "{syntax}"
    );
}

#[test]
fn an_http_deadline_is_read_and_bounded() {
    let m = Manifest::parse(
        "[http]\nallow = [\"https://api.example\"]\ndeadline = \"90s\"\n",
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(m.http.deadline(), Duration::from_secs(90));
    let default = Manifest::parse(
        "[http]\nallow = [\"https://api.example\"]\n",
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(default.http.deadline(), crate::http::DEFAULT_DEADLINE);
    let err = Manifest::parse(
        "[http]\nallow = [\"https://api.example\"]\ndeadline = \"2h\"\n",
        &Defaults::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("http: deadline = 7200s is out of range"),
        "{err}"
    );
}

#[test]
fn a_webhook_may_await_its_reply_and_nothing_else_may() {
    let d = Defaults::default();
    let m = Manifest::parse(
        "publish = [\"a/>\"]\n[ingress]\nroute = true\nawait_reply = \"3s\"",
        &d,
    )
    .unwrap();
    let t = m.ingress.unwrap();
    assert_eq!(t.await_reply, Some(Duration::from_secs(3)));
    let err = Manifest::parse(
        "publish = [\"a\"]\n[ingress]\ninterval = \"5s\"\nawait_reply = \"3s\"",
        &d,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("without `route = true`"), "{err}");
    let err = Manifest::parse(
        "publish = [\"a\"]\n[ingress]\nroute = true\nawait_reply = \"0s\"",
        &d,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("more than zero"), "{err}");
}
