//! Power cuts: the host's data folder lives on weft-powercut's filesystem
//! (`tests/powercut`), which keeps whatever was not fsynced — file data, and a
//! folder's new, renamed and removed names until that folder is fsynced (POSIX's
//! rules, not ext4's) — only in memory, and loses it at a cut.
//!
//! The real binary under HTTP load (four publishers, unique event ids). At a random
//! moment the power is cut and the host SIGKILLed at the same instant (nothing it
//! writes after the cut lands); the filesystem is unmounted with what survived and
//! mounted again, and the host started on it. Each start checks, as a user would see
//! it: the store opened; every event answered `202` before the cut is in both
//! subscriptions (one from the config, one created over the API and answered `201`,
//! which must still exist), pulled and acknowledged; no event shows up that was never
//! sent, and none twice (acknowledgements, answered before a cut, survive it too).
//!
//! The cycles vary what is at stake:
//! - a cut 0–300 ms into the load;
//! - one cycle in four starts from an empty disk and is cut within its first 60 ms:
//!   the store, its folder and the API subscription file were just created;
//! - one in five crashes the host (SIGKILL only), starts it again and cuts during
//!   that start-up, while the engine recovers from the crash.
//!
//! Half of the cuts keep only what was synced; the others also keep a random part of
//! the rest (pages reordered, each folder's changes whole or not), as a real disk
//! may. CI runs 20 cuts per engine. More, or a rerun of a seed's choices (timing
//! still varies):
//!
//! ```sh
//! WEFT_POWERCUT_CUTS=200 cargo test -p weft --test e2e powercut -- --nocapture
//! WEFT_POWERCUT_SEED=1234 cargo test -p weft --test e2e powercut::power_cuts::sled -- --nocapture
//! ```
//!
//! On a failure the host log is copied to `target/powercut/ENGINE-seed-SEED.log`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_powercut::{CutReport, Disk, Survivors};
use weft_tests::{Host, sink_config, target_dir};

use crate::WEFT;
use crate::crash_harness::{Rng, client, drain_all, env_u64, publish_until_killed};

const PUBLISHERS: usize = 4;
/// Declared in the host config.
const DIRECT: &str = "direct";
/// Created over the API (kept in `DATA/subscriptions.json`).
const API: &str = "api";

/// The host and its disk, taken down in that order even when a check fails (a
/// mount with a live process on it does not unmount).
struct Rig {
    host: Host,
    disk: Option<Disk>,
    backing: PathBuf,
    mountpoint: PathBuf,
}

impl Rig {
    fn mount(&mut self) {
        self.disk = Some(Disk::mount(&self.backing, &self.mountpoint).unwrap());
    }

    /// The power goes off and the host dies with it; then what survived is all the
    /// disk holds.
    fn cut(&mut self, survivors: Survivors) -> CutReport {
        let disk = self.disk.take().unwrap();
        disk.cut();
        self.host.kill9();
        disk.unmount_after_cut(survivors).unwrap()
    }

    /// An empty disk.
    fn wipe(&mut self) {
        self.host.kill9();
        if let Some(disk) = self.disk.take() {
            disk.cut();
            disk.unmount_after_cut(Survivors::SyncedOnly).unwrap();
        }
        std::fs::remove_dir_all(&self.backing).unwrap();
        std::fs::create_dir(&self.backing).unwrap();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.host.kill9();
        if let Some(disk) = self.disk.take() {
            let _ = disk.unmount_after_cut(Survivors::SyncedOnly);
        }
    }
}

/// What was sent and acknowledged, and what each subscription still owes.
#[derive(Default)]
struct Ledger {
    sent: HashSet<String>,
    acked: usize,
    refused: usize,
    /// Per subscription: ids acknowledged (202) and not pulled yet.
    owed: HashMap<&'static str, BTreeSet<String>>,
    /// Per subscription: every id pulled so far (a second pull is a duplicate).
    pulled: HashMap<&'static str, HashSet<String>>,
    /// The API subscription was answered 201 on this disk.
    api_created: bool,
    problems: Vec<String>,
}

