//! `weft run`: a host on this machine, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use weft_server::{HostConfig, Paths};

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  weft run --modules modules --data data --listen 127.0.0.1:8080"
)]
pub struct Args {
    /// Folder of NAME.wasm + NAME.toml modules.
    #[arg(long, env = "WEFT_MODULES", default_value = "modules")]
    modules: PathBuf,
    /// Folder for the store and the compile cache.
    #[arg(long, env = "WEFT_DATA", default_value = "data")]
    data: PathBuf,
    /// Address of the HTTP API (ingest, tap, status).
    #[arg(long, env = "WEFT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Host config file (TOML).
    #[arg(long, env = "WEFT_CONFIG")]
    config: Option<PathBuf>,
    /// Compile cache folder (default: DATA/cache); may be shared between hosts.
    #[arg(long, env = "WEFT_CACHE")]
    cache: Option<PathBuf>,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let config = HostConfig::load(a.config.as_deref())?.with_paths(Paths {
        modules: a.modules,
        data: a.data,
        cache: a.cache,
    });
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another weft running there?",
                a.listen
            )
        })?;
    weft_server::run(config, listener, shutdown_signal()).await
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
