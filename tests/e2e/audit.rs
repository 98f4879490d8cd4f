//! Sync before acknowledge, proven from the syscalls: a real host runs under `strace`,
//! one publisher sends events one at a time, and for every `202` the trace must show,
//! after the request was read and before the response was written, an `fsync` or
//! `fdatasync` that returned 0 on a file in the host's data folder.
//! `sync_file_range` does not count: it persists no metadata and flushes no device
//! cache (sled 0.34's `flush` relies on it alone).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::json;
use weft_tests::{Host, sink_config, target_dir};

use crate::WEFT;

const EVENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_202_follows_an_fsync_of_the_store() {
    audit_host("", "weft.redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_202_follows_an_fsync_of_the_store_on_sled() {
    audit_host("[store]\nengine = \"sled\"\n", "weft.sled").await;
}

/// Publishes `EVENTS` events one at a time to a host under strace (with `config`
/// added to its config file) and audits the trace: the syncs must be on `store`, the
/// engine's file or folder in the data folder.
async fn audit_host(config: &str, store: &str) {
    let strace = Command::new("strace").arg("-V").output();
    assert!(
        strace.is_ok_and(|o| o.status.success()),
        "this test needs `strace` on PATH; scripts/setup.sh installs it"
    );
    let host = Host::new(WEFT);
    host.config(&format!("{config}{}", sink_config("out", "in/>")));
    let trace = host.dir.path().join("strace.txt");
    let data = host.dir.path().join("data").join(store);
    let mut traced = Traced::start(&host, &trace).await;

    for i in 0..EVENTS {
        let (status, body) = host
            .publish("in/audit", &format!("a{i}"), &json!({ "i": i }))
            .await;
        assert_eq!(status, 202, "{body}");
    }
    traced.stop();

    let text = std::fs::read_to_string(&trace).unwrap();
    let audit = audit(&text, &data);
    // The host's folder goes away with the test: keep the trace of a failure.
    let kept = target_dir().join("audit-strace.txt");
    if !audit.violations.is_empty() || audit.acks != EVENTS {
        std::fs::write(&kept, &text).unwrap();
    }
    assert!(
        audit.violations.is_empty(),
        "{} of {} acknowledgements were written without an fsync of the store after \
         their request was read (trace: {}), e.g.:\n{}",
        audit.violations.len(),
        audit.acks,
        kept.display(),
        audit.violations[..audit.violations.len().min(3)].join("\n---\n")
    );
    assert_eq!(
        audit.acks,
        EVENTS,
        "the trace shows {} responses `HTTP/1.1 202` for {EVENTS} publishes (trace: {})",
        audit.acks,
        kept.display()
    );
}

/// `weft run` under `strace`, with the arguments `Host::start` uses.
struct Traced {
    strace: Child,
}

impl Traced {
    async fn start(host: &Host, trace: &Path) -> Self {
        let log = std::fs::File::create(host.dir.path().join("weft.log")).unwrap();
        let strace = Command::new("strace")
            .args(["-f", "-tt", "-y", "-s", "64", "-o"])
            .arg(trace)
            .arg("-e")
            .arg(format!(
                "trace={}",
                [SYNCS, READS, WRITES].concat().join(",")
            ))
            .arg(WEFT)
            .arg("run")
            .arg("--modules")
            .arg(host.modules())
            .arg("--data")
            .arg(host.dir.path().join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", host.port))
            .arg("--cache")
            .arg(target_dir().join("weft-test-cache"))
            .arg("--config")
            .arg(host.dir.path().join("weft.toml"))
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut traced = Self { strace };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = host.http.get(host.url("/readyz")).send().await
                && r.status().is_success()
            {
                return traced;
            }
            if let Some(status) = traced.strace.try_wait().unwrap() {
                panic!(
                    "weft under strace exited while starting ({status}):\n{}",
                    host.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "weft did not become ready:\n{}",
                host.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM to weft (strace's child), then waits for both, so the trace is complete.
    fn stop(&mut self) {
        let children = format!("/proc/{0}/task/{0}/children", self.strace.id());
        let weft = std::fs::read_to_string(children).unwrap_or_default();
        for pid in weft.split_whitespace() {
            let _ = Command::new("kill").args(["-TERM", pid]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.strace.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.strace.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.strace.wait();
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        if self.strace.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

const SYNCS: &[&str] = &["fsync", "fdatasync", "sync_file_range"];
const READS: &[&str] = &["read", "recvfrom", "readv", "recvmsg"];
const WRITES: &[&str] = &["write", "sendto", "writev", "sendmsg"];

#[derive(Debug, Default)]
struct Audit {
    /// Responses `HTTP/1.1 202` seen.
    acks: usize,
    /// For each 202 without a sync before it, the trace from its request on.
    violations: Vec<String>,
}

/// One syscall of the trace, put together from its `<unfinished ...>` and
/// `<... resumed>` halves when another thread interrupted it.
struct Call {
    name: String,
    /// The first argument, e.g. `7</tmp/x/data/weft.redb>` (with `-y`).
    fd: String,
    /// Everything strace printed for it.
    text: String,
    /// The return value, when it has returned.
    result: Option<i64>,
}

/// Walks the trace in order. For each connection's request (a read holding
/// `POST /v1/events/`), a successful fsync/fdatasync of a file under `data` must
/// come after the request's last read and before the `202` is written.
fn audit(trace: &str, data: &Path) -> Audit {
    let data = data.to_string_lossy();
    let mut audit = Audit::default();
    // The connection being answered, and whether the store synced since its last read.
    let mut request: Option<(String, Vec<&str>)> = None;
    let mut synced = false;
    let mut pending: HashMap<&str, &str> = HashMap::new();
    for line in trace.lines() {
        // `PID  HH:MM:SS.micros CALL` (strace pads the pid).
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some((_time, call)) = rest.trim_start().split_once(' ') else {
            continue;
        };
        let call = if let Some(resumed) = call.strip_prefix("<... ") {
            // `<... NAME resumed>REST`: join it to the half that started it.
            let Some(started) = pending.remove(pid) else {
                continue;
            };
            let rest = resumed.split_once("resumed>").map_or("", |(_, r)| r);
            // A write was counted when it started.
            parse(&format!("{started}{rest}")).filter(|c| !WRITES.contains(&c.name.as_str()))
        } else if let Some(started) = call.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, started);
            // Writes show their bytes when they start: the response is out from here.
            match parse(started) {
                Some(c) if WRITES.contains(&c.name.as_str()) => Some(c),
                _ => None,
            }
        } else {
            parse(call)
        };
        let Some(c) = call else { continue };
        if let Some(r) = &mut request {
            r.1.push(line);
        }
        let name = c.name.as_str();
        if READS.contains(&name) && c.result.is_some_and(|n| n > 0) {
            if c.text.contains("POST /v1/events/") {
                request = Some((c.fd.clone(), vec![line]));
                synced = false;
            } else if request.as_ref().is_some_and(|r| r.0 == c.fd) {
                synced = false; // more of the request body
            }
        } else if ["fsync", "fdatasync"].contains(&name)
            && c.result == Some(0)
            && c.fd.contains(data.as_ref())
        {
            synced = true;
        } else if WRITES.contains(&name) && c.text.contains("HTTP/1.1 202") {
            audit.acks += 1;
            match request.take() {
                Some((_, lines)) if !synced => audit.violations.push(lines.join("\n")),
                Some(_) => {}
                None => audit
                    .violations
                    .push(format!("a 202 with no request before it: {line}")),
            }
            synced = false;
        }
    }
    audit
}

/// `name(fd, ...) = result`, or the start of one (`name(fd, ...`).
fn parse(call: &str) -> Option<Call> {
    let (name, args) = call.split_once('(')?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    let fd = args.split([',', ')']).next().unwrap_or("").to_owned();
    let result = call
        .rsplit_once(") = ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(|r| r.parse().ok());
    Some(Call {
        name: name.to_owned(),
        fd,
        text: call.to_owned(),
        result,
    })
}

#[test]
fn the_audit_catches_an_ack_without_a_sync() {
    let data = Path::new("/d/data");
    let sock = "9<socket:[77]>";
    let read = format!(
        r#"1 10:00:00.000001 recvfrom({sock}, "POST /v1/events/in/x HTTP/1.1\r\n", 8192, 0, NULL, NULL) = 300"#
    );
    let ack = format!(
        r#"1 10:00:00.000009 writev({sock}, [{{iov_base="HTTP/1.1 202 Accepted\r\n", iov_len=23}}], 1) = 120"#
    );
    let fdatasync = "2  10:00:00.000005 fdatasync(7</d/data/weft.redb>) = 0";
    let split = "2 10:00:00.000004 fdatasync(7</d/data/weft.redb> <unfinished ...>\n\
                 1 10:00:00.000005 read(3<pipe:[1]>, \"x\", 8) = 1\n\
                 2 10:00:00.000006 <... fdatasync resumed>) = 0";
    let range = "2 10:00:00.000005 sync_file_range(7</d/data/db>, 0, 4096, 7) = 0";
    let elsewhere = "2 10:00:00.000005 fsync(8</tmp/other>) = 0";

    let ok = audit(&[read.as_str(), fdatasync, &ack].join("\n"), data);
    assert_eq!((ok.acks, ok.violations.len()), (1, 0));
    let ok = audit(&[read.as_str(), split, &ack].join("\n"), data);
    assert_eq!((ok.acks, ok.violations.len()), (1, 0));
    for bad in [range, elsewhere, ""] {
        let bad = audit(&[read.as_str(), bad, &ack].join("\n"), data);
        assert_eq!((bad.acks, bad.violations.len()), (1, 1), "{bad:?}");
    }
    // A sync before the request was read does not count for it.
    let early = audit(&[fdatasync, read.as_str(), &ack].join("\n"), data);
    assert_eq!(early.violations.len(), 1);
}
