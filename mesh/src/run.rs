//! The link's life: connect, bind the stream, claim the name, then export and
//! import until the host stops; when the name is lost, stop both and claim again.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_core::Hub;
use weft_core::name::{Name, queue_of_export};
use weft_store::QueueId;

use crate::claim::{self, ClaimError};
use crate::config::{MeshConfig, Mode};
use crate::export::Exporter;
use crate::import::{Importer, consumer_name};
use crate::link::{self, Denied};
use crate::status::{self, Board, LinkState, MeshStatus};

/// How often the link's round trip and the imports' lag are looked at.
const MONITOR_EVERY: Duration = Duration::from_secs(5);
/// How long a host whose name is taken waits before it tries again.
const CLAIM_RETRY: Duration = Duration::from_secs(5);

/// Why a linked session ended.
enum Lost {
    /// The connection broke.
    Connection,
    /// Another host holds this host's name now.
    Name(String),
}

/// What the link's tasks share.
pub struct Shared {
    pub(crate) config: MeshConfig,
    pub(crate) hub: Hub,
    pub(crate) board: Arc<Board>,
    pub(crate) denied: Denied,
}

/// A host's mesh: made before the host takes events (so the outboxes collect
/// from the start), run in the background, asked for status by the API.
#[derive(Clone)]
pub struct Mesh {
    shared: Arc<Shared>,
    /// Each export's outbox.
    outboxes: Arc<Vec<(String, QueueId)>>,
    /// Replies this host's modules made for callers on other hosts.
    replies: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<weft_core::Event>>>,
}

impl Mesh {
    /// Creates the exports' outboxes and routes to them: from now on every
    /// matching event accepted here waits in its outbox, linked or not.
    pub async fn prepare(hub: &Hub, config: MeshConfig) -> Result<Self, weft_store::Error> {
        // Reply addresses made here name this host; replies for others go out.
        hub.replies().set_host(&config.name);
        let (tx, replies) = tokio::sync::mpsc::channel(crate::reply::FORWARD_BUFFER);
        hub.replies().set_forward(tx);
        let mut outboxes = Vec::new();
        for e in &config.exports {
            let name = Name::parse(&e.name)
                .map_err(|err| weft_store::Error::Engine(format!("mesh export name: {err}")))?;
            let queue = hub
                .subscribe_local(&queue_of_export(&name), e.topics.clone(), e.quota)
                .await?;
            outboxes.push((e.name.clone(), queue));
        }
        let board = Board::new(MeshStatus {
            name: config.name.clone(),
            stream: config.stream.name.clone(),
            link: status::Link {
                state: LinkState::Disconnected,
                server: None,
                rtt_ms: None,
                since: status::now(),
                reason: Some("not connected yet".into()),
            },
            exports: config
                .exports
                .iter()
                .map(|e| status::Export {
                    name: e.name.clone(),
                    topics: e.topics.iter().map(|p| p.to_string()).collect(),
                    mode: match e.mode {
                        Mode::Structured => "structured".into(),
                        Mode::Binary => "binary".into(),
                    },
                    ..Default::default()
                })
                .collect(),
            imports: config
                .imports
                .iter()
                .map(|i| status::Import {
                    name: i.name.clone(),
                    topics: i.topics.iter().map(|p| p.to_string()).collect(),
                    group: i.group.clone(),
                    consumer: consumer_name(&config.name, i),
                    ..Default::default()
                })
                .collect(),
        });
        Ok(Self {
            shared: Arc::new(Shared {
                config,
                hub: hub.clone(),
                board: Arc::new(board),
                denied: Denied::default(),
            }),
            outboxes: Arc::new(outboxes),
            replies: Arc::new(tokio::sync::Mutex::new(replies)),
        })
    }

    /// The mesh as `weft status` shows it, with each outbox's depth now.
    pub fn status(&self) -> MeshStatus {
        let mut s = self.shared.board.snapshot();
        let store = self.shared.hub.store();
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        for (name, queue) in self.outboxes.iter() {
            if let Some(e) = s.exports.iter_mut().find(|e| &e.name == name) {
                e.outbox_depth = store.depth(*queue);
                e.outbox_bytes = store.queued_bytes(*queue);
                e.oldest_age_ms = store
                    .oldest(*queue)
                    .ok()
                    .flatten()
                    .map(|t| now.saturating_sub(t));
            }
        }
        s
    }

