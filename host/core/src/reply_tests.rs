#![allow(clippy::unwrap_used, clippy::panic, reason = "tests")]

use super::*;

fn reply_to(address: &str, data: &str) -> Event {
    Event {
        id: "r1".into(),
        source: "/test".into(),
        ty: "t".into(),
        subject: None,
        time: None,
        datacontenttype: None,
        dataschema: None,
        extensions: vec![],
        topic: address.into(),
        data: Some(data.as_bytes().to_vec()),
        hops: 0,
        origin: None,
    }
}

fn replies(keep_ms: u64, max_waiting: usize) -> Replies {
    Replies::new(Settings {
        keep: Duration::from_millis(keep_ms),
        max_waiting,
    })
}

#[tokio::test]
async fn a_waiting_caller_gets_the_first_reply_and_later_ones_are_counted() {
    let r = replies(60_000, 10);
    r.set_host("edge.a");
    let mut w = r.open("req-1", None).unwrap();
    assert!(w.address.starts_with("_reply/edge_a/"), "{}", w.address);
    assert!(is_address(&w.address) && !is_address("_replyx/a/b"));
    r.deliver(reply_to(&w.address, "first"));
    r.deliver(reply_to(&w.address, "second"));
    let got = w.wait(Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.data.as_deref(), Some(&b"first"[..]));
    assert_eq!(
        got.extension(CORRELATIONID),
        Some(&ExtValue::String("req-1".into())),
        "the request's id, whoever answered"
    );
    let c = r.counts();
    assert_eq!((c.answered, c.waiting, c.unknown + c.extra), (1, 0, 1));
}

#[tokio::test]
async fn a_reply_after_the_caller_left_is_kept_for_its_owner_then_expires() {
    let r = replies(200, 10);
    let mut w = r.open("req-2", Some("alice")).unwrap();
    let address = w.address.clone();
    assert!(w.wait(Duration::from_millis(10)).await.is_none());
    drop(w);
    assert!(matches!(r.fetch("req-2", Some("alice")), Fetched::Pending));
    r.deliver(reply_to(&address, "late"));
    assert!(matches!(r.fetch("req-2", Some("bob")), Fetched::Unknown));
    assert!(matches!(r.fetch("req-2", None), Fetched::Unknown));
    match r.fetch("req-2", Some("alice")) {
        Fetched::Reply(e) => assert_eq!(e.data.as_deref(), Some(&b"late"[..])),
        _ => panic!("the late reply is kept"),
    }
    // Retrying the same request gets the kept reply instead of waiting.
    let mut again = r.open("req-2", Some("alice")).unwrap();
    assert!(again.resumed);
    assert!(again.wait(Duration::ZERO).await.is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(r.fetch("req-2", Some("alice")), Fetched::Unknown));
    assert_eq!(r.counts().expired, 1);
}

#[tokio::test]
async fn one_id_waits_once_and_the_waiting_room_is_bounded() {
    let r = replies(60_000, 2);
    let _a = r.open("x", None).unwrap();
    assert_eq!(r.open("x", None).err(), Some(OpenError::Busy("x".into())));
    // Another token's request with the same id is its own.
    let _b = r.open("x", Some("t")).unwrap();
    assert_eq!(r.open("y", None).err(), Some(OpenError::Full(2)));
    let c = r.open("x", Some("t"));
    assert!(matches!(c, Err(OpenError::Busy(_))));
}

#[tokio::test]
async fn a_timed_out_caller_resumes_on_the_same_address() {
    let r = replies(60_000, 10);
    let mut w = r.open("q", None).unwrap();
    let address = w.address.clone();
    assert!(w.wait(Duration::from_millis(5)).await.is_none());
    drop(w);
    let mut again = r.open("q", None).unwrap();
    assert!(again.resumed);
    assert_eq!(again.address, address);
    r.deliver(reply_to(&address, "now"));
    assert!(again.wait(Duration::from_secs(1)).await.is_some());
}

#[tokio::test]
async fn a_cancelled_request_leaves_nothing_behind() {
    let r = replies(60_000, 1);
    let w = r.open("gone", None).unwrap();
    let address = w.address.clone();
    w.cancel();
    assert_eq!(r.counts().waiting, 0);
    r.deliver(reply_to(&address, "x"));
    assert_eq!(r.counts().unknown, 1);
    assert!(r.open("other", None).is_ok());
}

#[tokio::test]
async fn replies_for_another_host_go_to_the_mesh_or_are_counted() {
    let r = replies(60_000, 1);
    r.set_host("a");
    r.deliver(reply_to("_reply/b/00", "x"));
    assert_eq!(r.counts().unroutable, 1);
    let (tx, mut rx) = mpsc::channel(1);
    r.set_forward(tx);
    r.deliver(reply_to("_reply/b/01", "y"));
    assert_eq!(rx.recv().await.unwrap().topic, "_reply/b/01");
    assert_eq!(r.counts().forwarded, 1);
}

#[test]
fn a_module_answers_its_own_request_without_a_grant_and_no_other() {
    let publish = crate::Patterns::parse(&["orders/>".to_owned()]).unwrap();
    let mut request = reply_to("orders/quote", "{}");
    request.id = "req-9".into();
    request
        .extensions
        .push((REPLYTO.into(), ExtValue::String("_reply/local/aa".into())));
    let answer = reply_to("_reply/local/aa", "ok");
    let stamped = crate::stamp_outputs("quoter", &publish, &request, vec![answer.clone()]).unwrap();
    assert_eq!(stamped[0].topic, "_reply/local/aa", "no grant needed");
    let forged = reply_to("_reply/local/bb", "ok");
    let e = crate::stamp_outputs("quoter", &publish, &request, vec![forged]).unwrap_err();
    assert!(e.contains("not the `replyto`"), "{e}");
    // Even a grant of everything does not open another request's address.
    let all = crate::Patterns::parse(&[">".to_owned()]).unwrap();
    let plain = reply_to("orders/x", "{}");
    let e = crate::stamp_outputs("quoter", &all, &plain, vec![answer.clone()]).unwrap_err();
    assert!(e.contains("reply address"), "{e}");
    let e = crate::stamp_ingress("hook", &all, vec![answer]).unwrap_err();
    assert!(e.contains("cannot answer"), "{e}");
}
