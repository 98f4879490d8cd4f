//! Request-reply across the mesh: a request made on host A, handled by a module
//! on host B, answered back to the caller on A; the reply is never stored in
//! the stream.

use std::time::Duration;

use serde_json::{Value, json};
use weft_tests::Host;

use super::{client, count, linked, mesh, server};
use crate::WEFT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_one_host_is_answered_by_a_module_on_another() {
    let nats = server().await;
    let servers = [nats.url()];
    let mut a = Host::new(WEFT);
    a.config(&mesh(
        &servers,
        "edge.a",
        "[mesh.export]\ntopics = [\"quotes/>\"]\n",
    ));
    let mut b = Host::new(WEFT);
    b.config(&mesh(
        &servers,
        "b",
        "[mesh.import.quotes]\ntopics = [\"quotes/>\"]\n",
    ));
    b.module(
        "receipt",
        &weft_tests::guest("receipt"),
        "subscribe = [\"quotes/>\"]\n[config]\nstatus = \"quoted\"\n",
    );
    a.start().await;
    b.start().await;
    linked(&a).await;
    linked(&b).await;

    let ask = |id: &'static str, timeout: &'static str| {
        a.http
            .post(a.url(&format!("/v1/requests/quotes/new?timeout={timeout}")))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/test")
            .header("ce-type", "quote.request")
            .header("content-type", "application/json")
            .body(json!({ "item": id }).to_string())
            .send()
    };
    let r = ask("cross-1", "30s").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()
            .get("ce-correlationid")
            .unwrap()
            .to_str()
            .unwrap(),
        "cross-1"
    );
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["status"], "quoted");
    assert_eq!(receipt["data"]["item"], "cross-1");
    // Several at once, each to its own caller.
    let many = (0..20).map(|i| {
        let id: &'static str = Box::leak(format!("cross-m{i}").into_boxed_str());
        async move {
            let r = ask(id, "30s").await.unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let receipt: Value = r.json().await.unwrap();
            assert_eq!(receipt["data"]["item"], id);
        }
    });
    futures::future::join_all(many).await;

    let js = client(&nats.url()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        count(&js, "WEFT", ">").await,
        21,
        "the requests, and no reply"
    );
    let status = b.get("/v1/status").await;
    assert_eq!(status["requests"]["forwarded"], 21, "{status}");
    let status = a.get("/v1/status").await;
    assert_eq!(status["requests"]["answered"], 21, "{status}");
}
