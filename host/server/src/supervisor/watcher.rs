//! Wakes the supervisor on any change in the modules folder.

use std::path::Path;

use tokio::sync::mpsc;

/// Watches `dir` (inotify through `notify`). Without a watcher (inotify limits,
/// an unsupported filesystem) the supervisor's periodic rescan still finds
/// changes, so a failure here is a warning, not an error.
pub fn watch(dir: &Path, wake: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut watcher = match notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = wake.send(());
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the modules folder; rescanning every 2s instead");
            return None;
        }
    };
    if let Err(e) = watcher.watch(dir, notify::RecursiveMode::NonRecursive) {
        tracing::warn!(folder = %dir.display(), error = %e, "cannot watch the modules folder; rescanning every 2s instead");
        return None;
    }
    Some(watcher)
}