    /// Links this host until `stop` turns true. NATS being away is not an error
    /// (the link retries and the outboxes wait); only a failed local store is,
    /// and stops the host.
    pub async fn run(self, data: &Path, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let shared = self.shared.clone();
        let instance = claim::instance(data).map_err(|e| {
            anyhow::anyhow!(
                "cannot keep the mesh instance id in {}: {e}",
                data.display()
            )
        })?;
        loop {
            // 1. Connect: a new client for each connection (see `link`).
            let Some(mut session) = link::connect(
                &shared.config,
                shared.board.clone(),
                shared.denied.clone(),
                &mut stop,
            )
            .await
            else {
                return Ok(());
            };
            let client = session.client.clone();
            shared.board.with(|s| {
                s.link.server = Some(client.server_info().host.clone());
            });
            let js = jetstream::ContextBuilder::new()
                .timeout(link::REQUEST_TIMEOUT)
                .build(client.clone());
            // 2. The stream and the name.
            let Some((kv, mut held)) = self.bind(&js, &instance, &mut stop).await else {
                return Ok(());
            };
            shared.board.connected(LinkState::Linked, None);
            tracing::info!(name = %shared.config.name, stream = %shared.config.stream.name, "mesh: linked");
            // 3. Export and import until the host stops or the name is lost.
            let (tasks_stop, tasks_stopped) = watch::channel(false);
            let mut tasks = self.start(&js, &client, tasks_stopped);
            let mut renew = tokio::time::interval(claim::RENEW);
            renew.tick().await;
            let lost = loop {
                tokio::select! {
                    _ = stop.changed() => if *stop.borrow() { break None },
                    _ = session.lost() => break Some(Lost::Connection),
                    _ = renew.tick() => match held.renew(&kv).await {
                        Ok(()) => {}
                        Err(e @ ClaimError::Taken { .. }) => break Some(Lost::Name(e.to_string())),
                        Err(e) => tracing::warn!(error = %e, "mesh: cannot renew the name's claim; trying again"),
                    },
                    Some(done) = tasks.join_next() => {
                        let _ = tasks_stop.send(true);
                        while tasks.join_next().await.is_some() {}
                        done??;
                        anyhow::bail!("a mesh task ended unexpectedly");
                    }
                }
            };
            let _ = tasks_stop.send(true);
            while let Some(done) = tasks.join_next().await {
                done??;
            }
            match lost {
                None => {
                    held.release(&kv).await;
                    let _ = client.drain().await;
                    return Ok(());
                }
                Some(Lost::Name(reason)) => {
                    tracing::error!(%reason, "mesh: this host's name was taken; export and import stopped");
                    shared.board.connected(LinkState::NameTaken, Some(reason));
                }
                Some(Lost::Connection) => {
                    // Dropped, with whatever it still queued: the exporters start
                    // again on the next connection from what is not acknowledged.
                    drop(client);
                    drop(session);
                }
            }
        }
    }

    /// Binds the stream and claims the name, retrying until both are done or
    /// the host stops.
    async fn bind(
        &self,
        js: &jetstream::Context,
        instance: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<(jetstream::kv::Store, claim::Claim)> {
        let shared = &self.shared;
        loop {
            if *stop.borrow() {
                return None;
            }
            shared.board.connected(LinkState::Connecting, None);
            let attempt = async {
                link::stream(js, &shared.config)
                    .await
                    .map_err(|e| (LinkState::Connecting, e))?;
                let kv = claim::bucket(js, &shared.config.prefix, shared.config.stream.replicas)
                    .await
                    .map_err(|e| (LinkState::Connecting, e))?;
                let held = claim::claim(&kv, &shared.config.name, instance)
                    .await
                    .map_err(|e| match e {
                        ClaimError::Taken { .. } => (LinkState::NameTaken, e.to_string()),
                        ClaimError::Nats { .. } => (LinkState::Connecting, e.to_string()),
                    })?;
                Ok::<_, (LinkState, String)>((kv, held))
            };
            match attempt.await {
                Ok(bound) => return Some(bound),
                Err((state, reason)) => {
                    tracing::error!(%reason, "mesh: not linked");
                    shared.board.connected(state, Some(reason));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(CLAIM_RETRY) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Starts the exporters, the importers, the replies' forwarder and inbox, and
    /// the monitor.
    fn start(
        &self,
        js: &jetstream::Context,
        client: &async_nats::Client,
        stop: watch::Receiver<bool>,
    ) -> JoinSet<Result<(), weft_store::Error>> {
        let shared = &self.shared;
        let mut tasks = JoinSet::new();
        for (export, (name, queue)) in shared.config.exports.iter().zip(self.outboxes.iter()) {
            let exporter = Exporter {
                shared: shared.clone(),
                export: export.clone(),
                queue: *queue,
                owner: format!("export/{name}"),
            };
            tasks.spawn(exporter.run(js.clone(), stop.clone()));
        }
        for import in &shared.config.imports {
            let importer = Importer {
                shared: shared.clone(),
                import: import.clone(),
            };
            tasks.spawn(importer.run(js.clone(), stop.clone()));
        }
        let replies = self.replies.clone();
        tasks.spawn(crate::reply::forward(
            shared.clone(),
            client.clone(),
            replies,
            stop.clone(),
        ));
        tasks.spawn(crate::reply::receive(
            shared.clone(),
            client.clone(),
            stop.clone(),
        ));
        tasks.spawn(monitor(shared.clone(), js.clone(), client.clone(), stop));
        tasks
    }
}

/// Keeps the status's round trip and the imports' lag current.
async fn monitor(
    shared: Arc<Shared>,
    js: jetstream::Context,
    client: async_nats::Client,
    mut stop: watch::Receiver<bool>,
) -> Result<(), weft_store::Error> {
    let mut tick = tokio::time::interval(MONITOR_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return Ok(()),
        }
        let rtt = link::rtt(&client).await;
        shared.board.with(|s| s.link.rtt_ms = rtt);
        let Ok(stream) = js.get_stream(&shared.config.stream.name).await else {
            continue;
        };
        for import in &shared.config.imports {
            let name = consumer_name(&shared.config.name, import);
            let pending = match stream.consumer_info(&name).await {
                Ok(info) => Some(info.num_pending),
                Err(_) => None,
            };
            shared.board.import(&import.name, |s| s.pending = pending);
        }
    }
}
