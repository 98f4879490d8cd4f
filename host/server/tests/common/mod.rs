//! What the in-process tests share: a host run through `weft_server::run` on a
//! loopback listener with a real store in a temp folder, and the problem check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    reason = "tests; each test binary uses part of this"
)]

use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weft_server::{HostConfig, Paths};

/// A host running in this process until dropped (or [`Host::stop`]ped).
pub struct Host {
    pub url: String,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub dir: tempfile::TempDir,
}

impl Host {
    pub async fn start(config: &str) -> Self {
        Self::start_with_modules(config, &[]).await
    }

    /// A host whose modules folder holds `files` (name, content) at start.
    pub async fn start_with_modules(config: &str, files: &[(&str, &[u8])]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), config, files).await
    }

    /// A host over the folders in `dir` (kept from an earlier host, see
    /// [`Host::stop_keeping_data`]), its modules folder also holding `files`.
    pub async fn start_in(dir: tempfile::TempDir, config: &str, files: &[(&str, &[u8])]) -> Self {
        std::fs::create_dir_all(dir.path().join("modules")).unwrap();
        for (name, content) in files {
            std::fs::write(dir.path().join("modules").join(name), content).unwrap();
        }
        let config = HostConfig::parse(config).unwrap().with_paths(Paths {
            modules: dir.path().join("modules"),
            data: dir.path().join("data"),
            cache: None,
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(weft_server::run(config, listener, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{url}/readyz")).send().await
                && r.status() == 200
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            url,
            http,
            stop: Some(stop),
            done: Some(done),
            dir,
        }
    }

    /// Stops the host and hands back its folder, to start another over it.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// POSTs `body` as it is to a topic, with `content_type`.
    pub async fn post_raw(&self, topic: &str, content_type: &str, body: &str) -> (u16, String) {
        let r = self
            .http
            .post(self.url(&format!("/v1/events/{topic}")))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// `127.0.0.1:PORT`, for raw TCP clients.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// A raw connection that has sent `bytes`.
    pub async fn raw(&self, bytes: &[u8]) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt as _;
        let mut s = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        s.write_all(bytes).await.unwrap();
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn publish(&self, topic: &str, id: &str, data: &str) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/v1/events/{topic}")))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/test")
            .header("ce-type", "t")
            .header("content-type", "application/json")
            .body(data.to_owned())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap()
    }
}

/// Asserts an RFC 9457 problem of `status` whose detail contains `needle`.
pub fn problem(status: u16, body: &Value, want: u16, slug: &str, needle: &str) {
    assert_eq!(status, want, "{body}");
    assert_eq!(
        body["type"],
        format!("tag:weft,2026:problem/{slug}"),
        "{body}"
    );
    assert_eq!(body["status"], want, "{body}");
    assert!(body["title"].is_string(), "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(needle), "`{needle}` not in: {detail}");
}
