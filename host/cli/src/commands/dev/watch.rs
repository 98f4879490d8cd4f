//! Saved changes to a project's sources, settled: editors write a file in
//! several steps (a temporary file, a rename, a second write), so a change is
//! reported once the project has been quiet for [`QUIET`].

use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::Watcher as _;
use tokio::sync::mpsc;

use super::project::Project;

/// How long the sources must be quiet before a rebuild starts.
pub const QUIET: Duration = Duration::from_millis(50);

pub struct Changes {
    rx: mpsc::UnboundedReceiver<Instant>,
    _watcher: notify::RecommendedWatcher,
}

impl Changes {
    pub fn start(project: &Project) -> anyhow::Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let dir = project.dir.clone();
        let filter = Project::find(&dir)?;
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if let Ok(e) = e
                && !e.kind.is_access()
                && e.paths.iter().any(|p| filter.is_source(p))
            {
                let _ = tx.send(Instant::now());
            }
        })
        .context("cannot watch the project folder")?;
        watcher
            .watch(&dir, notify::RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        Ok(Self {
            rx,
            _watcher: watcher,
        })
    }

    /// Waits for a change and for the sources to settle; the time of the first
    /// change (when the author saved).
    pub async fn next(&mut self) -> anyhow::Result<Instant> {
        let first = self.rx.recv().await.context("the folder watcher stopped")?;
        loop {
            match tokio::time::timeout(QUIET, self.rx.recv()).await {
                Ok(Some(_)) => continue,
                Ok(None) => anyhow::bail!("the folder watcher stopped"),
                Err(_) => return Ok(first),
            }
        }
    }
}
