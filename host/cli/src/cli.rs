//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::client;
use crate::config::HostConfig;
use crate::host::Paths;

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "An edge host for event-driven integration"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a host: load the modules folder, accept events over HTTP, deliver them.
    Run {
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
    },
    /// Publish one event (CloudEvents binary mode) to a running host.
    Publish {
        topic: String,
        /// The event data; `-` reads standard input.
        data: Option<String>,
        #[arg(long = "type", default_value = "weft.cli.published")]
        ty: String,
        #[arg(long, default_value = "/weft/cli")]
        source: String,
        /// Event id (default: a new UUIDv7).
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value = "application/json")]
        content_type: String,
        #[arg(long, env = "WEFT_HOST", default_value = "http://127.0.0.1:8080")]
        host: String,
        /// API token, sent as `Authorization: Bearer TOKEN`.
        #[arg(long, env = "WEFT_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Watch events on topics matching PATTERN live, without consuming them.
    Tap {
        #[arg(default_value = ">")]
        pattern: String,
        /// Exit after this many events.
        #[arg(long)]
        count: Option<usize>,
        #[arg(long, env = "WEFT_HOST", default_value = "http://127.0.0.1:8080")]
        host: String,
        /// API token, sent as `Authorization: Bearer TOKEN`.
        #[arg(long, env = "WEFT_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Show a running host's modules, subscriptions, queue depths and refused files.
    Status {
        #[arg(long, env = "WEFT_HOST", default_value = "http://127.0.0.1:8080")]
        host: String,
        /// API token, sent as `Authorization: Bearer TOKEN`.
        #[arg(long, env = "WEFT_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// The repair station: list, show, replay and purge error records.
    Errors {
        #[command(subcommand)]
        command: crate::errors_cmd::ErrorsCommand,
        #[arg(
            long,
            env = "WEFT_HOST",
            default_value = "http://127.0.0.1:8080",
            global = true
        )]
        host: String,
        /// API token, sent as `Authorization: Bearer TOKEN`.
        #[arg(long, env = "WEFT_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
    },
    /// Check that FILE.wasm is a valid weft module; show its world and imports.
    Check { file: PathBuf },
    /// Start a new module project (Rust, built for wasm32-wasip2) from a template
    /// that builds and passes `weft check` as it is.
    New {
        kind: NewKind,
        /// The module name (also the crate name): lowercase letters, digits, `-`.
        name: String,
        /// Where to create the project folder NAME.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The guest language; Python and JavaScript have processor templates.
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
    },
    /// Run FILE.wasm on sample events offline and print what it emits.
    Test {
        file: PathBuf,
        /// CloudEvents in structured JSON, one per line (each may carry a `topic`).
        #[arg(long)]
        input: PathBuf,
        /// The manifest (default: FILE.toml).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Topic for input lines without one.
        #[arg(long)]
        topic: Option<String>,
    },
}

/// The languages `weft new` has templates for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

/// The kinds of module `weft new` starts, one per world of the WIT contract.
#[derive(Clone, Copy, clap::ValueEnum)]
enum NewKind {
    Processor,
    Ingress,
    Egress,
}

impl Cli {
    pub async fn execute(self) -> anyhow::Result<()> {
        match self.command {
            Command::New {
                kind,
                name,
                dir,
                lang,
            } => {
                use crate::scaffold::Kind;
                let kind = match (lang, kind) {
                    (Lang::Rust, NewKind::Processor) => Kind::Processor,
                    (Lang::Rust, NewKind::Ingress) => Kind::Ingress,
                    (Lang::Rust, NewKind::Egress) => Kind::Egress,
                    (Lang::Python, NewKind::Processor) => Kind::PythonProcessor,
                    (Lang::Js, NewKind::Processor) => Kind::JsProcessor,
                    (_, _) => anyhow::bail!(
                        "Python and JavaScript templates exist for processors only; \
                         start a connector in Rust (--lang rust), or see guests/js/http-post \
                         for a JavaScript egress connector"
                    ),
                };
                let project = crate::scaffold::scaffold(kind, &name, &dir)?;
                println!("created {}", project.display());
                match lang {
                    Lang::Rust => {
                        println!(
                            "  build:  cd {} && cargo build --release --target wasm32-wasip2",
                            project.display()
                        );
                        println!(
                            "  check:  weft check target/wasm32-wasip2/release/{}.wasm",
                            name.replace('-', "_")
                        );
                    }
                    Lang::Python | Lang::Js => {
                        println!("  build:  cd {} && ./build.sh", project.display());
                        println!("  check:  weft check {name}.wasm");
                    }
                }
                println!("  deploy: copy {name}.wasm and {name}.toml into the modules folder");
                Ok(())
            }
            Command::Run {
                modules,
                data,
                listen,
                config,
                cache,
            } => {
                let config = HostConfig::load(config.as_deref())?;
                crate::auth::check_listen(listen, &config.tokens)?;
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| {
                        format!("cannot listen on {listen}: is another weft running there?")
                    })?;
                let paths = Paths {
                    modules,
                    data,
                    cache,
                };
                crate::host::run(paths, config, listener, shutdown_signal()).await
            }
            Command::Publish {
                topic,
                data,
                ty,
                source,
                id,
                subject,
                content_type,
                host,
                token,
            } => {
                let data = match data.as_deref() {
                    Some("-") => {
                        let mut buf = Vec::new();
                        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
                        buf
                    }
                    Some(d) => d.as_bytes().to_vec(),
                    None => Vec::new(),
                };
                let answer = client::publish(client::Publish {
                    host,
                    topic,
                    data,
                    ty,
                    source,
                    id,
                    subject,
                    content_type,
                    token,
                })
                .await?;
                println!("{answer}");
                Ok(())
            }
            Command::Tap {
                pattern,
                count,
                host,
                token,
            } => client::tap(&host, token.as_deref(), &pattern, count).await,
            Command::Status { host, json, token } => {
                client::status(&host, token.as_deref(), json).await
            }
            Command::Errors {
                command,
                host,
                token,
            } => crate::errors_cmd::run(command, &host, token.as_deref()).await,
            Command::Check { file } => {
                tokio::task::spawn_blocking(move || crate::offline::check(&file)).await?
            }
            Command::Test {
                file,
                input,
                manifest,
                topic,
            } => {
                tokio::task::spawn_blocking(move || {
                    crate::offline::test(&file, &input, manifest.as_deref(), topic.as_deref())
                })
                .await?
            }
        }
    }
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