impl Ledger {
    fn subscriptions(&self) -> Vec<&'static str> {
        if self.api_created {
            vec![DIRECT, API]
        } else {
            vec![DIRECT]
        }
    }

    /// After a start: every owed event is there, nothing unknown or twice.
    async fn check(&mut self, host: &Host, after: &str) {
        let http = client();
        let base = host.url("");
        if self.api_created {
            let list: Value = http
                .get(format!("{base}/v1/subscriptions"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if !list.to_string().contains(&format!("\"{API}\"")) {
                self.problems.push(format!(
                    "{after}: the subscription `{API}` created over the API (201) is gone: {list}"
                ));
                self.api_created = false;
            }
        }
        for sub in self.subscriptions() {
            for seen in drain_all(&http, &base, sub).await {
                let id = seen.event["id"].as_str().unwrap_or_default().to_owned();
                if !self.sent.contains(&id) {
                    self.problems.push(format!(
                        "{after}: `{sub}` has an unknown event {}",
                        seen.event
                    ));
                } else if !self.pulled.entry(sub).or_default().insert(id.clone()) {
                    self.problems.push(format!(
                        "{after}: `{sub}` delivered {id} again after its ack was answered"
                    ));
                }
                self.owed.entry(sub).or_default().remove(&id);
            }
        }
        for (sub, owed) in &mut self.owed {
            if !owed.is_empty() {
                self.problems.push(format!(
                    "{after}: `{sub}` lost {} acknowledged events, e.g. {:?}",
                    owed.len(),
                    owed.iter().take(5).collect::<Vec<_>>()
                ));
                owed.clear();
            }
        }
    }

    async fn create_api_subscription(&mut self, host: &Host) {
        let r = host
            .http
            .put(host.url(&format!("/v1/subscriptions/{API}")))
            .json(&json!({ "subscribe": ["in/>"] }))
            .send()
            .await
            .unwrap();
        match r.status().as_u16() {
            201 => self.api_created = true,
            other => self.problems.push(format!(
                "creating `{API}` answered {other}: {}",
                r.text().await.unwrap_or_default()
            )),
        }
    }
}

weft_tests::both_engines!(power_cuts, acknowledged_events_survive_power_cuts);

async fn acknowledged_events_survive_power_cuts(engine: &str) {
    let cuts = env_u64("WEFT_POWERCUT_CUTS").unwrap_or(20);
    let seed = env_u64("WEFT_POWERCUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!("power cuts ({engine}): seed {seed}, {cuts} cuts");
    let mut rng = Rng::new(seed);
    let began = Instant::now();

    let mut host = Host::new(WEFT).on_engine(engine);
    host.config(&sink_config(DIRECT, "in/>"));
    let backing = host.dir.path().join("backing");
    let mountpoint = host.dir.path().join("disk");
    std::fs::create_dir(&backing).unwrap();
    std::fs::create_dir(&mountpoint).unwrap();
    // A folder weft creates on the disk, so that its parent's sync counts too.
    host.data_dir(mountpoint.join("data"));
    let mut rig = Rig {
        host,
        disk: None,
        backing,
        mountpoint,
    };
    let mut ledger = Ledger::default();
    let mut startup_ms: u64 = 100;
    let (mut fresh_cuts, mut startup_cuts, mut kept_some) = (0, 0, 0);
    let mut timeline = Vec::new();

    for cycle in 0..cuts {
        rig.mount();
        rig.host.start().await;
        ledger.check(&rig.host, &format!("after cut {cycle}")).await;

        let fresh = cycle == 0 || rng.percent(25);
        if fresh {
            rig.wipe();
            rig.mount();
            rig.host.start().await;
            ledger.api_created = false;
            fresh_cuts += 1;
        }
        if !ledger.api_created {
            ledger.create_api_subscription(&rig.host).await;
        }
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                tokio::spawn(publish_until_killed(
                    client(),
                    rig.host.url("/v1/events/in/x"),
                    cycle,
                    p,
                ))
            })
            .collect();
        let load_ms = rng.below(if fresh { 61 } else { 301 });
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        let in_startup = !fresh && rng.percent(20);
        let mut moment = format!("{load_ms} ms into the load");
        if in_startup {
            // A crash first; the cut falls in the start-up after it.
            rig.host.kill9();
            let after = rng.below(startup_ms * 5 / 4 + 1);
            let starting = Instant::now();
            let ready = tokio::time::timeout(Duration::from_millis(after), rig.host.start())
                .await
                .is_ok();
            if ready {
                startup_ms = starting
                    .elapsed()
                    .as_millis()
                    .try_into()
                    .unwrap_or(u64::MAX);
            }
            moment = format!("{after} ms into a start-up after a crash (ready: {ready})");
            startup_cuts += 1;
        }
        let survivors = if rng.percent(50) {
            Survivors::SyncedOnly
        } else {
            kept_some += 1;
            Survivors::Some { seed: rng.next() }
        };
        let report = rig.cut(survivors);

        let mut acked = 0;
        for t in publishers {
            let p = t.await.unwrap();
            ledger.sent.extend(p.sent);
            acked += p.acked.len();
            for sub in ledger.subscriptions() {
                ledger
                    .owed
                    .entry(sub)
                    .or_default()
                    .extend(p.acked.iter().cloned());
            }
            ledger.refused += p.refused.len();
        }
        ledger.acked += acked;
        timeline.push(format!(
            "cut {}: {}{moment}, {acked} acked; {survivors:?}: {report:?}",
            cycle + 1,
            if fresh { "fresh disk, " } else { "" },
        ));
    }

    rig.mount();
    rig.host.start().await;
    ledger.check(&rig.host, &format!("after cut {cuts}")).await;
    let log = rig.host.log();
    rig.host.kill9();
    if let Some(disk) = rig.disk.take() {
        disk.unmount().unwrap();
    }

    eprintln!(
        "power cuts ({engine}): seed {seed}, {cuts} cuts ({fresh_cuts} on a fresh disk, \
         {startup_cuts} in start-up, {kept_some} keeping some unsynced writes), {} sent, \
         {} acked, {} answered other than 202, {:.1} s",
        ledger.sent.len(),
        ledger.acked,
        ledger.refused,
        began.elapsed().as_secs_f64()
    );
    if !ledger.problems.is_empty() {
        let saved = save_log(engine, seed, &log, &timeline);
        panic!(
            "power cuts ({engine}, seed {seed}) found {} problems; host log {}:\n{}\ntimeline:\n{}",
            ledger.problems.len(),
            saved.display(),
            ledger
                .problems
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n"),
            timeline.join("\n")
        );
    }
    assert!(
        ledger.acked as u64 >= cuts,
        "too little got through to mean anything: {} acked in {cuts} cuts",
        ledger.acked
    );
}

fn save_log(engine: &str, seed: u64, log: &str, timeline: &[String]) -> PathBuf {
    let dir = target_dir().join("powercut");
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("{engine}-seed-{seed}.log"));
    let _ = std::fs::write(
        &path,
        format!("{log}\n=== timeline\n{}", timeline.join("\n")),
    );
    path
}
