//! The crash harness: the real binary under steady HTTP load with unique event ids,
//! killed with SIGKILL at random moments (some during start-up), restarted, again.
//! At the end every event that got a `202` was delivered to every subscriber (an
//! outside pull subscription on the inputs, and both processors, seen through a pull
//! subscription on their outputs), no id that was never sent shows up, nothing is
//! queued twice anywhere (duplicates only come from a consumer's own acks that were in
//! flight at a kill) and no processor output exists twice.
//!
//! One host folder serves every cycle, on the default store engine. A cycle starts the
//! host, runs publishers (and in some cycles a consumer that pulls and acks part of the
//! subscriptions) and kills the process 0–400 ms after ready; one cycle in five kills
//! it during start-up instead (anywhere in the time the last start-up took, so before,
//! while and after the store opens and the modules load), without waiting for ready.
//! A last start lets the modules finish their queues, the subscriptions are drained,
//! and the ledger is checked.
//!
//! CI runs 100 cycles. Longer runs, and a rerun of a seed's choices (timing still varies):
//!
//! ```sh
//! WEFT_CRASH_CYCLES=1000 cargo test -p weft --test e2e crash_harness -- --nocapture
//! WEFT_CRASH_SEED=1234 cargo test -p weft --test e2e crash_harness -- --nocapture
//! WEFT_CRASH_ENGINE=sled cargo test -p weft --test e2e crash_harness -- --nocapture
//! ```
//!
//! Past some 5,000 cycles `outs` nears a subscription's default quota (a million
//! events) and publishes start getting `429`, which the harness reports.
//!
//! The host log (`weft.log`) is marked with each kill; on a failure it is copied to
//! `target/crash-harness/seed-SEED.log` and the panic names the seed.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use weft_tests::{Host, guest, manifest, sink_config, target_dir};

use crate::WEFT;

const PUBLISHERS: usize = 4;
/// The processors: module name and the topic it publishes to.
const MODULES: [(&str, &str); 2] = [("a", "out/a"), ("b", "out/b")];
/// Pull subscriptions: the inputs as an outside consumer sees them, and the outputs.
const DIRECT: &str = "direct";
const OUTS: &str = "outs";

/// xorshift64*: enough randomness for kill moments, reproducible from a seed (the
/// power-cut test draws its cuts with it too).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

pub(crate) fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

pub(crate) fn client() -> reqwest::Client {
    // A fresh client per incarnation: no pooled connection to a killed process.
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What one publisher did in one cycle.
#[derive(Default)]
pub(crate) struct Published {
    pub(crate) sent: Vec<String>,
    pub(crate) acked: Vec<String>,
    /// Answers other than 202 (the host was never stopped gently, so none are expected).
    pub(crate) refused: Vec<(String, u16, String)>,
}

/// Sends `c{cycle}-p{p}-{i}` one at a time until the host stops answering.
pub(crate) async fn publish_until_killed(
    http: reqwest::Client,
    url: String,
    cycle: u64,
    p: usize,
) -> Published {
    let mut out = Published::default();
    for i in 0.. {
        let id = format!("c{cycle}-p{p}-{i}");
        out.sent.push(id.clone());
        let r = http
            .post(&url)
            .header("ce-specversion", "1.0")
            .header("ce-id", &id)
            .header("ce-source", "/crash-harness")
            .header("ce-type", "t")
            .header("content-type", "application/json")
            .body(json!({ "id": id }).to_string())
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() == 202 => out.acked.push(id),
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                out.refused.push((id, status, body));
                return out;
            }
            Err(_) => return out,
        }
    }
    out
}

/// One event as pulled from a subscription.
#[derive(Clone)]
pub(crate) struct Seen {
    seq: u64,
    pub(crate) event: Value,
    /// The ack covering it was answered with success (or it came from the final
    /// drain). An unconfirmed one was pulled but its ack was cut off by a kill, so
    /// it may be delivered again: that is the consumer's in-flight window.
    confirmed: bool,
}

