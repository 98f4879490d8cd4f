//! A real worker over a real store, driven by a scripted handler: what a user sees
//! of each path (the queue, the error records, the outputs downstream, reports).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::Duration;

use support::scripted::{Reaction, Rig, lanes_of, subscription};
use support::{event, eventually};
use weft_core::event::derived_id;
use weft_core::repair::{self, Selection};
use weft_core::{PROBATION_EVENTS, Quota, Report};

use Reaction::{Emit, EmitTo, Hold, Reject, Retry, Timeout, Trap};

/// Long enough for a worker that is wrongly going on to show it; only used to
/// check that nothing happens.
const QUIET: Duration = Duration::from_millis(50);

fn input(id: &str) -> weft_core::Event {
    event(id, "in/x", None)
}

fn inputs(ids: &[&str]) -> Vec<weft_core::Event> {
    ids.iter().map(|id| input(id)).collect()
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_land_with_their_inputs_removal_and_carry_ids_derived_from_the_input() {
    let rig = Rig::start(subscription(), "v1", 1).await;
    rig.script.plan("v1", "e1", [Emit(2)]);
    // The first call fails on e2, after e1's outputs were made: they must not land.
    rig.script.plan("v1", "e2", [Trap, Hold]);
    rig.publish(inputs(&["e1", "e2"])).await;

    eventually("the rerun of e2 alone", || rig.script.holding()).await;
    assert_eq!(rig.queued(), ids(&["e2"]), "e1 is gone...");
    assert_eq!(
        rig.output_inputs(),
        ids(&["e1", "e1"]),
        "...with its outputs"
    );
    rig.script.open();
    rig.settle(3).await;

    let outputs = rig.outputs();
    let expected = [
        derived_id(&input("e1"), "proc", 0),
        derived_id(&input("e1"), "proc", 1),
        derived_id(&input("e2"), "proc", 0),
    ];
    let got: Vec<&str> = outputs.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(
        got, expected,
        "ids derive from the input, whatever run made them"
    );
    assert!(rig.errors().is_empty());
    assert_eq!(
        rig.script.batches(),
        [ids(&["e1", "e2"]), ids(&["e1"]), ids(&["e2"])]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_keeps_order_and_redelivers_the_rest() {
    let rig = Rig::start(subscription(), "v1", 1).await;
    rig.script.plan("v1", "e3", [Retry, Emit(1)]);
    rig.publish(inputs(&["e1", "e2", "e3", "e4", "e5"])).await;
    rig.settle(5).await;

    assert_eq!(rig.output_inputs(), ids(&["e1", "e2", "e3", "e4", "e5"]));
    assert_eq!(
        rig.script.batches(),
        [
            ids(&["e1", "e2", "e3", "e4", "e5"]),
            ids(&["e3", "e4", "e5"])
        ],
        "the retry stopped the batch at e3; e3 and what follows came again, in order"
    );
    assert!(rig.errors().is_empty());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_attempts_survive_a_restart_of_the_worker() {
    let mut sub = subscription();
    // Long enough that the test restarts the worker between attempts.
    sub.retry.initial = Duration::from_secs(60);
    sub.retry.max = Duration::from_secs(60);
    let mut rig = Rig::start(sub, "v1", 1).await;
    rig.script.plan("v1", "e1", [Retry]);
    rig.script.plan("v2", "e1", [Retry]);
    rig.script.plan("v3", "e1", [Retry]);
    rig.publish(inputs(&["e1"])).await;
    eventually("the first attempt", || rig.script.calls().len() == 1).await;

    rig.restart("v2").await;
    eventually("the second attempt", || rig.script.calls().len() == 2).await;
    assert!(rig.errors().is_empty(), "two attempts of three are not all");
    rig.restart("v3").await;
    eventually("the error record", || rig.errors().len() == 1).await;

    let errors = rig.errors();
    assert_eq!(errors[0].attempts, 3, "the count went on across restarts");
    assert!(
        errors[0].reason.starts_with("gave up after 3 attempts"),
        "{}",
        errors[0].reason
    );
    let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap();
    assert!(
        at(&errors[0].first_failure) < at(&errors[0].last_failure),
        "the first failure is the first run's: {} vs {}",
        errors[0].first_failure,
        errors[0].last_failure
    );
    let versions: Vec<String> = rig.script.calls().into_iter().map(|c| c.version).collect();
    assert_eq!(
        versions,
        ["v1", "v2", "v3"],
        "one attempt per run, none granted afresh"
    );
    assert!(rig.queued().is_empty());
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_reruns_one_by_one_and_gives_up_only_on_the_culprit() {
    let rig = Rig::start(subscription(), "v1", 1).await;
    rig.script.plan("v1", "e2", [Trap]);
    rig.publish(inputs(&["e1", "e2", "e3"])).await;
    rig.settle(2).await;

    assert_eq!(rig.output_inputs(), ids(&["e1", "e3"]));
    assert_eq!(
        rig.script.batches(),
        [
            ids(&["e1", "e2", "e3"]),
            ids(&["e1"]),
            ids(&["e2"]),
            ids(&["e2"]),
            ids(&["e2"]),
            ids(&["e3"]),
        ]
    );
    let errors = rig.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].event_value()["id"], "e2");
    assert_eq!(errors[0].attempts, 3);
    assert!(
        errors[0]
            .reason
            .starts_with("gave up after 3 attempts: trapped"),
        "{}",
        errors[0].reason
    );
    let totals = rig.hub.counts().module_totals("proc");
    assert_eq!(
        (
            totals.events_in,
            totals.events_out,
            totals.events_failed,
            totals.retries
        ),
        (3, 2, 1, 2),
        "status counts: all three in, two outputs, e2 failed after two retries"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_and_an_output_to_an_ungranted_topic_go_to_the_error_queue_at_once() {
    let rig = Rig::start(subscription(), "v1", 1).await;
    rig.script.plan("v1", "e1", [Reject]);
    rig.script.plan("v1", "e2", [EmitTo("secret/x")]);
    rig.publish(inputs(&["e1", "e2", "e3"])).await;
    rig.settle(1).await;

    assert_eq!(rig.output_inputs(), ids(&["e3"]));
    assert_eq!(rig.script.batches().len(), 1, "no retry");
    let errors = rig.errors();
    let failed: Vec<_> = errors
        .iter()
        .map(|r| (r.event_value()["id"].clone(), r.attempts))
        .collect();
    assert_eq!(failed, [("e1".into(), 1), ("e2".into(), 1)]);
    assert_eq!(errors[0].reason, "scripted reject");
    assert!(
        errors[1].reason.contains("topic `secret/x`")
            && errors[1].reason.contains("may not publish to"),
        "{}",
        errors[1].reason
    );
    let totals = rig.hub.counts().module_totals("proc");
    assert_eq!(
        (
            totals.events_in,
            totals.events_out,
            totals.events_failed,
            totals.retries
        ),
        (3, 1, 2, 0)
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_lets_the_batch_in_flight_finish_on_the_version_it_started_on() {
    let rig = Rig::start(subscription(), "v1", 1).await;
    rig.script.plan("v1", "e1", [Hold]);
    rig.publish(inputs(&["e1"])).await;
    eventually("v1 holding e1", || rig.script.holding()).await;
    rig.swap("v2", 1, true);
    rig.publish(inputs(&["e2"])).await;
    rig.script.open();
    rig.settle(2).await;

    let made: Vec<_> = rig
        .outputs()
        .into_iter()
        .map(|o| (o.input, o.made_by))
        .collect();
    assert_eq!(
        made,
        [("e1".into(), "v1".into()), ("e2".into(), "v2".into())]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_failing_on_three_events_the_old_one_handles_is_rolled_back() {
    let mut rig = Rig::new(subscription(), "v1", 1, Quota::default()).await;
    rig.swap("v2", 1, true);
    rig.run();
    for id in ["e1", "e2"] {
        rig.script.plan("v2", id, [Trap]);
    }
    rig.script.plan("v2", "e3", [Timeout]);
    rig.publish(inputs(&["e1", "e2", "e3", "e4"])).await;
    rig.settle(4).await;

    match rig.report().await {
        Report::RolledBack {
            module, from, to, ..
        } => assert_eq!(
            (module.as_str(), from.as_str(), to.as_str()),
            ("proc", "v2", "v1")
        ),
        other => panic!("expected a rollback, got {other:?}"),
    }
    let made: Vec<_> = rig.outputs().into_iter().map(|o| o.made_by).collect();
    assert_eq!(
        made, ["v1"; 4],
        "the old version answered, then served alone"
    );
    assert!(rig.errors().is_empty(), "no event paid for the bad version");
    rig.publish(inputs(&["e5"])).await;
    rig.settle(5).await;
    assert_eq!(rig.outputs()[4].made_by, "v1");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_that_handles_its_probation_is_proven() {
    let mut sub = subscription();
    sub.batch_max = 1000;
    let mut rig = Rig::new(sub, "v1", 1, Quota::default()).await;
    rig.swap("v2", 1, true);
    rig.run();
    let events: Vec<_> = (0..PROBATION_EVENTS)
        .map(|i| input(&format!("e{i}")))
        .collect();
    rig.publish(events).await;
    rig.settle(PROBATION_EVENTS as usize).await;

    match rig.report().await {
        Report::Proven { module, version } => {
            assert_eq!((module, version), ("proc".into(), "v2".into()))
        }
        other => panic!("expected the version proven, got {other:?}"),
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_failing_on_both_versions_is_poison_and_counts_no_strike() {
    let mut rig = Rig::new(subscription(), "v1", 1, Quota::default()).await;
    rig.swap("v2", 1, true);
    rig.run();
    rig.script.plan("v1", "poison", [Trap]);
    rig.script.plan("v2", "poison", [Trap]);
    // Two strikes; with the poison event counted it would be the third.
    rig.script.plan("v2", "e2", [Trap]);
    rig.script.plan("v2", "e3", [Trap]);
    rig.publish(inputs(&["poison", "e2", "e3"])).await;
    rig.settle(2).await;

    let errors = rig.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].event_value()["id"], "poison");
    assert!(errors[0].reason.starts_with("gave up after 3 attempts"));
    rig.publish(inputs(&["e4"])).await;
    rig.settle(3).await;
    let made: Vec<_> = rig
        .outputs()
        .into_iter()
        .map(|o| (o.input, o.made_by))
        .collect();
    assert_eq!(
        made,
        [
            ("e2".into(), "v1".into()),
            ("e3".into(), "v1".into()),
            ("e4".into(), "v2".into())
        ],
        "the new version still serves"
    );
    assert!(rig.reports.try_recv().is_err(), "no rollback");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_keep_order_per_subject_and_a_retry_holds_up_only_its_own_lane() {
    let subjects = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];
    let lanes = lanes_of(&subjects, 2).await;
    let stuck = lanes["s0"];
    assert!(
        lanes.values().any(|l| *l != stuck),
        "both lanes have subjects"
    );

    let mut sub = subscription();
    sub.batch_max = 100;
    let rig = Rig::start(sub, "v1", 2).await;
    rig.script.plan("v1", "s0-1", [Retry, Hold]);
    let mut events = Vec::new();
    for n in 1..=3 {
        for s in subjects {
            events.push(event(&format!("{s}-{n}"), "in/x", Some(s)));
        }
    }
    let on = |lane_is_stuck: bool| -> Vec<String> {
        events
            .iter()
            .filter(|e| (lanes[e.subject.as_deref().unwrap()] == stuck) == lane_is_stuck)
            .map(|e| e.id.clone())
            .collect()
    };
    let (stuck_lane, free_lane) = (on(true), on(false));
    rig.publish(events.clone()).await;

    eventually("s0-1 delivered again", || rig.script.holding()).await;
    assert_eq!(rig.queued(), stuck_lane, "the stuck lane waits, in order");
    assert_eq!(rig.output_inputs(), free_lane, "the other lane went on");
    rig.script.open();
    rig.settle(events.len()).await;

    let done = rig.output_inputs();
    for s in subjects {
        let of_s: Vec<&String> = done.iter().filter(|i| i.starts_with(s)).collect();
        let want: Vec<String> = (1..=3).map(|n| format!("{s}-{n}")).collect();
        assert_eq!(of_s, want.iter().collect::<Vec<_>>(), "order kept for {s}");
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_error_queue_pauses_the_worker_until_records_are_purged() {
    let mut sub = subscription();
    sub.max_errors = 2;
    let rig = Rig::start(sub, "v1", 1).await;
    for id in ["e1", "e2", "e3"] {
        rig.script.plan("v1", id, [Reject]);
    }
    rig.publish(inputs(&["e1", "e2"])).await;
    rig.settle(0).await;
    assert_eq!(rig.errors().len(), 2);

    rig.publish(inputs(&["e3", "e4", "e5"])).await;
    eventually("the batch after the limit called", || {
        rig.script.batches().len() == 2
    })
    .await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(rig.queued(), ids(&["e3", "e4", "e5"]), "paused, in order");
    assert!(rig.outputs().is_empty(), "nothing of the batch committed");
    assert_eq!(rig.errors().len(), 2);

    let purged = repair::purge(
        &rig.hub,
        &Selection {
            module: Some("proc".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(purged, 2);
    rig.settle(2).await;
    assert_eq!(rig.output_inputs(), ids(&["e4", "e5"]));
    let errors = rig.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].event_value()["id"], "e3");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_that_do_not_fit_downstream_wait_and_nothing_is_committed() {
    let full = Quota {
        max_events: 1,
        ..Quota::default()
    };
    let mut rig = Rig::new(subscription(), "v1", 1, full).await;
    rig.run();
    rig.script.plan("v1", "e1", [Emit(2)]);
    rig.publish(inputs(&["e1"])).await;
    eventually("e1 handled once", || !rig.script.calls().is_empty()).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(rig.queued(), ids(&["e1"]), "the input waits");
    assert!(rig.outputs().is_empty(), "no output landed");
    assert!(rig.errors().is_empty(), "waiting for room is not a failure");

    // Room downstream: the same batch goes through.
    let sink = weft_core::name::queue_of_module(&support::name("sink"));
    let patterns = weft_core::Patterns::parse(&["out/>"]).unwrap();
    rig.hub
        .subscribe(&sink, patterns, Quota::default())
        .await
        .unwrap();
    rig.settle(2).await;
    assert_eq!(rig.output_inputs(), ids(&["e1", "e1"]));
    rig.stop().await;
}

/// Subjects to pick lanes from (which lane each takes is the worker's business).
const SUBJECTS: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];

fn on_lane(lanes: &std::collections::HashMap<String, usize>, lane: usize) -> &'static str {
    SUBJECTS
        .into_iter()
        .find(|s| lanes[*s] == lane)
        .expect("a subject on every lane")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_to_a_version_with_fewer_lanes_keeps_the_worker_serving() {
    let subject = on_lane(&lanes_of(&SUBJECTS, 2).await, 1);
    let mut rig = Rig::new(subscription(), "v1", 1, Quota::default()).await;
    rig.swap("v2", 2, true);
    rig.run();
    for id in ["x1", "x2", "x3"] {
        rig.script.plan("v2", id, [Trap]);
    }
    let events = ["x1", "x2", "x3", "x4"]
        .into_iter()
        .map(|id| event(id, "in/x", Some(subject)))
        .collect();
    rig.publish(events).await;
    rig.settle(4).await;

    assert!(matches!(rig.report().await, Report::RolledBack { .. }));
    let made: Vec<_> = rig.outputs().into_iter().map(|o| o.made_by).collect();
    assert_eq!(made, ["v1"; 4]);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_amid_parallel_lanes_puts_every_lane_back_on_the_previous_version() {
    let lanes = lanes_of(&SUBJECTS, 2).await;
    let (a, b) = (on_lane(&lanes, 0), on_lane(&lanes, 1));
    let mut rig = Rig::new(subscription(), "v1", 2, Quota::default()).await;
    rig.swap("v2", 2, true);
    rig.run();
    for id in ["a1", "b1", "a2", "b2"] {
        rig.script.plan("v2", id, [Trap]);
    }
    // One event per lane per round: two strikes in the first, the third (and the
    // rollback) in the second while the other lane's call is still out.
    for n in 1..=3 {
        let pair = vec![
            event(&format!("a{n}"), "in/x", Some(a)),
            event(&format!("b{n}"), "in/x", Some(b)),
        ];
        rig.publish(pair).await;
        eventually("the pair handled", || rig.queued().is_empty()).await;
    }

    assert!(matches!(rig.report().await, Report::RolledBack { .. }));
    assert!(rig.errors().is_empty(), "{:?}", rig.errors());
    let made: Vec<_> = rig
        .outputs()
        .into_iter()
        .map(|o| (o.input, o.made_by))
        .collect();
    let want: Vec<(String, String)> = ["a1", "b1", "a2", "b2", "a3", "b3"]
        .into_iter()
        .map(|i| (i.into(), "v1".into()))
        .collect();
    assert_eq!(made, want, "every lane serves the previous version");
    rig.stop().await;
}

#[test]
fn outputs_carry_their_inputs_hops_and_are_local() {
    let mut from_mesh = input("m1");
    from_mesh.hops = 3;
    from_mesh.origin = Some("edge-a".into());
    let mut out = event("", "out/x", None);
    out.hops = 9;
    out.origin = Some("forged".into());
    let publish = weft_core::Patterns::parse(&["out/>".to_owned()]).unwrap();
    let stamped = weft_core::stamp_outputs("proc", &publish, &from_mesh, vec![out]).unwrap();
    assert_eq!(
        stamped[0].hops, 3,
        "an output is as many hops away as its input"
    );
    assert_eq!(stamped[0].origin, None, "an output is made here");
}

#[test]
fn an_output_with_a_control_character_is_refused_like_an_ungranted_topic() {
    let publish = weft_core::Patterns::parse(&["out/>".to_owned()]).unwrap();
    let mut bad = event("", "out/x", Some("line\nbreak"));
    let reason =
        weft_core::stamp_outputs("proc", &publish, &input("e1"), vec![bad.clone()]).unwrap_err();
    assert_eq!(
        reason,
        "output 0's `subject` holds a control character (U+000A) at character 4; \
         CloudEvents strings may hold neither"
    );
    bad.subject = None;
    bad.extensions.push(("note".into(), "\u{fffe}".into()));
    let reason = weft_core::stamp_ingress("conn", &publish, vec![bad]).unwrap_err();
    assert!(
        reason.starts_with("event 0's `note` holds a Unicode noncharacter"),
        "{reason}"
    );
}

#[test]
fn an_outputs_extension_keeps_its_inputs_type_when_its_string_fits_it() {
    use weft_core::ExtValue;
    let publish = weft_core::Patterns::parse(&["out/>".to_owned()]).unwrap();
    let mut from = input("e1");
    from.extensions = vec![
        ("count".into(), ExtValue::Integer(7)),
        ("flag".into(), ExtValue::Boolean(true)),
    ];
    let mut out = event("", "out/x", None);
    // What a guest hands back: strings.
    out.extensions = vec![
        ("count".into(), "42".into()),
        ("flag".into(), "maybe".into()),
        ("other".into(), "1".into()),
    ];
    let stamped = weft_core::stamp_outputs("proc", &publish, &from, vec![out]).unwrap();
    assert_eq!(
        stamped[0].extensions,
        [
            ("count".to_owned(), ExtValue::Integer(42)),
            ("flag".to_owned(), ExtValue::String("maybe".into())),
            ("other".to_owned(), ExtValue::String("1".into())),
        ]
    );
}
