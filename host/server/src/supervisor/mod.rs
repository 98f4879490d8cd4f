//! The modules folder, live: what runs is what the folder holds.
//!
//! A watcher (inotify through `notify`, plus a slow rescan in case a filesystem
//! drops events) wakes the supervisor; it looks at every `NAME.wasm`/`NAME.toml`
//! pair by size and modification time and takes a pair only once it has looked the
//! same for [`SETTLE`], so a half-written file is never loaded, whether the writer
//! renames it into place or writes it in place. Then, off the event path (a
//! blocking thread), the new version is compiled, validated against its world and
//! its manifest and started once; only then does it take over:
//!
//! - a processor or egress connector swaps at its worker's next batch boundary: the
//!   batch in flight finishes on the old version, the queue keeps its position, and
//!   the new version serves on probation with the old one as fallback (see
//!   `weft_core::worker`), rolled back automatically if it fails where the old one
//!   did not;
//! - an ingress connector's triggers stop (their call in flight finishes), then the
//!   new version's start, reading the same committed `state`, so a poller goes on
//!   from the same cursor;
//! - a removed module stops; its subscription keeps collecting for
//!   `keep_removed` (parked: when full it stops collecting rather than refuse
//!   publishers, and counts the gap), so putting the module back resumes with
//!   nothing missed;
//! - a version that fails any check is refused with the file and the reason; what
//!   was running keeps running. It is not tried again until its files change.
//!
//! Every swap, refusal, removal and rollback is logged and kept in the [`Board`]
//! that `weft status` shows, with version hashes and timings.

mod board;
mod settle;
mod tier;
mod watcher;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use weft_core::{Control, Hub, Report, Subscription, Worker, short};
use weft_runtime::{Defaults, Kind, Module, Runtime};

pub use board::{Action, Board, Change, GapStatus, ModuleState, ModuleStatus, Refusal};

use board::now;
pub use settle::SETTLE;

use crate::triggers::{self, Connector, HookRegistry};
use settle::{Look, Settle};

/// How often the folder is looked at without a wake-up from the watcher.
const RESCAN: Duration = Duration::from_secs(2);

/// How a host's modules are run.
#[derive(Clone)]
pub struct Settings {
    pub dir: PathBuf,
    pub defaults: Defaults,
    pub max_errors: usize,
    /// How long a removed module's subscription keeps collecting.
    pub keep_removed: Duration,
    /// Serve new versions from Winch first, then Cranelift (`tier`).
    pub tiered: bool,
}

enum Handle {
    Worker(mpsc::UnboundedSender<Control>),
    Ingress {
        conn: Arc<Connector>,
        stop: watch::Sender<bool>,
        tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    },
}

struct Running {
    module: Arc<Module>,
    /// While the current version is on probation: the one it replaced.
    previous: Option<Arc<Module>>,
    /// The files' look when this version was taken.
    look: Look,
    handle: Handle,
}

struct Removed {
    at: Instant,
    unsubscribed: bool,
}

pub struct Supervisor {
    hub: Hub,
    runtime: Runtime,
    settings: Settings,
    board: Board,
    hooks: HookRegistry,
    running: HashMap<String, Running>,
    removed: HashMap<String, Removed>,
    /// The folder's files as seen over time: what has settled.
    settle: Settle,
    /// Looks refused: not tried again until the files change.
    refused: HashMap<String, Look>,
    tasks: JoinSet<anyhow::Result<()>>,
    stopped: watch::Receiver<bool>,
    reports: mpsc::UnboundedReceiver<Report>,
    reports_tx: mpsc::UnboundedSender<Report>,
    /// Workers made at start, launched once every route exists.
    pending: Vec<Worker>,
    launched: bool,
    /// Winch's runtime, when tiered compilation is on.
    baseline: Option<Runtime>,
    upgrades: mpsc::UnboundedReceiver<tier::Upgrade>,
    upgrades_tx: mpsc::UnboundedSender<tier::Upgrade>,
}

