//! What the core's integration tests share: a hub over a real store in a
//! temporary folder, events, and waiting for what a test expects to happen.

#![allow(dead_code, reason = "each test crate uses a part of the support")]

pub mod scripted;

use std::time::{Duration, Instant};

use weft_core::{Event, Hub, Name};
use weft_store::{Store, StoreConfig};

/// How long a test waits for something before it calls it missing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A hub over a fresh store; keep the folder alive as long as the hub.
pub fn hub() -> (tempfile::TempDir, Hub) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("weft.redb"))).unwrap();
    (dir, Hub::new(store))
}

pub fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

/// An event as a publisher sends it.
pub fn event(id: &str, topic: &str, subject: Option<&str>) -> Event {
    Event {
        id: id.into(),
        source: "/test".into(),
        ty: "test.input".into(),
        subject: subject.map(str::to_owned),
        time: None,
        datacontenttype: None,
        dataschema: None,
        extensions: Vec::new(),
        topic: topic.into(),
        data: Some(id.as_bytes().to_vec()),
        hops: 0,
        origin: None,
    }
}

/// Waits until `done` holds, checking often; fails the test naming `what`.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "still waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
