//! An outside consumer over a real store: pull from the head, stream after a
//! cursor, acknowledge up to a sequence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use support::{event, name};
use weft_core::consumer::{Consumer, Delivery, WAIT_TIMEOUT};
use weft_core::name::queue_of_subscription;
use weft_core::{Hub, Patterns, Quota};
use weft_store::NewEvent;

/// A hub with subscription `audit` on `orders/>`, and a reader of it.
async fn audit() -> (tempfile::TempDir, Hub, Consumer) {
    let (dir, hub) = support::hub();
    hub.subscribe(
        &queue_of_subscription(&name("audit")),
        Patterns::parse(&["orders/>"]).unwrap(),
        Quota::default(),
    )
    .await
    .unwrap();
    let consumer = Consumer::of_subscription(hub.clone(), &name("audit")).unwrap();
    (dir, hub, consumer)
}

async fn publish(hub: &Hub, ids: &[&str]) {
    let events = ids.iter().map(|id| event(id, "orders/eu", None)).collect();
    hub.publish(events).await.unwrap();
}

fn ids(batch: &[Delivery]) -> Vec<String> {
    batch
        .iter()
        .map(|d| d.event.as_ref().unwrap().id.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_reads_from_the_head_until_events_are_acknowledged() {
    let (_dir, hub, consumer) = audit().await;
    publish(&hub, &["a", "b", "c"]).await;
    let batch = consumer.pull(10).unwrap();
    assert_eq!(ids(&batch), ["a", "b", "c"]);
    assert_eq!(
        ids(&consumer.pull(10).unwrap()),
        ["a", "b", "c"],
        "not yet acknowledged"
    );
    assert_eq!(ids(&consumer.pull(2).unwrap()), ["a", "b"]);

    assert_eq!(consumer.ack_upto(batch[1].seq).await.unwrap(), 2);
    assert_eq!(ids(&consumer.pull(10).unwrap()), ["c"]);
    assert_eq!(
        consumer.ack_upto(batch[1].seq).await.unwrap(),
        0,
        "acknowledging again is harmless"
    );
    assert_eq!(consumer.cursor(), None, "pulling does not move the cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_removes_any_number_of_entries_and_no_more() {
    let (_dir, hub, consumer) = audit().await;
    let names: Vec<String> = (0..2345).map(|i| format!("e{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    publish(&hub, &refs).await;
    let seqs: Vec<u64> = consumer
        .pull(10_000)
        .unwrap()
        .iter()
        .map(|d| d.seq)
        .collect();
    assert_eq!(seqs.len(), 2345);

    assert_eq!(consumer.ack_upto(seqs[2099]).await.unwrap(), 2100);
    let head = consumer.pull(1).unwrap();
    assert_eq!(head[0].seq, seqs[2100]);
    assert_eq!(hub.store().depth(consumer.queue()), 245);
    assert_eq!(consumer.ack_upto(u64::MAX).await.unwrap(), 245);
    assert_eq!(hub.store().depth(consumer.queue()), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_moves_its_cursor_without_acknowledging() {
    let (_dir, hub, mut consumer) = audit().await;
    publish(&hub, &["a", "b", "c"]).await;
    let first = consumer.next(2).unwrap();
    assert_eq!(ids(&first), ["a", "b"]);
    assert_eq!(consumer.cursor(), Some(first[1].seq));
    assert_eq!(ids(&consumer.next(10).unwrap()), ["c"]);
    assert!(consumer.next(10).unwrap().is_empty(), "caught up");
    assert_eq!(
        hub.store().depth(consumer.queue()),
        3,
        "nothing acknowledged"
    );

    let mut again = Consumer::of_subscription(hub.clone(), &name("audit")).unwrap();
    assert_eq!(
        ids(&again.next(10).unwrap()),
        ["a", "b", "c"],
        "a new reader starts at the head"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_acknowledges_up_to_the_last_event_id_and_goes_on_after_it() {
    let (_dir, hub, mut consumer) = audit().await;
    publish(&hub, &["a", "b", "c"]).await;
    let seqs: Vec<u64> = consumer.pull(10).unwrap().iter().map(|d| d.seq).collect();

    let mut reconnected = Consumer::new(hub.clone(), consumer.queue());
    assert_eq!(reconnected.resume(seqs[0]).await.unwrap(), 1);
    assert_eq!(reconnected.cursor(), Some(seqs[0]));
    assert_eq!(ids(&reconnected.next(10).unwrap()), ["b", "c"]);
    assert_eq!(
        ids(&consumer.pull(10).unwrap()),
        ["b", "c"],
        "a is acknowledged"
    );
    assert_eq!(ids(&consumer.next(10).unwrap()), ["b", "c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_stream_wakes_on_a_publish_and_otherwise_after_the_timeout() {
    let (_dir, hub, mut consumer) = audit().await;
    let started = Instant::now();
    consumer.wait().await;
    assert!(
        started.elapsed() >= WAIT_TIMEOUT,
        "nothing came: it timed out"
    );

    let publisher = hub.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        publish(&publisher, &["a"]).await;
    });
    let started = Instant::now();
    consumer.wait().await;
    assert!(started.elapsed() < WAIT_TIMEOUT, "woken by the publish");
    assert_eq!(ids(&consumer.next(10).unwrap()), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_entry_is_handed_out_as_unreadable_and_can_be_acknowledged() {
    let (_dir, hub, consumer) = audit().await;
    hub.store()
        .append(vec![NewEvent {
            dedup: None,
            payload: b"\xff\xff\xff".to_vec(),
            queues: vec![consumer.queue()],
        }])
        .await
        .unwrap();
    publish(&hub, &["a"]).await;
    let batch = consumer.pull(10).unwrap();
    assert!(batch[0].event.is_err());
    assert_eq!(batch[1].event.as_ref().unwrap().id, "a");
    assert_eq!(consumer.ack_upto(batch[0].seq).await.unwrap(), 1);
    assert_eq!(ids(&consumer.pull(10).unwrap()), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_without_a_queue_has_no_consumer() {
    let (_dir, hub) = support::hub();
    assert!(Consumer::of_subscription(hub, &name("nobody")).is_none());
}