impl Supervisor {
    /// Loads the folder as it is at start; the workers are created (their
    /// subscriptions collect from now on) but not started: see [`Self::launch`].
    pub async fn start(
        hub: Hub,
        runtime: Runtime,
        settings: Settings,
        stopped: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (upgrades_tx, upgrades) = mpsc::unbounded_channel();
        let baseline = if settings.tiered {
            Some(runtime.baseline()?)
        } else {
            None
        };
        let mut sup = Self {
            hub,
            runtime,
            settings,
            board: Board::default(),
            hooks: Arc::default(),
            running: HashMap::new(),
            removed: HashMap::new(),
            settle: Settle::default(),
            refused: HashMap::new(),
            tasks: JoinSet::new(),
            stopped,
            reports,
            reports_tx,
            pending: Vec::new(),
            launched: false,
            baseline,
            upgrades,
            upgrades_tx,
        };
        let scanned = settle::scan(&sup.settings.dir);
        let now = Instant::now();
        sup.settle.seen_at_start(&scanned, now);
        for (name, look) in scanned {
            sup.take(&name, look, now).await?;
        }
        Ok(sup)
    }

    pub fn board(&self) -> Board {
        self.board.clone()
    }

    pub fn hooks(&self) -> HookRegistry {
        self.hooks.clone()
    }

    pub fn loaded(&self) -> usize {
        self.running.len()
    }

