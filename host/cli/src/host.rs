//! `weft run`: the wiring of a whole host, in order.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weft_core::{Hub, Subscription, Worker, cloudevents};
use weft_runtime::{Kind, Runtime};
use weft_store::{Store, StoreConfig};

use crate::api::{self, AppState, ModuleInfo};
use crate::config::HostConfig;

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
    let runtime = Runtime::new(
        paths
            .cache
            .clone()
            .unwrap_or_else(|| paths.data.join("cache")),
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
    let rt = runtime.clone();
    let (loaded, refused) =
        tokio::task::spawn_blocking(move || weft_runtime::load_dir(&rt, &modules_dir, &defaults))
            .await?;
    for r in &refused {
        tracing::error!(file = %r.file.display(), reason = %r.reason, "module refused");
    }

    // 3. One worker per module.
    let (stop, stopped) = watch::channel(false);
    let mut workers = JoinSet::new();
    // Workers start only once every route exists (step 4): a worker that commits
    // its backlog's outputs before a downstream subscription is routed would
    // store those outputs for nobody.
    let mut ready_workers = Vec::new();
    let mut infos = Vec::new();
    let mut connectors = Vec::new();
    for module in &loaded {
        let m = &module.manifest;
        infos.push(ModuleInfo {
            name: module.name.clone(),
            kind: kind_name(module.kind),
            version: module.version.clone(),
            subscribe: patterns(m.subscribe.iter()),
            publish: patterns(m.publish.iter()),
        });
        if module.kind == Kind::Ingress {
            tracing::info!(module = %module.name, version = %&module.version[..12], triggers = ?m.ingress, "connector loaded");
            connectors.push(crate::connectors::Connector::new(
                module.clone(),
                hub.clone(),
            ));
            continue;
        }
        let sub = Subscription {
            name: module.name.clone(),
            subscribe: m.subscribe.clone(),
            publish: m.publish.clone(),
            batch_max: m.batch_max,
            retry: m.retry,
            quota: m.quota,
            max_errors: config.max_error_records,
            key: m.key.clone(),
        };
        let handlers = (0..m.workers).map(|_| module.handler()).collect();
        ready_workers.push(Worker::new(hub.clone(), sub, handlers).await?);
        tracing::info!(module = %module.name, kind = kind_name(module.kind), version = %&module.version[..12], subscribe = ?patterns(m.subscribe.iter()), "module loaded");
    }

    // 4. Durable subscriptions for outside consumers (pull API).
    for (name, patterns, quota) in &config.subscriptions {
        hub.subscribe(&api::subscription_queue(name), patterns.clone(), *quota)
            .await?;
    }
    let registry = crate::subscriptions::Registry::load(
        paths.data.join("subscriptions.json"),
        config
            .subscriptions
            .iter()
            .map(|(n, _, _)| n.clone())
            .collect(),
    )?;
    for (name, def) in registry.definitions().await {
        match def.patterns() {
            Ok(p) => {
                hub.subscribe(&api::subscription_queue(&name), p, def.quota())
                    .await?;
            }
            Err(e) => {
                tracing::error!(subscription = %name, error = %e, "stored subscription refused")
            }
        }
    }

    for worker in ready_workers {
        workers.spawn(worker.run(stopped.clone()));
    }
    // Ingress triggers start with the workers, for the same reason.
    let mut hooks = std::collections::HashMap::new();
    for conn in &connectors {
        let Some(t) = conn.module.manifest.ingress.clone() else {
            continue;
        };
        if let Some(every) = t.interval {
            workers.spawn(crate::connectors::run_timer(
                conn.clone(),
                every,
                stopped.clone(),
            ));
        }
        if let Some(dir) = t.watch {
            workers.spawn(crate::connectors::run_watch(
                conn.clone(),
                dir,
                stopped.clone(),
            ));
        }
        if t.route {
            hooks.insert(conn.name().to_owned(), conn.clone());
        }
    }

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
        modules: Arc::new(infos),
        max_replays: config.max_replays,
        auth: Arc::new(crate::auth::Auth::new(config.tokens.clone())),
        subscriptions: Arc::new(registry),
        refused: Arc::new(
            refused
                .iter()
                .map(|r| (r.file.display().to_string(), r.reason.clone()))
                .collect(),
        ),
    };
    let app = api::router(state, config.max_body).merge(crate::hooks::router(
        hooks,
        config.max_body,
        fatal_tx,
    ));
    let addr = listener.local_addr()?;
    ready.store(true, Ordering::Relaxed);
    tracing::info!(%addr, modules = loaded.len(), refused = refused.len(), "weft is ready");

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

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Processor => "processor",
        Kind::Ingress => "ingress",
        Kind::Egress => "egress",
    }
}

fn patterns<'a>(p: impl Iterator<Item = &'a weft_core::Pattern>) -> Vec<String> {
    p.map(|p| p.to_string()).collect()
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
