//! `run`: the wiring of a whole host, in order.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_core::{Hub, cloudevents};
use weft_runtime::Runtime;
use weft_store::Store;

use crate::api::{self, AppState};
use crate::auth::{Auth, check_listen};
use crate::config::HostConfig;
use crate::subscriptions::Registry;
use crate::supervisor::{self, Supervisor};

/// Runs a host on `listener` until `shutdown` resolves, then stops intake,
/// finishes the batches in flight, flushes the store and returns.
///
/// Refuses to start when the config has no API tokens and `listener` is not on a
/// loopback address: an open API must not be reachable from the network, whoever
/// calls this.
pub async fn run(
    config: HostConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener
        .local_addr()
        .context("cannot read the listener's address")?;
    check_listen(addr, &config.tokens)?;
    if let Some(files) = &config.http.tls {
        // Checked before anything starts: a host that cannot serve TLS must not
        // come up and then fail at its first connection.
        crate::edge::tls::load(files)?;
    }
    let paths = config.paths.clone();

    for name in config.secrets.names() {
        if *config.secrets.scope(name) == weft_core::secrets::Scope::Any {
            tracing::warn!(
                secret = %name,
                "secret readable by every module's manifest: add `modules = [...]` to [secrets.{name}] to say which may read it"
            );
        }
    }

    // 1. The store: open it, or refuse to start.
    if !config.store.durable {
        tracing::warn!(interval = ?config.store.sync_interval, "durability is `interval`: a crash may lose events acknowledged within the last interval");
    }
    // Before anything records: the facade's handles taken earlier would be no-ops.
    let metrics = config.metrics.then(weft_ops::metrics::install).flatten();
    let store = Store::open(config.store.clone())
        .with_context(|| format!("cannot open the store in {}", paths.data.display()))?;
    let hub = Hub::with_limits(store.clone(), config.disk, config.requests.replies);

    // 2. The runtime, and the folder an operator drops modules into.
    let ready = Arc::new(AtomicBool::new(false));
    let runtime = Runtime::with_config(paths.cache(), config.modules.runtime.clone())?
        .with_state(Arc::new(store.clone()));
    std::fs::create_dir_all(&paths.modules).with_context(|| {
        format!(
            "cannot create the modules folder {}",
            paths.modules.display()
        )
    })?;

    // 3. The modules, as the folder holds them now; the supervisor keeps it so.
    // Workers start only once every route exists (step 4): a worker that commits
    // its backlog's outputs before a downstream subscription is routed would
    // store those outputs for nobody.
    let (stop, stopped) = watch::channel(false);
    let mut supervisor = Supervisor::start(
        hub.clone(),
        runtime.clone(),
        supervisor::Settings {
            dir: paths.modules.clone(),
            defaults: config.modules.defaults.clone(),
            max_errors: config.errors.max_records,
            keep_removed: config.modules.keep_removed,
            tiered: config.modules.tiered,
        },
        stopped.clone(),
    )
    .await?;
    let board = supervisor.board();
    let loaded = supervisor.loaded();

    // 4. Durable subscriptions for outside consumers (pull API), and the mesh's
    // outboxes: both collect from now on.
    let registry = subscribe_outside_consumers(&hub, &config).await?;
    let mesh = match config.mesh.clone() {
        Some(m) => Some(
            weft_mesh::Mesh::prepare(&hub, m)
                .await
                .context("cannot create the mesh's outboxes")?,
        ),
        None => None,
    };

    supervisor.launch();
    let hooks = supervisor.hooks();
    let mut workers = JoinSet::new();
    workers.spawn(supervisor.run());
    if let Some(mesh) = mesh.clone() {
        let data = paths.data.clone();
        let stopped = stopped.clone();
        workers.spawn(async move { mesh.run(&data, stopped).await });
    }

    // 5. Intake. A failed store commit seen by ingest stops the host, as one
    // seen by a worker does: nothing more can be acknowledged safely.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(1);
    let state = AppState {
        fatal: fatal_tx.clone(),
        hub: hub.clone(),
        limits: cloudevents::Limits {
            max_events: config.ingest.max_batch_events,
        },
        ready: ready.clone(),
        board: board.clone(),
        max_replays: config.errors.max_replays,
        auth: Arc::new(Auth::new(config.tokens.clone())),
        subscriptions: Arc::new(registry),
        requests: config.requests,
        mesh,
        metrics,
    };
    let app = api::app(
        state,
        config.ingest.max_body,
        crate::triggers::webhook::router(hooks, config.ingest.max_body, fatal_tx),
    );
    ready.store(true, Ordering::Relaxed);
    tracing::info!(%addr, modules = loaded, refused = board.refused().len(), "weft is ready");

    // 6. Error records expire after their retention.
    let retention = tokio::spawn(expire_errors(hub.clone(), config.errors.retention));

    // 7. Serve until told to stop, or until a worker fails (the store failed).
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let mut failed_tx = Some(failed_tx);
    // The listener (`edge`) bounds what slow, idle and hostile clients can hold.
    let server = crate::edge::serve(
        listener,
        app,
        config.http.clone(),
        config.ingest.max_body,
        async move {
            tokio::select! {
                _ = shutdown => tracing::info!("stopping: no new events accepted"),
                _ = failed_rx => tracing::error!("stopping after a store failure"),
            }
        },
    );
    let mut server = tokio::spawn(server);
    let mut failure = None;
    loop {
        tokio::select! {
            r = &mut server => { r??; break; }
            Some(r) = workers.join_next() => {
                if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
                    tracing::error!(error = %e, "a worker stopped");
                    failure = Some(e);
                    if let Some(tx) = failed_tx.take() { let _ = tx.send(()); }
                }
            }
            Some(reason) = fatal_rx.recv(), if failure.is_none() => {
                failure = Some(anyhow::anyhow!("{reason}"));
                if let Some(tx) = failed_tx.take() { let _ = tx.send(()); }
            }
        }
    }

    // 8. Finish the batches in flight, then flush.
    retention.abort();
    let _ = stop.send(true);
    while let Some(r) = workers.join_next().await {
        if let Err(e) = r.map_err(anyhow::Error::from).and_then(|r| r) {
            failure.get_or_insert(e);
        }
    }
    store.close().await?;
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Routes the subscriptions of the config and those created over the API
/// (kept in the data folder); returns the registry the API changes them through.
async fn subscribe_outside_consumers(hub: &Hub, config: &HostConfig) -> anyhow::Result<Registry> {
    use weft_core::name::queue_of_subscription;
    for s in &config.subscriptions {
        hub.subscribe(&queue_of_subscription(&s.name), s.patterns.clone(), s.quota)
            .await?;
    }
    let registry = Registry::load(
        config.paths.subscriptions(),
        config
            .subscriptions
            .iter()
            .map(|s| s.name.to_string())
            .collect(),
    )?;
    for (name, def) in registry.definitions().await {
        let checked = weft_core::Name::parse(&name)
            .map_err(|e| e.to_string())
            .and_then(|n| Ok((n, def.patterns()?)));
        match checked {
            Ok((name, p)) => {
                hub.subscribe(&queue_of_subscription(&name), p, def.quota())
                    .await?;
            }
            Err(e) => {
                tracing::error!(subscription = %name, error = %e, "stored subscription refused")
            }
        }
    }
    Ok(registry)
}

/// Purges error records older than `retention`, every quarter of it (at most a minute).
async fn expire_errors(hub: Hub, retention: std::time::Duration) {
    let every = (retention / 4).clamp(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(60),
    );
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Ok(age) = chrono::Duration::from_std(retention) else {
            return;
        };
        let sel = weft_core::repair::Selection {
            until: Some(chrono::Utc::now() - age),
            ..Default::default()
        };
        match weft_core::repair::purge(&hub, &sel).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "expired error records purged"),
            Err(e) => tracing::warn!(error = %e, "cannot purge expired error records"),
        }
    }
}