    /// Starts the workers and triggers made at start.
    pub fn launch(&mut self) {
        self.launched = true;
        for worker in std::mem::take(&mut self.pending) {
            self.tasks.spawn(worker.run(self.stopped.clone()));
        }
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            if let Some(r) = self.running.get_mut(&name)
                && let Handle::Ingress { conn, stop, tasks } = &mut r.handle
                && tasks.is_empty()
            {
                *tasks = triggers::start(conn, stop.subscribe(), &self.hooks);
            }
        }
    }

    /// Watches the folder and applies its changes until shutdown. Returns an error
    /// when a worker or trigger fails for good (the store failed).
    pub async fn run(mut self) -> anyhow::Result<()> {
        let (wake_tx, mut wake) = mpsc::unbounded_channel::<()>();
        let _watcher = watcher::watch(&self.settings.dir, wake_tx);
        let mut rescan = tokio::time::interval(RESCAN);
        let mut due: Option<tokio::time::Instant> = None;
        let mut stopped = self.stopped.clone();
        loop {
            let sleep_until = due.unwrap_or_else(|| tokio::time::Instant::now() + RESCAN * 10);
            tokio::select! {
                _ = stopped.changed() => {
                    if *stopped.borrow() { break; }
                }
                Some(()) = wake.recv() => {
                    // Coalesce a burst of events; look once they calm down.
                    due = Some(tokio::time::Instant::now() + SETTLE / 3);
                }
                _ = tokio::time::sleep_until(sleep_until), if due.is_some() => {
                    due = None;
                    if self.reconcile().await? {
                        due = Some(tokio::time::Instant::now() + SETTLE / 3);
                    }
                }
                _ = rescan.tick() => {
                    if self.reconcile().await? {
                        due = Some(tokio::time::Instant::now() + SETTLE / 3);
                    }
                }
                Some(report) = self.reports.recv() => self.on_report(report),
                Some(up) = self.upgrades.recv() => self.tier_up(up).await?,
                Some(done) = self.tasks.join_next() => {
                    done.map_err(anyhow::Error::from).and_then(|r| r)?;
                }
            }
        }
        self.shutdown().await
    }

    /// Stops everything in order: workers finish their batch, triggers their call.
    async fn shutdown(&mut self) -> anyhow::Result<()> {
        let mut failure = None;
        for (_, r) in self.running.drain() {
            if let Handle::Ingress { stop, tasks, .. } = r.handle {
                let _ = stop.send(true);
                for t in tasks {
                    if let Ok(Err(e)) = t.await {
                        failure.get_or_insert(e);
                    }
                }
            }
        }
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done.map_err(anyhow::Error::from).and_then(|r| r) {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Applies what changed in the folder. Returns whether something is still
    /// settling (look again soon).
    async fn reconcile(&mut self) -> anyhow::Result<bool> {
        let scanned = settle::scan(&self.settings.dir);
        let (running, refused) = (&self.running, &self.refused);
        let plan = self.settle.plan(
            &scanned,
            Instant::now(),
            &|n| running.get(n).map(|r| r.look),
            &|n| refused.get(n).copied(),
            running.keys().cloned(),
        );
        for (name, look, settled) in plan.take {
            self.take(&name, look, settled).await?;
        }
        for name in plan.gone {
            self.remove(&name).await?;
        }
        self.expire_removed();
        Ok(plan.unsettled)
    }

    /// Loads `name` as its files are now, and adds it or swaps it in.
    async fn take(&mut self, name: &str, look: Look, settled: Instant) -> anyhow::Result<()> {
        let wasm = self.settings.dir.join(format!("{name}.wasm"));
        let runtime = self.runtime.clone();
        let baseline = self.baseline.clone();
        let defaults = self.settings.defaults.clone();
        let path = wasm.clone();
        let started = Instant::now();
        let size = std::fs::metadata(&wasm).map_or(0, |m| m.len());
        if size > 2 * 1024 * 1024 {
            // Interpreted guests take 10-40 s to compile the first time: say so.
            tracing::info!(module = %name, bytes = size, "loading a large module (compiled once, then cached)");
        }
        let loaded = tokio::task::spawn_blocking(move || {
            tier::load(&runtime, baseline.as_ref(), &path, &defaults)
        })
        .await?;
        let compile_ms = started.elapsed().as_millis() as u64;
        let (module, fallback) = match loaded {
            Ok(l) => (Arc::new(l.module), l.fallback),
            Err(reason) => {
                tracing::error!(file = %wasm.display(), %reason, "module refused");
                self.board.refuse(&wasm, &reason);
                self.refused.insert(name.to_owned(), look);
                if self.running.contains_key(name) {
                    let version = self.running[name].module.version.clone();
                    self.board.record(
                        name,
                        change(
                            Action::Refused,
                            &version,
                            None,
                            Some(reason),
                            Some(compile_ms),
                            None,
                        ),
                    );
                }
                return Ok(());
            }
        };
        self.refused.remove(name);
        self.board.clear_refusal(name, &self.settings.dir);
        let running_kind = self.running.get(name).map(|r| r.module.kind);
        if running_kind.is_some_and(|k| k != module.kind) {
            // Another kind of module under the same name: stop one, start the other.
            self.stop(name).await;
        }
        let compiler = tier::shown(&module, fallback.as_deref());
        if module.tier() == weft_runtime::Tier::Baseline {
            tier::upgrade(
                self.runtime.clone(),
                wasm,
                self.settings.defaults.clone(),
                name.to_owned(),
                module.version.clone(),
                self.upgrades_tx.clone(),
            );
        }
        if self.running.contains_key(name) {
            self.swap(name, module, look, settled, compile_ms, Action::Swapped)
                .await?;
        } else {
            self.add(name, module, look, compile_ms).await?;
        }
        self.board.with(|b| {
            if let Some(m) = b.modules.get_mut(name) {
                m.compiler = compiler;
            }
        });
        Ok(())
    }

    /// Cranelift's code for a version serving from Winch's: swapped in as the
    /// same version, unless the module changed or went meanwhile.
    async fn tier_up(&mut self, up: tier::Upgrade) -> anyhow::Result<()> {
        let Some(r) = self.running.get(&up.name) else {
            return Ok(());
        };
        if r.module.version != up.version || r.module.tier() != weft_runtime::Tier::Baseline {
            return Ok(());
        }
        let module = match up.result {
            Ok(m) if m.version == up.version => Arc::new(m),
            Ok(_) => return Ok(()),
            Err(reason) => {
                tracing::warn!(module = %up.name, %reason, "Cranelift cannot compile this module; it keeps serving from Winch");
                let shown = format!("winch (cranelift failed: {reason})");
                self.board.with(|b| {
                    if let Some(m) = b.modules.get_mut(&up.name) {
                        m.compiler = shown;
                    }
                });
                return Ok(());
            }
        };
        let look = r.look;
        let name = up.name.clone();
        self.swap(
            &name,
            module,
            look,
            Instant::now(),
            up.compile_ms,
            Action::TieredUp,
        )
        .await?;
        self.board.with(|b| {
            if let Some(m) = b.modules.get_mut(&name) {
                m.compiler = "cranelift".to_owned();
            }
        });
        Ok(())
    }

    async fn add(
        &mut self,
        name: &str,
        module: Arc<Module>,
        look: Look,
        compile_ms: u64,
    ) -> anyhow::Result<()> {
        let restored = self.removed.remove(name);
        let gap = self.hub.park(&module_queue(name), false);
        let handle = match module.kind {
            Kind::Ingress => {
                let conn = Connector::new(module.clone(), self.hub.clone());
                let (stop, stop_rx) = watch::channel(false);
                let tasks = if self.launched {
                    triggers::start(&conn, stop_rx, &self.hooks)
                } else {
                    Vec::new()
                };
                Handle::Ingress { conn, stop, tasks }
            }
            Kind::Processor | Kind::Egress => {
                let mut worker = Worker::new(
                    self.hub.clone(),
                    self.subscription(&module),
                    handlers(&module),
                )
                .await?;
                worker.report_to(self.reports_tx.clone());
                let control = worker.controller();
                if self.launched {
                    self.tasks.spawn(worker.run(self.stopped.clone()));
                } else {
                    self.pending.push(worker);
                }
                Handle::Worker(control)
            }
        };
        let m = &module.manifest;
        tracing::info!(module = %name, kind = kind_name(module.kind), version = %short(&module.version), subscribe = ?patterns(&m.subscribe), triggers = ?m.ingress, compile_ms, "module loaded");
        let action = if restored.is_some() {
            Action::Restored
        } else {
            Action::Loaded
        };
        let gap = gap.map(|g| gap_status(&g, restored.as_ref()));
        let entry = ModuleStatus {
            name: name.to_owned(),
            kind: kind_name(module.kind),
            state: ModuleState::Running,
            version: module.version.clone(),
            subscribe: patterns(&m.subscribe),
            publish: patterns(&m.publish),
            compiler: tier::shown(&module, None),
            history: Vec::new(),
            gap: gap.filter(|g| g.events > 0 || g.not_collecting_since.is_some()),
        };
        let version = module.version.clone();
        self.board.with(|b| {
            let history = b
                .modules
                .remove(name)
                .map(|m| m.history)
                .unwrap_or_default();
            b.modules
                .insert(name.to_owned(), ModuleStatus { history, ..entry });
        });
        self.board.record(
            name,
            change(action, &version, None, None, Some(compile_ms), None),
        );
        self.running.insert(
            name.to_owned(),
            Running {
                module,
                previous: None,
                look,
                handle,
            },
        );
        Ok(())
    }

    async fn swap(
        &mut self,
        name: &str,
        module: Arc<Module>,
        look: Look,
        settled: Instant,
        compile_ms: u64,
        action: Action,
    ) -> anyhow::Result<()> {
        let Some(mut r) = self.running.remove(name) else {
            return Ok(());
        };
        let from = r.module.version.clone();
        let same_code = from == module.version;
        match &mut r.handle {
            Handle::Worker(control) => {
                let sub = self.subscription(&module);
                if sub.subscribe != self.subscription(&r.module).subscribe
                    || sub.quota != r.module.manifest.quota
                {
                    self.hub
                        .subscribe(&module_queue(name), sub.subscribe.clone(), sub.quota)
                        .await?;
                }
                let _ = control.send(Control::Swap {
                    sub: Box::new(sub),
                    handlers: handlers(&module),
                    probation: !same_code,
                });
                r.previous = (!same_code).then(|| r.module.clone());
            }
            Handle::Ingress { conn, stop, tasks } => {
                // The old triggers finish their call first: two instances must
                // never read the same cursor at once.
                let _ = stop.send(true);
                for t in tasks.drain(..) {
                    t.await??;
                }
                let next = Connector::new(module.clone(), self.hub.clone());
                let (next_stop, stop_rx) = watch::channel(false);
                triggers::unroute(&self.hooks, name);
                *tasks = triggers::start(&next, stop_rx, &self.hooks);
                *conn = next;
                *stop = next_stop;
            }
        }
        let swap_ms = settled.elapsed().as_millis() as u64;
        tracing::info!(module = %name, from = %short(&from), to = %short(&module.version), compiler = %module.tier(), compile_ms, swap_ms, "module swapped");
        let state = if r.previous.is_some() {
            ModuleState::Probation
        } else {
            ModuleState::Running
        };
        let m = &module.manifest;
        let (version, subscribe, publish) = (
            module.version.clone(),
            patterns(&m.subscribe),
            patterns(&m.publish),
        );
        self.board.with(|b| {
            if let Some(s) = b.modules.get_mut(name) {
                s.version = version.clone();
                s.state = state;
                s.subscribe = subscribe;
                s.publish = publish;
            }
        });
        self.board.record(
            name,
            change(
                action,
                &module.version,
                Some(from),
                None,
                Some(compile_ms),
                Some(swap_ms),
            ),
        );
        r.module = module;
        r.look = look;
        self.running.insert(name.to_owned(), r);
        Ok(())
    }

    /// Stops a module whose files are gone; its subscription keeps collecting.
    async fn remove(&mut self, name: &str) -> anyhow::Result<()> {
        let Some(version) = self.running.get(name).map(|r| r.module.version.clone()) else {
            return Ok(());
        };
        self.stop(name).await;
        self.hub.park(&module_queue(name), true);
        self.removed.insert(
            name.to_owned(),
            Removed {
                at: Instant::now(),
                unsubscribed: false,
            },
        );
        tracing::warn!(module = %name, version = %short(&version), keep = ?self.settings.keep_removed, "module removed; its subscription keeps collecting");
        self.board.with(|b| {
            if let Some(m) = b.modules.get_mut(name) {
                m.state = ModuleState::Removed;
            }
        });
        self.board.record(
            name,
            change(
                Action::Removed,
                &version,
                None,
                Some(format!(
                    "its subscription keeps collecting for {}",
                    humantime::format_duration(self.settings.keep_removed)
                )),
                None,
                None,
            ),
        );
        Ok(())
    }

    async fn stop(&mut self, name: &str) {
        let Some(r) = self.running.remove(name) else {
            return;
        };
        match r.handle {
            Handle::Worker(control) => {
                let _ = control.send(Control::Stop);
            }
            Handle::Ingress { stop, tasks, .. } => {
                triggers::unroute(&self.hooks, name);
                let _ = stop.send(true);
                for t in tasks {
                    if let Ok(Err(e)) = t.await {
                        tracing::error!(module = %name, error = %e, "trigger ended with an error");
                    }
                }
            }
        }
    }

    /// Stops collecting for modules removed longer than `keep_removed`.
    fn expire_removed(&mut self) {
        for (name, removed) in &mut self.removed {
            if removed.unsubscribed || removed.at.elapsed() < self.settings.keep_removed {
                continue;
            }
            removed.unsubscribed = true;
            self.hub.unsubscribe(&module_queue(name));
            tracing::warn!(module = %name, "removed module's subscription stopped collecting");
            let since = now();
            self.board.with(|b| {
                if let Some(m) = b.modules.get_mut(name) {
                    let gap = m.gap.get_or_insert(GapStatus {
                        events: 0,
                        first: None,
                        last: None,
                        not_collecting_since: None,
                    });
                    gap.not_collecting_since = Some(since);
                }
            });
            let version = self
                .board
                .modules()
                .into_iter()
                .find(|m| m.name == *name)
                .map(|m| m.version)
                .unwrap_or_default();
            self.board.record(
                name,
                change(Action::StoppedCollecting, &version, None, None, None, None),
            );
        }
    }

    fn on_report(&mut self, report: Report) {
        match report {
            Report::RolledBack {
                module,
                from,
                to,
                reason,
            } => {
                if let Some(r) = self.running.get_mut(&module)
                    && let Some(previous) = r.previous.take()
                {
                    // Not tried again until the files change.
                    self.refused.insert(module.clone(), r.look);
                    r.module = previous;
                }
                self.board.with(|b| {
                    if let Some(m) = b.modules.get_mut(&module) {
                        m.version = to.clone();
                        m.state = ModuleState::Running;
                    }
                });
                let file = self.settings.dir.join(format!("{module}.wasm"));
                self.board.refuse(
                    &file,
                    &format!("version {} rolled back: {reason}", short(&from)),
                );
                self.board.record(
                    &module,
                    change(
                        Action::RolledBack,
                        &to,
                        Some(from),
                        Some(reason),
                        None,
                        None,
                    ),
                );
            }
            Report::Proven { module, version } => {
                if let Some(r) = self.running.get_mut(&module) {
                    r.previous = None;
                }
                self.board.with(|b| {
                    if let Some(m) = b.modules.get_mut(&module) {
                        m.state = ModuleState::Running;
                    }
                });
                self.board.record(
                    &module,
                    change(Action::Proven, &version, None, None, None, None),
                );
            }
        }
    }

    fn subscription(&self, module: &Module) -> Subscription {
        let m = &module.manifest;
        Subscription {
            name: module.name.clone(),
            subscribe: m.subscribe.clone(),
            publish: m.publish.clone(),
            batch_max: m.batch_max,
            retry: m.retry,
            quota: m.quota,
            max_errors: self.settings.max_errors,
            key: m.key.clone(),
            check: (m.schemas.enforce && !m.schemas.is_empty())
                .then(|| Arc::new(m.schemas.clone()) as Arc<dyn weft_core::OutputCheck>),
        }
    }
}

fn handlers(module: &Arc<Module>) -> Vec<Box<dyn weft_core::Handler>> {
    (0..module.manifest.workers)
        .map(|_| module.handler())
        .collect()
}

fn change(
    action: Action,
    version: &str,
    from: Option<String>,
    detail: Option<String>,
    compile_ms: Option<u64>,
    swap_ms: Option<u64>,
) -> Change {
    Change {
        at: now(),
        action,
        version: version.to_owned(),
        from,
        detail,
        compile_ms,
        swap_ms,
    }
}

fn gap_status(gap: &weft_core::route::Gap, removed: Option<&Removed>) -> GapStatus {
    use std::sync::atomic::Ordering;
    let time = |ms: u64| {
        (ms > 0)
            .then(|| chrono::DateTime::from_timestamp_millis(ms as i64))
            .flatten()
            .map(|t| t.to_rfc3339())
    };
    GapStatus {
        events: gap.events.load(Ordering::Relaxed),
        first: time(gap.first_ms.load(Ordering::Relaxed)),
        last: time(gap.last_ms.load(Ordering::Relaxed)),
        not_collecting_since: removed
            .filter(|r| r.unsubscribed)
            .map(|_| "while removed".to_owned()),
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Processor => "processor",
        Kind::Ingress => "ingress",
        Kind::Egress => "egress",
    }
}

fn patterns(p: &weft_core::Patterns) -> Vec<String> {
    p.iter().map(|p| p.to_string()).collect()
}

/// The queue of module `name`. Names reach the supervisor from the runtime, which
/// takes only valid ones, so the fallback (the queue a module's name makes
/// anyway) is never used in practice.
fn module_queue(name: &str) -> String {
    weft_core::Name::parse(name)
        .map(|n| weft_core::name::queue_of_module(&n))
        .unwrap_or_else(|_| name.to_owned())
}
