use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, example_manifest, guest, manifest};

use crate::WEFT;

fn weft(args: &[&str], cache: &std::path::Path) -> std::process::Output {
    Command::new(WEFT)
        .args(args)
        .env("WEFT_CACHE", cache)
        .output()
        .unwrap()
}

#[test]
fn check_names_the_world_or_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cache = weft_tests::target_dir().join("weft-test-cache");
    let wasm = guest("json-transform");
    let out = weft(&["check", wasm.to_str().unwrap()], &cache);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("a valid weft processor"), "{stdout}");
    assert!(
        stdout.contains("weft:integration/handler@0.1.0"),
        "{stdout}"
    );

    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let out = weft(&["check", core.to_str().unwrap()], &cache);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("core.wasm is a core WebAssembly module, not a component"),
        "{stderr}"
    );
}

#[test]
fn test_runs_a_module_offline_on_sample_events() {
    let dir = tempfile::tempdir().unwrap();
    let cache = weft_tests::target_dir().join("weft-test-cache");
    let wasm = dir.path().join("json-transform.wasm");
    std::fs::copy(guest("json-transform"), &wasm).unwrap();
    std::fs::write(
        dir.path().join("json-transform.toml"),
        example_manifest("json-transform"),
    )
    .unwrap();
    let input = dir.path().join("events.jsonl");
    let line = |id: &str, data: serde_json::Value| {
        json!({"specversion": "1.0", "id": id, "source": "/t", "type": "order", "datacontenttype": "application/json", "data": data}).to_string()
    };
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n",
            line("1", json!({"cust": "Ada"})),
            line("2", json!([1, 2]))
        ),
    )
    .unwrap();
    let out = weft(
        &[
            "test",
            wasm.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--topic",
            "orders/created",
        ],
        &cache,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let emitted = &lines[0]["emitted"][0];
    assert_eq!(emitted["topic"], "orders/enriched");
    assert_eq!(
        emitted["data"],
        json!({"customer": "Ada", "currency": "EUR"})
    );
    assert!(
        lines[1]["rejected"].as_str().is_some(),
        "a non-object is rejected: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_tap_talk_to_a_running_host() {
    let mut host = Host::new(WEFT);
    host.module("echo", &guest("echo"), &manifest("in", "out", ""));
    host.start().await;
    let url = host.url("");
    let mut tap = Command::new(WEFT)
        .args(["tap", "out", "--count", "1", "--host", &url])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The tap is live only and starts in its own process: publish until it has
    // shown one event.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for i in 0.. {
        let id = format!("p{i}");
        let out = Command::new(WEFT)
            .args([
                "publish",
                "in",
                "{\"hello\":1}",
                "--id",
                &id,
                "--host",
                &url,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("\"{id}\"")));
        tokio::time::sleep(Duration::from_millis(200)).await;
        if tap.try_wait().unwrap().is_some() || std::time::Instant::now() > deadline {
            break;
        }
    }
    let _ = tap.kill();
    let shown = tap.wait_with_output().unwrap();
    let line = String::from_utf8_lossy(&shown.stdout);
    let event: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(event["topic"], "out");
    assert_eq!(event["data"], json!({"hello": 1}));
}

/// `weft new` gives a plugin author a project that builds and passes `weft check`
/// as it is, for each world; and it never overwrites a folder.
#[test]
fn new_projects_build_and_pass_check_for_every_world() {
    let dir = tempfile::tempdir().unwrap();
    let cache = weft_tests::target_dir().join("weft-test-cache");
    for (kind, name, world) in [
        ("processor", "my-processor", "processor"),
        ("ingress", "my-ingress", "ingress connector"),
        ("egress", "my-egress", "egress connector"),
    ] {
        let out = weft(
            &["new", kind, name, "--dir", dir.path().to_str().unwrap()],
            &cache,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let project = dir.path().join(name);
        // Shares the guests' target folder so the dependencies build once per run.
        let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", weft_tests::target_dir().join("guests"))
            .env_remove("RUSTFLAGS")
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&build.stderr)
        );
        let wasm = weft_tests::target_dir()
            .join("guests/wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        // `weft check` reads the manifest beside the .wasm, as in the modules folder.
        let deployed = project.join(format!("{name}.wasm"));
        std::fs::copy(&wasm, &deployed).unwrap();
        let out = weft(&["check", deployed.to_str().unwrap()], &cache);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{kind}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("a valid weft {world}")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "manifest {}",
                project.join(format!("{name}.toml")).display()
            )),
            "{stdout}"
        );
    }
    let again = weft(
        &[
            "new",
            "processor",
            "my-processor",
            "--dir",
            dir.path().to_str().unwrap(),
        ],
        &cache,
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let bad = weft(&["new", "egress", "Bad Name"], &cache);
    assert!(!bad.status.success());
}
