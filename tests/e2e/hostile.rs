//! Hostile modules: files dropped into the modules folder to break the host at
//! load, and guests that attack it at run time. Each must fail alone, with its
//! reason where an operator looks (`/v1/status`, the log, the error queue),
//! while a good module keeps serving.
//!
//! The plainer bad files (empty, not wasm, a core module, a few bytes of a
//! component, an empty component, no manifest, a misspelt field) are in
//! `bad_modules.rs`.

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;
use weft_tests::{Host, guest, manifest, sink_config};

use crate::WEFT;

/// One attempt, so a failing event goes straight to the error queue.
const ONCE: &str = "[delivery]\nretry = { attempts = 1 }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_modules_folder_is_refused_file_by_file_while_the_good_module_serves() {
    let mut host = Host::new(WEFT);
    let ok = manifest("in", "out", "");
    host.module("good", &guest("echo"), &ok);
    let dir = host.modules();
    let echo = std::fs::read(guest("echo")).unwrap();
    let put = |name: &str, wasm: &[u8], manifest: &str| {
        std::fs::write(dir.join(format!("{name}.wasm")), wasm).unwrap();
        std::fs::write(dir.join(format!("{name}.toml")), manifest).unwrap();
    };
    // Components that are not weft modules, or not ones this host can run.
    put("half", &echo[..echo.len() / 2], &ok);
    put(
        "foreign",
        &std::fs::read(guest("foreign-world")).unwrap(),
        &ok,
    );
    put("impostor", &std::fs::read(guest("impostor")).unwrap(), &ok);
    put("thief", &std::fs::read(guest("evil-import")).unwrap(), &ok);
    // Files that are not what they seem.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("echo.wasm"), &echo).unwrap();
    std::fs::write(outside.path().join("echo.toml"), &ok).unwrap();
    symlink(outside.path().join("echo.wasm"), dir.join("link.wasm")).unwrap();
    std::fs::write(dir.join("link.toml"), &ok).unwrap();
    std::fs::write(dir.join("link-manifest.wasm"), &echo).unwrap();
    symlink(
        outside.path().join("echo.toml"),
        dir.join("link-manifest.toml"),
    )
    .unwrap();
    let huge = std::fs::File::create(dir.join("huge.wasm")).unwrap();
    huge.set_len(weft_runtime::folder::MAX_MODULE_BYTES + 1)
        .unwrap();
    std::fs::write(dir.join("huge.toml"), &ok).unwrap();
    // Reading a FIFO would wait for a writer forever.
    let made = std::process::Command::new("mkfifo")
        .arg(dir.join("fifo.wasm"))
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    std::fs::write(dir.join("fifo.toml"), &ok).unwrap();
    std::fs::create_dir(dir.join("folder.wasm")).unwrap();
    std::fs::write(dir.join("folder.toml"), &ok).unwrap();
    // Manifests that ask for what they may not have.
    put(
        "nested-field",
        &echo,
        &manifest("in", "out", "[limits]\nfuel = 1000"),
    );
    put(
        "no-such-folder",
        &echo,
        &manifest(
            "in",
            "out",
            "[folders]\n\"/data\" = { path = \"/nonexistent/weft/data\" }",
        ),
    );
    put(
        "greedy",
        &echo,
        &manifest("in", "out", "[limits]\nmemory = \"64GiB\""),
    );
    host.config(&sink_config("out", "out"));
    host.start().await;

    let status = host.get("/v1/status").await;
    let refused = status["refused"].as_array().unwrap();
    let reason = |file: &str| {
        refused
            .iter()
            .find(|r| r["file"].as_str().unwrap().ends_with(&format!("/{file}")))
            .map(|r| r["reason"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{file} not refused: {status}"))
    };
    let expect = [
        ("half.wasm", "not a valid component"),
        ("foreign.wasm", "is not a weft module"),
        ("foreign.wasm", "acme:other/greet"),
        ("impostor.wasm", "does not match world `processor`"),
        ("thief.wasm", "cannot be linked"),
        ("thief.wasm", "acme:evil/steal"),
        ("link.wasm", "symbolic link"),
        ("link-manifest.wasm", "manifest that is a symbolic link"),
        ("huge.wasm", "over the limit"),
        ("fifo.wasm", "not a regular file"),
        ("folder.wasm", "not a regular file"),
        ("nested-field.wasm", "unknown field `fuel`"),
        ("no-such-folder.wasm", "not a folder on this host"),
        ("greedy.wasm", "limits.memory"),
    ];
    for (file, why) in expect {
        let reason = reason(file);
        assert!(reason.contains(why), "{file}: {reason}");
    }
    let files: std::collections::BTreeSet<_> = expect.iter().map(|(f, _)| *f).collect();
    assert_eq!(refused.len(), files.len(), "{status}");
    let log = host.log();
    for file in &files {
        assert!(
            log.lines()
                .any(|l| l.contains("module refused") && l.contains(&format!("/{file}"))),
            "{file} is not in the log:\n{log}"
        );
    }
    let modules: Vec<&str> = status["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["good"]);

    assert_eq!(host.publish("in", "1", &json!("hi")).await.0, 202);
    let out = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(out.len(), 1, "the good module still serves");

    // `weft check` refuses what the host refuses, for the same reason.
    let check = std::process::Command::new(WEFT)
        .arg("check")
        .arg(guest("impostor"))
        .env(
            "WEFT_CACHE",
            weft_tests::target_dir().join("weft-test-cache"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not match world `processor`"),
        "{stderr}"
    );
}

/// What each attacking module is sent, its limits, and what its error record must say.
struct Attack {
    module: &'static str,
    fixture: &'static str,
    poison: &'static str,
    limits: &'static str,
    reason: &'static str,
}

const ATTACKS: [Attack; 7] = [
    Attack {
        module: "recursion",
        fixture: "recursion",
        poison: "recurse",
        limits: "call_timeout = \"10s\"",
        reason: "call stack exhausted",
    },
    Attack {
        module: "busy-loop",
        fixture: "busy-loop",
        poison: "spin",
        limits: "call_timeout = \"300ms\"",
        reason: "interrupted",
    },
    Attack {
        module: "memory-bomb",
        fixture: "memory-bomb",
        poison: "grow",
        limits: "memory = \"16MiB\"\ncall_timeout = \"10s\"",
        reason: "memory limit",
    },
    Attack {
        module: "random",
        fixture: "hog",
        poison: "random",
        limits: "call_timeout = \"10s\"",
        reason: "exceeds limit",
    },
    Attack {
        module: "fields",
        fixture: "hog",
        poison: "fields",
        limits: "call_timeout = \"10s\"",
        reason: "resource table",
    },
    Attack {
        module: "bodies",
        fixture: "hog",
        poison: "bodies",
        limits: "call_timeout = \"10s\"",
        reason: "resource table",
    },
    Attack {
        module: "stdout",
        fixture: "hog",
        poison: "stdout",
        limits: "call_timeout = \"300ms\"",
        reason: "interrupted",
    },
];

/// How long the `log` attack runs: alone, so that it surely logs faster than its
/// budget allows, however loaded the machine.
const LOG_ATTACK: Duration = Duration::from_secs(2);

/// The most resident memory the host may reach while it is attacked. Its
/// baseline (a debug build) is well under half of it; without the limits on host
/// resources, the `fields` and `bodies` attacks alone take gigabytes.
const MAX_HOST_RSS: u64 = 512 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_that_attack_the_host_fail_alone_within_their_limits() {
    let mut host = Host::new(WEFT);
    for a in &ATTACKS {
        let topic = format!("{}/in", a.module);
        let extra = format!("[limits]\n{}\n{ONCE}", a.limits);
        host.module(
            a.module,
            &guest(a.fixture),
            &manifest(&topic, "attack/out", &extra),
        );
    }
    host.module(
        "log",
        &guest("hog"),
        &manifest(
            "log/in",
            "attack/out",
            &format!(
                "[limits]\ncall_timeout = \"{}ms\"\n{ONCE}",
                LOG_ATTACK.as_millis()
            ),
        ),
    );
    host.module("echo", &guest("echo"), &manifest("e/in", "e/out", ""));
    host.config(&format!(
        "{}{}",
        sink_config("out", "e/out"),
        sink_config("attacks", "attack/out")
    ));
    host.start().await;

    // The host's memory, sampled until the attacks are over.
    let pid = host.pid().unwrap();
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let (peak, done) = (peak.clone(), done.clone());
        move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = weft_tests::rss_bytes(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    });

    // Every attack at once, and the good module's events among them.
    for a in &ATTACKS {
        let topic = format!("{}/in", a.module);
        let id = format!("{}-attack", a.module);
        assert_eq!(host.publish(&topic, &id, &json!(a.poison)).await.0, 202);
    }
    for i in 0..100 {
        let (status, _) = host.publish("e/in", &format!("e-{i}"), &json!(i)).await;
        assert_eq!(status, 202);
    }
    let out = host.collect("out", 100, Duration::from_secs(60)).await;
    assert_eq!(
        out.len(),
        100,
        "the good module kept serving:\n{}",
        host.log()
    );

    // Each attack ends in its module's error queue, saying what stopped it.
    for a in &ATTACKS {
        let errors = host.wait_errors(a.module, 1, Duration::from_secs(60)).await;
        assert_eq!(errors.len(), 1, "{}: {errors:?}\n{}", a.module, host.log());
        let reason = errors[0]["record"]["reason"].as_str().unwrap();
        assert!(
            reason.contains(a.reason),
            "{}: the reason should name `{}`: {reason}",
            a.module,
            a.reason
        );
        assert!(
            !reason.contains("backtrace"),
            "{}: the reason is one line: {reason}",
            a.module
        );
    }
    assert!(host.errors("echo").await.is_empty());
    assert!(
        host.collect("attacks", 1, Duration::from_millis(200))
            .await
            .is_empty(),
        "no attack produced an output"
    );

    // A guest logging in a loop gets a rate, not the disk; what a guest prints
    // is discarded, not buffered.
    assert_eq!(host.publish("log/in", "log", &json!("log")).await.0, 202);
    let errors = host.wait_errors("log", 1, Duration::from_secs(60)).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let reason = errors[0]["record"]["reason"].as_str().unwrap();
    assert!(reason.contains("interrupted"), "{reason}");
    let log = host.log();
    let flood: u64 = log
        .lines()
        .filter(|l| l.contains("xxxxxxxxxxxxxxxx"))
        .map(|l| l.len() as u64)
        .sum();
    // The burst, the rate over the attack, and the lines' own prefixes.
    let allowed = (1 + LOG_ATTACK.as_secs() + 1) * 1024 * 1024;
    assert!(
        flood < allowed,
        "{flood} bytes of a guest's log lines reached the host's log"
    );
    assert!(
        log.contains("lines dropped"),
        "dropped guest log lines are counted ({flood} bytes logged)"
    );
    assert!(
        !log.contains("oooooooooooooooo"),
        "a guest's stdout reached the host's output"
    );

    // The host is still well after all that.
    assert_eq!(host.publish("e/in", "e-last", &json!("last")).await.0, 202);
    assert_eq!(
        host.collect("out", 1, Duration::from_secs(30)).await.len(),
        1
    );

    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak > 0, "the host's memory was sampled");
    assert!(
        peak < MAX_HOST_RSS,
        "the host reached {} MiB of resident memory while attacked",
        peak >> 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_cannot_reserve_its_instance_pool_allocates_on_demand() {
    // The pool reserves ~1 TiB of address space by default; 64 GiB is plenty for
    // a host without it.
    let bin = tempfile::tempdir().unwrap();
    let script = bin.path().join("weft-limited");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nulimit -v {}\nexec {WEFT} \"$@\"\n",
            64 * 1024 * 1024
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut host = Host::new(script.to_str().unwrap());
    host.module("echo", &guest("echo"), &manifest("in", "out", ""));
    host.config(&sink_config("out", "out"));
    host.start().await;

    let log = host.log();
    assert!(
        log.contains("cannot reserve the instance pool"),
        "the fallback is logged:\n{log}"
    );
    assert_eq!(host.publish("in", "1", &json!("hi")).await.0, 202);
    let out = host.collect("out", 1, Duration::from_secs(30)).await;
    assert_eq!(out.len(), 1, "modules run on demand:\n{}", host.log());
}
