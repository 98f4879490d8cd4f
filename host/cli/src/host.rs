//! `weft run`: the wiring of a whole host, in order.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_core::name::queue_of_subscription;
use weft_core::{Hub, Name, cloudevents};
use weft_runtime::Runtime;
use weft_store::{Store, StoreConfig};

use crate::api::{self, AppState};
use crate::config::HostConfig;
use crate::supervisor::{self, Supervisor};

/// Where a host keeps and finds things.
#[derive(Debug, Clone)]
pub struct Paths {
    pub modules: PathBuf,
    pub data: PathBuf,
    /// The compile cache; `None` puts it under the data folder.
    pub cache: Option<PathBuf>,
}

/// Runs a host on `listener` until `shutdown` resolves, then stops intake,
/// finishes the batches in flight, flushes the store and returns.
pub async fn run(
    paths: Paths,
    config: HostConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // 1. The store: open it, or refuse to start.
    let mut store_config = StoreConfig::new(paths.data.join("weft.redb"));
    store_config.dedup_window = config.dedup_window;
    store_config.max_batch = config.commit_max_events;
    store_config.max_delay = config.commit_max_delay;
    store_config.durable = config.durable;
    store_config.sync_interval = config.sync_interval;
    store_config.engine = config.engine;
    store_config.cache_bytes = usize::try_from(config.store_cache).unwrap_or(usize::MAX);
    if !config.durable {
        tracing::warn!(interval = ?config.sync_interval, "durability is `interval`: a crash may lose events acknowledged within the last interval");
    }
    let store = Store::open(store_config)
        .with_context(|| format!("cannot open the store in {}", paths.data.display()))?;
    let hub = Hub::with_disk_quota(store.clone(), config.disk);

    // 2. Serve probes at once; readiness waits for the modules.
    let ready = Arc::new(AtomicBool::new(false));
    let runtime = Runtime::with_config(
        paths
            .cache
            .clone()
            .unwrap_or_else(|| paths.data.join("cache")),
        config.runtime.clone(),
    )?
    .with_state(Arc::new(store.clone()));
    // An operator drops modules into this folder; have it ready.
    std::fs::create_dir_all(&paths.modules).with_context(|| {
        format!(
            "cannot create the modules folder {}",
            paths.modules.display()
        )
    })?;
    let modules_dir = paths.modules.clone();
    let mut defaults = config.modules.clone();
    defaults.secrets = weft_runtime::Secrets::new(
        config
            .secrets
            .names()
            .filter_map(|n| Some((n.to_owned(), config.secrets.get(n)?.to_owned())))
            .collect(),
    );
    // 3. The modules, as the folder holds them now; the supervisor keeps it so.
    // Workers start only once every route exists (step 4): a worker that commits
    // its backlog's outputs before a downstream subscription is routed would
    // store those outputs for nobody.
    let (stop, stopped) = watch::channel(false);
    let mut supervisor = Supervisor::start(
        hub.clone(),
        runtime.clone(),
        supervisor::Settings {
            dir: modules_dir,
            defaults,
            max_errors: config.max_error_records,
            keep_removed: config.keep_removed,
        },
        stopped.clone(),
    )
    .await?;
    let board = supervisor.board();
    let hooks = supervisor.hooks();
    let loaded = supervisor.loaded();

    // 4. Durable subscriptions for outside consumers (pull API).
    for (name, patterns, quota) in &config.subscriptions {
        hub.subscribe(&queue_of_subscription(name), patterns.clone(), *quota)
            .await?;
    }
    let registry = crate::subscriptions::Registry::load(
        paths.data.join("subscriptions.json"),
        config
            .subscriptions
            .iter()
            .map(|(n, _, _)| n.to_string())
            .collect(),
    )?;
    for (name, def) in registry.definitions().await {
        let checked = Name::parse(&name).map_err(|e| e.to_string());
        match checked.and_then(|n| Ok((n, def.patterns()?))) {
            Ok((n, p)) => {
                hub.subscribe(&queue_of_subscription(&n), p, def.quota())
                    .await?;
            }
            Err(e) => {
                tracing::error!(subscription = %name, error = %e, "stored subscription refused")
            }
        }
    }

    supervisor.launch();
    let mut workers = JoinSet::new();
    workers.spawn(supervisor.run());

    // 5. Intake. A failed store commit seen by ingest stops the host, as one
    // seen by a worker does: nothing more can be acknowledged safely.
    let (fatal_tx, mut fatal_rx) = tokio::sync::mpsc::channel::<String>(1);
    let state = AppState {
        fatal: fatal_tx.clone(),
        hub: hub.clone(),
        limits: cloudevents::Limits {
            max_events: config.max_batch_events,
        },
        ready: ready.clone(),
        board: board.clone(),
        max_replays: config.max_replays,
        auth: Arc::new(crate::auth::Auth::new(config.tokens.clone())),
        subscriptions: Arc::new(registry),
    };
    let app = api::router(state, config.max_body).merge(crate::hooks::router(
        hooks,
        config.max_body,
        fatal_tx,
    ));
    let addr = listener.local_addr()?;
    ready.store(true, Ordering::Relaxed);
    tracing::info!(%addr, modules = loaded, refused = board.refused().len(), "weft is ready");

    // 6. Error records expire after their retention.
    let retention = tokio::spawn(expire_errors(hub.clone(), config.error_retention));

    // 7. Serve until told to stop, or until a worker fails (the store failed).
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<()>();
    let mut failed_tx = Some(failed_tx);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown => tracing::info!("stopping: no new events accepted"),
            _ = failed_rx => tracing::error!("stopping after a store failure"),
        }
    });
    let server = tokio::spawn(async move { server.await });
    let mut failure = None;
    let mut server = server;
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
