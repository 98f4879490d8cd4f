//! `weft dev`: a project made by `weft new`, built, checked and swapped into a
//! host on each save, with the live tap and the replay in one terminal; a
//! compile error leaves the running version serving.

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft_tests::{Host, target_dir};

use crate::WEFT;

/// `weft dev`'s standard output, line by line, as it comes.
struct Session {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Session {
    fn start(project: &std::path::Path, args: &[&str]) -> Self {
        let mut child = Command::new(WEFT)
            .arg("dev")
            .args(args)
            .current_dir(project)
            // Shares the guests' target folder, so the SDK's dependencies build once.
            .env("CARGO_TARGET_DIR", target_dir().join("guests"))
            .env("WEFT_CACHE", target_dir().join("weft-test-cache"))
            .env_remove("RUSTFLAGS")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; the line.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(180);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!(
            "no line with {text:?}; weft dev said:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn dev_builds_swaps_on_save_and_keeps_serving_through_a_compile_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(WEFT)
        .args(["new", "processor", "hello", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.path().join("hello");
    std::fs::write(
        project.join("sample.jsonl"),
        "{\"specversion\":\"1.0\",\"id\":\"s1\",\"source\":\"/try\",\"type\":\"demo\",\"topic\":\"in/x\",\"data\":{\"n\":1}}\n",
    )
    .unwrap();
    let mut dev = Session::start(&project, &["--input", "sample.jsonl"]);
    dev.wait_for("profile `weft-dev`");
    let host = dev.wait_for("host: http://127.0.0.1:");
    dev.wait_for("check ok: a valid weft processor");
    dev.wait_for("loaded: version ");
    dev.wait_for("in  in/x s1 {\"n\":1}");
    dev.wait_for("out out/hello ");

    // A compile error: the compiler's message, and the version running stays.
    let lib = project.join("src/lib.rs");
    let code = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        code.replace("event.topic = topic;", "event.topic = topic"),
    )
    .unwrap();
    dev.wait_for("error: expected `;`");
    dev.wait_for("build failed: cargo build failed");
    let url = host
        .split("host: ")
        .nth(1)
        .and_then(|h| h.split(' ').next())
        .unwrap();
    let sent = Command::new(WEFT)
        .args([
            "publish",
            "in/y",
            "{\"still\":true}",
            "--id",
            "p1",
            "--host",
            url,
        ])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    dev.wait_for("out out/hello ");

    // The fix, with a change: swapped, replayed, and the new code's output shown.
    std::fs::write(
        &lib,
        code.replace(
            "event.topic = topic;",
            "event.topic = format!(\"{topic}/v2\");",
        ),
    )
    .unwrap();
    let swapped = dev.wait_for("swapped: version ");
    assert!(swapped.contains("s after the change"), "{swapped}");
    dev.wait_for("out out/hello/v2 ");

    // A manifest that does not fit the world fails the check; nothing is swapped.
    let manifest = project.join("hello.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, format!("{text}\n[ingress]\ninterval = \"1s\"\n")).unwrap();
    dev.wait_for("check failed: ");
    std::fs::write(&manifest, text).unwrap();

    // SIGTERM ends `weft dev` and the host it started.
    let data = project.join(".weft/data");
    assert!(weft_tests::pid_with_arg(&data).is_some());
    let killed = Command::new("kill")
        .args(["-TERM", &dev.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    dev.wait_for("stopped");
    let _ = dev.child.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while weft_tests::pid_with_arg(&data).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        weft_tests::pid_with_arg(&data).is_none(),
        "the host went with weft dev"
    );
}

/// `--modules DIR`: the same loop into a running host's folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_swaps_into_a_running_hosts_modules_folder() {
    let mut host = Host::new(WEFT);
    host.start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(WEFT)
        .args(["new", "processor", "hello2", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let project = dir.path().join("hello2");
    let modules = host.modules();
    let url = host.url("");
    let mut dev = tokio::task::spawn_blocking(move || {
        let mut dev = Session::start(
            &project,
            &[
                "--modules",
                modules.to_str().unwrap(),
                "--host",
                &url,
                "--once",
            ],
        );
        dev.wait_for("loaded: version ");
        dev
    })
    .await
    .unwrap();
    assert!(dev.child.wait().unwrap().success());
    let status = host.get("/v1/status").await;
    assert_eq!(status["modules"][0]["name"], "hello2");
    assert!(!host.dir.path().join("modules/.weft").exists());
}
