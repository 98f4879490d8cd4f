//! The dashboard in a real browser (tests/browser/dashboard.js: Debian's
//! chromium driven by playwright-core, both installed by scripts/setup.sh):
//! the page shows a module and its error queue, a screenshot is saved, a
//! failed event is edited and replayed by a click, and then arrives at its
//! subscriber.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, repo_root, sink_config, target_dir};

use crate::WEFT;

#[tokio::test]
async fn a_failed_event_is_edited_and_replayed_from_the_dashboard() {
    let browser = repo_root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run scripts/setup.sh (it installs chromium and the pinned playwright-core)"
    );
    let retry = "[delivery]\nretry = { attempts = 1, initial = \"10ms\", max = \"10ms\" }";
    let mut host = Host::new(WEFT);
    host.module("orders", &guest("trap"), &manifest("in", "out", retry));
    host.config(&sink_config("out", "out"));
    host.start().await;
    let (status, _) = host
        .publish("in", "o-1", &json!({ "order": "boom-1" }))
        .await;
    assert_eq!(status, 202);
    host.wait_errors("orders", 1, Duration::from_secs(30)).await;

    let screenshot = target_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = Command::new("node")
        .arg(browser.join("dashboard.js"))
        .current_dir(&browser)
        .env("WEFT_URL", host.url(""))
        .env("SCREENSHOT", &screenshot)
        .env("MODULE", "orders")
        .env("SUBSCRIPTION", "out")
        .env("EDIT", r#"{"order":"fixed"}"#)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the browser test failed:\n{}{}\nhost log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 10_000,
        "a screenshot was saved"
    );
    let arrived = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(arrived.len(), 1, "{}", host.log());
    assert_eq!(arrived[0]["data"], json!({ "order": "fixed" }));
    assert_eq!(arrived[0]["weftreplays"], 1);
}
