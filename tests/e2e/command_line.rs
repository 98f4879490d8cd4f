//! The command line a person expects: completions and man pages generated from the
//! parser, an example in every `--help`, and `weft publish --file` for scripts.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use weft_tests::{Host, sink_config};

use crate::WEFT;

fn weft(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(WEFT).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn completions_and_man_pages_come_from_the_parser() {
    for (shell, marker) in [
        ("bash", "_weft()"),
        ("zsh", "#compdef weft"),
        ("fish", "complete -c weft"),
    ] {
        let (ok, out, err) = weft(&["completions", shell]);
        assert!(ok, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: {out}");
        // Subcommands and their options are completed.
        assert!(out.contains("publish") && out.contains("file"), "{shell}");
    }
    let (ok, _, err) = weft(&["completions", "tcsh"]);
    assert!(!ok);
    assert!(err.contains("possible values: bash, zsh, fish"), "{err}");

    let (ok, page, err) = weft(&["man"]);
    assert!(ok, "{err}");
    assert!(page.contains(".TH weft 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = weft(&["man", "--dir", dir.path().join("man1").to_str().unwrap()]);
    assert!(ok, "{err}");
    let publish = std::fs::read_to_string(dir.path().join("man1/weft-publish.1")).unwrap();
    assert!(publish.contains("\\-\\-file"), "{publish}");
    assert!(dir.path().join("man1/weft-errors-replay.1").exists());
}

/// Every command's `--help` ends with an example of its use.
#[test]
fn every_help_shows_an_example() {
    let commands: &[&[&str]] = &[
        &[],
        &["run"],
        &["publish"],
        &["tap"],
        &["status"],
        &["errors"],
        &["errors", "list"],
        &["errors", "show"],
        &["errors", "replay"],
        &["errors", "purge"],
        &["check"],
        &["new"],
        &["test"],
        &["store"],
        &["store", "compact"],
        &["completions"],
        &["man"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let (ok, out, err) = weft(&args);
        assert!(ok, "{command:?}: {err}");
        assert!(
            out.contains("Example:\n  weft") || out.contains("Examples:\n  weft"),
            "`weft {}` has no example:\n{out}",
            command.join(" ")
        );
    }
}

fn event(id: &str, extra: Value) -> String {
    let mut e = json!({"specversion": "1.0", "id": id, "source": "/script", "type": "t",
        "datacontenttype": "application/json", "data": {"n": id}});
    e.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    e.to_string()
}

/// `weft publish --file`: structured events a line, each line's own `topic` or
/// the argument's; the first bad line stops it, the lines before are published
/// and none after, and the error names the line and how to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reads_json_lines_and_stops_at_the_first_bad_one() {
    let mut host = Host::new(WEFT);
    host.config(&sink_config("all", ">"));
    host.start().await;
    let url = host.url("");
    let file = host.dir.path().join("events.jsonl");
    let bad = r#"{"specversion":"1.0","source":"/script","type":"t"}"#;
    std::fs::write(
        &file,
        [
            event("1", json!({})),
            event("2", json!({"topic": "other/topic"})),
            String::new(),
            event("3", json!({})),
            bad.to_owned(),
            event("5", json!({})),
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, out, err) = weft(&[
        "publish",
        "orders/created",
        "--file",
        file.to_str().unwrap(),
        "--host",
        &url,
    ]);
    assert!(!ok, "a bad line fails the command");
    let at = format!("{}:5: ", file.display());
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("`id` is missing"), "{err}");
    assert!(
        err.contains("3 events before line 5 were published, none from line 5 on"),
        "{err}"
    );
    assert!(err.contains("tail -n +5"), "{err}");
    let acks: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        acks,
        [
            json!({"line": 1, "id": "1", "duplicate": false}),
            json!({"line": 2, "id": "2", "duplicate": false}),
            json!({"line": 4, "id": "3", "duplicate": false}),
        ]
    );
    let stored = host.drain("all").await;
    let got: Vec<(&str, &str)> = stored
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e["topic"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("1", "orders/created"),
            ("2", "other/topic"),
            ("3", "orders/created")
        ]
    );
    assert_eq!(stored[0]["data"], json!({"n": "1"}));

    // Standard input: resuming with the line fixed; and what `weft tap` prints
    // (each event with its `topic`) is accepted as it is.
    let mut child = Command::new(WEFT)
        .args(["publish", "--file", "-", "--host", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = format!(
        "{}\n{}\n",
        event("4", json!({"topic": "orders/created"})),
        event("5", json!({"topic": "orders/created"}))
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(host.drain("all").await.len(), 2);

    // Without a topic anywhere the line is refused, and nothing is sent.
    let (ok, _, err) = weft(&["publish", "--file", file.to_str().unwrap(), "--host", &url]);
    assert!(!ok);
    assert!(err.contains(":1: ") && err.contains("topic"), "{err}");
    assert!(err.contains("0 events before line 1"), "{err}");
    assert!(host.drain("all").await.is_empty());
}
