//! Replies across the mesh: a request published on host A and handled on host B
//! is answered back to A over core NATS.
//!
//! A reply address names the host whose caller waits (`_reply/HOST/NONCE`, see
//! `weft_core::reply`). Each host subscribes to its own inbox subject,
//! `_INBOX.weft.PREFIX.HOST.*`, and a reply for another host is published to
//! `_INBOX.weft.PREFIX.HOST.NONCE` in the JSON event format. The subject is
//! outside `PREFIX.>` on purpose: the mesh's stream does not capture it, so a
//! reply is never stored in JetStream (a caller waits in memory; a stored reply
//! would outlive the only one who can read it), and it lies under `_INBOX.>`, which
//! NATS permission setups for request-reply already grant. A reply that finds its
//! host away is lost like a NATS core message; the caller gets its `504` and can
//! send the request again.

use std::sync::Arc;

use async_nats::Client;
use futures::StreamExt as _;
use tokio::sync::{Mutex, mpsc, watch};
use weft_core::reply::{self, host_level};
use weft_core::{Event, Topic, cloudevents};

use crate::config::Mode;
use crate::run::Shared;
use crate::wire;

/// Replies for other hosts waiting to be sent; past it they are dropped and counted.
pub const FORWARD_BUFFER: usize = 4096;

/// The inbox subject of host level `host`, without the nonce.
fn inbox(shared: &Shared, host: &str) -> String {
    format!("_INBOX.weft.{}.{host}", shared.config.prefix.as_str())
}

/// Publishes the replies other hosts wait for until `stop`.
pub(crate) async fn forward(
    shared: Arc<Shared>,
    client: Client,
    replies: Arc<Mutex<mpsc::Receiver<Event>>>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), weft_store::Error> {
    let mut replies = replies.lock().await;
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return Ok(()),
            e = replies.recv() => match e {
                Some(e) => e,
                None => return Ok(()),
            },
        };
        let Some((host, nonce)) = reply::parts(&event.topic) else {
            continue;
        };
        let subject = format!("{}.{nonce}", inbox(&shared, host));
        let out = wire::encode(
            &event,
            &shared.config.prefix,
            Mode::Structured,
            &shared.config.name,
            event.hops,
        );
        if let Err(e) = client
            .publish_with_headers(subject.clone(), out.headers, out.payload)
            .await
        {
            tracing::warn!(%subject, error = %e, "mesh: a reply for another host was not sent; its caller will time out");
        }
    }
}

/// Hands the replies sent to this host's inbox to their waiting callers until `stop`.
pub(crate) async fn receive(
    shared: Arc<Shared>,
    client: Client,
    mut stop: watch::Receiver<bool>,
) -> Result<(), weft_store::Error> {
    let own = host_level(&shared.config.name);
    let filter = format!("{}.*", inbox(&shared, &own));
    let mut inbox = match client.subscribe(filter.clone()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(subject = %filter, error = %e, "mesh: cannot subscribe to this host's reply inbox; replies from other hosts will not arrive (grant subscribe on `_INBOX.weft.>`)");
            let _ = stop.changed().await;
            return Ok(());
        }
    };
    let limits = cloudevents::Limits { max_events: 1 };
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => return Ok(()),
            m = inbox.next() => match m {
                Some(m) => m,
                None => return Ok(()),
            },
        };
        let nonce = msg.subject.as_str().rsplit('.').next().unwrap_or_default();
        let Ok(topic) = Topic::parse(&format!("{}/{own}/{nonce}", reply::PREFIX)) else {
            tracing::warn!(subject = %msg.subject, "mesh: a reply on a subject that names no reply address dropped");
            continue;
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(cloudevents::STRUCTURED),
        );
        match cloudevents::decode(&headers, &msg.payload, &topic, &limits) {
            Ok(events) => {
                for e in events {
                    shared.hub.replies().deliver(e);
                }
            }
            Err(reason) => {
                tracing::warn!(subject = %msg.subject, %reason, "mesh: a reply that is no CloudEvent dropped");
            }
        }
    }
}