/// One page pulled from `sub` and acked; `None` once the host is gone.
async fn pull_and_ack(
    http: &reqwest::Client,
    base: &str,
    sub: &str,
    max: u64,
) -> Option<Result<Vec<Seen>, String>> {
    let r = http
        .get(format!("{base}/v1/subscriptions/{sub}/events?max={max}"))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        let status = r.status();
        return Some(Err(format!(
            "pull {sub}: {status}: {}",
            r.text().await.unwrap_or_default()
        )));
    }
    let page: Value = r.json().await.ok()?;
    let mut seen = Vec::new();
    for e in page["events"].as_array().cloned().unwrap_or_default() {
        let Some(seq) = e["seq"].as_u64() else {
            return Some(Err(format!("pull {sub}: no seq in {e}")));
        };
        if e.get("unreadable").is_some() {
            return Some(Err(format!("pull {sub}: unreadable event {e}")));
        }
        seen.push(Seen {
            seq,
            event: e["event"].clone(),
            confirmed: false,
        });
    }
    let Some(last) = seen.last().map(|s| s.seq) else {
        return Some(Ok(seen));
    };
    let acked = http
        .post(format!("{base}/v1/subscriptions/{sub}/ack?upto={last}"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    for s in &mut seen {
        s.confirmed = acked;
    }
    Some(Ok(seen))
}

/// Pulls and acks small pages of both subscriptions until the host is killed.
async fn consume_until_killed(http: reqwest::Client, base: String, seed: u64) -> Consumed {
    let mut rng = Rng::new(seed);
    let mut out = Consumed::default();
    loop {
        let sub = if rng.percent(50) { DIRECT } else { OUTS };
        match pull_and_ack(&http, &base, sub, 1 + rng.below(64)).await {
            None => return out,
            Some(Err(e)) => {
                out.errors.push(e);
                return out;
            }
            Some(Ok(seen)) => out.seen.entry(sub).or_default().extend(seen),
        }
        tokio::time::sleep(Duration::from_millis(5 + rng.below(30))).await;
    }
}

#[derive(Default)]
struct Consumed {
    seen: HashMap<&'static str, Vec<Seen>>,
    errors: Vec<String>,
}

/// Drains a subscription completely (the host stays up).
pub(crate) async fn drain_all(http: &reqwest::Client, base: &str, sub: &str) -> Vec<Seen> {
    let mut all = Vec::new();
    loop {
        let page = pull_and_ack(http, base, sub, 1000)
            .await
            .expect("the host answers")
            .unwrap_or_else(|e| panic!("{e}"));
        if page.is_empty() {
            return all;
        }
        assert!(page.iter().all(|s| s.confirmed), "ack of {sub} failed");
        all.extend(page);
    }
}

/// Appends a marker to the host log (opened in append mode by the host too).
fn mark(host: &Host, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(host.dir.path().join("weft.log"))
    {
        let _ = writeln!(f, "=== crash harness: {text}");
    }
}

/// `(cycle, publisher, i)` of a harness id.
fn parse_id(id: &str) -> Option<(u64, usize, u64)> {
    let mut parts = id.split('-');
    let c = parts.next()?.strip_prefix('c')?.parse().ok()?;
    let p = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let i = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((c, p, i))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_hundred_sigkills() {
    let cycles = env_u64("WEFT_CRASH_CYCLES").unwrap_or(100);
    let seed = env_u64("WEFT_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    eprintln!("crash harness: seed {seed}, {cycles} cycles");
    let mut rng = Rng::new(seed);
    let began = Instant::now();

    let mut host = Host::new(WEFT);
    for (name, topic) in MODULES {
        host.module(name, &guest("echo"), &manifest("in/>", topic, ""));
    }
    // The engine: redb (the default) in CI; `WEFT_CRASH_ENGINE=sled` for the
    // design card's engine, which README's table says why it is not run in CI.
    let engine = std::env::var("WEFT_CRASH_ENGINE").unwrap_or_else(|_| "redb".into());
    host.config(&format!(
        "[store]\nengine = \"{engine}\"\n{}{}",
        sink_config(DIRECT, "in/>"),
        sink_config(OUTS, "out/>")
    ));

    let mut sent: HashSet<String> = HashSet::new();
    let mut acked: Vec<String> = Vec::new();
    let mut refused: Vec<(String, u16, String)> = Vec::new();
    let mut seen: HashMap<&'static str, Vec<Seen>> = HashMap::new();
    let mut consumer_errors: Vec<String> = Vec::new();
    let (mut startup_kills, mut killed_before_ready, mut consumer_cycles) = (0, 0, 0);
    let mut timeline: Vec<String> = Vec::new();
    // How long the last start-up took (until ready); a guess before the first one.
    let mut startup_ms: u64 = 50;
    let mut startups: Vec<u64> = Vec::new();

    for cycle in 0..cycles {
        if rng.percent(20) {
            // Kill during start-up: `start` spawns the process at its first poll, then
            // waits for ready; the timeout drops that wait and the process is killed.
            // The moment falls anywhere in a start-up as long as the last one took
            // (process, store, modules, workers, listener), and sometimes just past it.
            let after = rng.below(startup_ms * 5 / 4 + 1);
            let ready = tokio::time::timeout(Duration::from_millis(after), host.start())
                .await
                .is_ok();
            mark(
                &host,
                &format!("cycle {cycle}: SIGKILL {after} ms into start-up (ready: {ready})"),
            );
            host.kill9();
            startup_kills += 1;
            killed_before_ready += u64::from(!ready);
            timeline.push(format!(
                "c{cycle}: start-up kill after {after} ms, ready {ready}"
            ));
            continue;
        }
        let starting = Instant::now();
        host.start().await;
        startup_ms = starting
            .elapsed()
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX);
        startups.push(startup_ms);
        let http = client();
        let base = host.url("");
        let publishers: Vec<_> = (0..PUBLISHERS)
            .map(|p| {
                tokio::spawn(publish_until_killed(
                    http.clone(),
                    host.url("/v1/events/in/x"),
                    cycle,
                    p,
                ))
            })
            .collect();
        let consumer = rng
            .percent(30)
            .then(|| tokio::spawn(consume_until_killed(http.clone(), base, rng.next())));
        let after = rng.below(401);
        tokio::time::sleep(Duration::from_millis(after)).await;
        mark(
            &host,
            &format!("cycle {cycle}: SIGKILL {after} ms after ready"),
        );
        host.kill9();
        let mut cycle_acked = 0;
        for t in publishers {
            let p = t.await.unwrap();
            sent.extend(p.sent);
            cycle_acked += p.acked.len();
            acked.extend(p.acked);
            refused.extend(p.refused);
        }
        let mut pulled = 0;
        if let Some(c) = consumer {
            let c = c.await.unwrap();
            consumer_cycles += 1;
            consumer_errors.extend(c.errors);
            for (sub, s) in c.seen {
                pulled += s.len();
                seen.entry(sub).or_default().extend(s);
            }
        }
        timeline.push(format!(
            "c{cycle}: kill {after} ms after ready, {cycle_acked} acked, {pulled} pulled"
        ));
    }

    // The last start: let the processors finish, then drain everything.
    mark(&host, "final start");
    host.start().await;
    let http = client();
    let base = host.url("");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: Value = http
            .get(format!("{base}/v1/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let modules = status["modules"].as_array().cloned().unwrap_or_default();
        if modules.len() == MODULES.len() && modules.iter().all(|m| m["queue_depth"] == 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the modules did not catch up: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for sub in [DIRECT, OUTS] {
        let drained = drain_all(&http, &base, sub).await;
        seen.entry(sub).or_default().extend(drained);
    }
    let mut module_errors = Vec::new();
    for (name, _) in MODULES {
        let errors: Value = http
            .get(format!("{base}/v1/errors/{name}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(e) = errors["errors"].as_array().filter(|e| !e.is_empty()) {
            module_errors.push(format!("module {name} has error records: {e:?}"));
        }
    }
    host.kill9();

    let verdict = check(&sent, &acked, &seen);
    let mut problems = verdict.problems;
    problems.extend(module_errors);
    problems.extend(consumer_errors);
    problems.extend(
        refused
            .iter()
            .map(|(id, status, body)| format!("publish {id} answered {status}: {body}")),
    );

    let delivered = verdict.delivered;
    startups.sort_unstable();
    let median_startup = startups.get(startups.len() / 2).copied().unwrap_or(0);
    eprintln!(
        "crash harness: seed {seed}, {cycles} cycles ({startup_kills} killed in start-up, \
         {killed_before_ready} before ready, {consumer_cycles} with a consumer, \
         start-up {median_startup} ms median), \
         {} sent, {} acked, {} delivered to `{DIRECT}`, {} outputs, \
         {} unacked delivered, {} redelivered to the consumer, {:.1} s",
        sent.len(),
        acked.len(),
        delivered,
        verdict.outputs,
        verdict.unacked_delivered,
        verdict.redelivered,
        began.elapsed().as_secs_f64()
    );
    if !problems.is_empty() {
        let dir = target_dir().join("crash-harness");
        let _ = std::fs::create_dir_all(&dir);
        let log = dir.join(format!("seed-{seed}.log"));
        let _ = std::fs::copy(host.dir.path().join("weft.log"), &log);
        let _ = std::fs::write(
            dir.join(format!("seed-{seed}.timeline")),
            timeline.join("\n"),
        );
        panic!(
            "crash harness (seed {seed}) found {} problems; host log {}, timeline beside it:\n{}",
            problems.len(),
            log.display(),
            problems
                .iter()
                .take(40)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(
        acked.len() as u64 >= cycles,
        "too little got through to mean anything: {} acked in {cycles} cycles",
        acked.len()
    );
}

struct Verdict {
    problems: Vec<String>,
    delivered: usize,
    outputs: usize,
    unacked_delivered: usize,
    redelivered: usize,
}

/// Checks every observation against the ledger of what was sent and acked.
fn check(sent: &HashSet<String>, acked: &[String], seen: &HashMap<&str, Vec<Seen>>) -> Verdict {
    let mut problems = Vec::new();
    let mut redelivered = 0;
    let empty = Vec::new();

    // Per subscription: one id per queue entry, at most one confirmed delivery of it.
    for (sub, obs) in seen {
        let mut by_seq: HashMap<u64, (String, usize, usize)> = HashMap::new();
        for s in obs {
            let id = s.event["id"].as_str().unwrap_or_default().to_owned();
            let entry = by_seq.entry(s.seq).or_insert((id.clone(), 0, 0));
            if entry.0 != id {
                problems.push(format!(
                    "{sub}: seq {} carried {} and later {id}",
                    s.seq, entry.0
                ));
            }
            entry.1 += 1;
            entry.2 += usize::from(s.confirmed);
        }
        for (seq, (id, total, confirmed)) in &by_seq {
            redelivered += total - 1;
            if *confirmed > 1 {
                problems.push(format!(
                    "{sub}: seq {seq} ({id}) delivered again after its ack was answered ({confirmed} times)"
                ));
            }
        }
    }

    // The inputs, as the outside consumer of `in/>` sees them.
    let direct = seen.get(DIRECT).unwrap_or(&empty);
    let mut direct_seqs: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for s in direct {
        let id = s.event["id"].as_str().unwrap_or_default().to_owned();
        if !sent.contains(&id) {
            problems.push(format!("{DIRECT}: unknown event {}", s.event));
            continue;
        }
        if s.event["data"]["id"] != id.as_str() || s.event["topic"] != "in/x" {
            problems.push(format!("{DIRECT}: event {id} arrived changed: {}", s.event));
        }
        direct_seqs.entry(id).or_default().insert(s.seq);
    }
    for (id, seqs) in &direct_seqs {
        if seqs.len() > 1 {
            problems.push(format!(
                "{DIRECT}: {id} queued {} times (seqs {seqs:?})",
                seqs.len()
            ));
        }
    }
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !direct_seqs.contains_key(*id))
        .collect();
    if !lost.is_empty() {
        problems.push(format!(
            "{DIRECT}: {} of {} acked events lost, e.g. {:?}",
            lost.len(),
            acked.len(),
            &lost[..lost.len().min(10)]
        ));
    }
    problems.extend(out_of_order(DIRECT, direct_seqs.iter()));
    let acked_set: HashSet<&String> = acked.iter().collect();
    let unacked_delivered = direct_seqs
        .keys()
        .filter(|id| !acked_set.contains(id))
        .count();

    // The processors' outputs: exactly one per (module, input), never two.
    let outs = seen.get(OUTS).unwrap_or(&empty);
    let mut per_input: HashMap<(String, String), BTreeSet<u64>> = HashMap::new();
    let mut per_output_id: HashMap<String, BTreeSet<u64>> = HashMap::new();
    for s in outs {
        let topic = s.event["topic"].as_str().unwrap_or_default().to_owned();
        let input = s.event["data"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !MODULES.iter().any(|(_, t)| *t == topic) {
            problems.push(format!(
                "{OUTS}: output on an unexpected topic: {}",
                s.event
            ));
            continue;
        }
        if !sent.contains(&input) {
            problems.push(format!("{OUTS}: output of an unknown input: {}", s.event));
            continue;
        }
        let id = s.event["id"].as_str().unwrap_or_default().to_owned();
        if id == input {
            problems.push(format!("{OUTS}: output kept its input's id: {}", s.event));
        }
        per_input.entry((topic, input)).or_default().insert(s.seq);
        per_output_id.entry(id).or_default().insert(s.seq);
    }
    for ((topic, input), seqs) in &per_input {
        if seqs.len() > 1 {
            problems.push(format!(
                "{OUTS}: {input} processed into {} outputs on {topic} (seqs {seqs:?})",
                seqs.len()
            ));
        }
    }
    for (id, seqs) in &per_output_id {
        if seqs.len() > 1 {
            problems.push(format!(
                "{OUTS}: output id {id} queued {} times (seqs {seqs:?})",
                seqs.len()
            ));
        }
    }
    for (_, topic) in MODULES {
        let missing: Vec<&String> = acked
            .iter()
            .filter(|id| !per_input.contains_key(&(topic.to_owned(), (*id).clone())))
            .collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{OUTS}: {} of {} acked events have no output on {topic}, e.g. {:?}",
                missing.len(),
                acked.len(),
                &missing[..missing.len().min(10)]
            ));
        }
        let of_topic = per_input
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|((_, input), seqs)| (input, seqs));
        problems.extend(out_of_order(topic, of_topic));
        let unknown_inputs = per_input
            .keys()
            .filter(|(t, input)| t == topic && !direct_seqs.contains_key(input))
            .count();
        if unknown_inputs > 0 {
            problems.push(format!(
                "{OUTS}: {unknown_inputs} outputs on {topic} of inputs that `{DIRECT}` never saw"
            ));
        }
    }

    Verdict {
        problems,
        delivered: direct_seqs.len(),
        outputs: per_input.len(),
        unacked_delivered,
        redelivered,
    }
}

/// Each publisher sent one event at a time, so its events must be queued in the order
/// sent: by cycle, then by index.
fn out_of_order<'a>(
    what: &str,
    ids: impl Iterator<Item = (&'a String, &'a BTreeSet<u64>)>,
) -> Vec<String> {
    // Per publisher: (seq, (cycle, index), id).
    type Queued<'a> = Vec<(u64, (u64, u64), &'a String)>;
    let mut by_publisher: HashMap<usize, Queued<'a>> = HashMap::new();
    let mut problems = Vec::new();
    for (id, seqs) in ids {
        let (Some((c, p, i)), Some(seq)) = (parse_id(id), seqs.first()) else {
            problems.push(format!("{what}: unparsable id {id}"));
            continue;
        };
        by_publisher.entry(p).or_default().push((*seq, (c, i), id));
    }
    for (p, mut events) in by_publisher {
        events.sort();
        for w in events.windows(2) {
            if w[0].1 > w[1].1 {
                problems.push(format!(
                    "{what}: publisher {p}'s {} (seq {}) came after {} (seq {})",
                    w[1].2, w[1].0, w[0].2, w[0].0
                ));
                break;
            }
        }
    }
    problems
}
