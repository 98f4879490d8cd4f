//! `weft`: the command line. `weft run` runs a host (the `weft-server` crate);
//! the other commands talk to a running host over its HTTP API (`client`), or
//! work offline on a module file (`check`, `test`, `new`) or a stopped host's store
//! (`store compact`).
//!
//! | module | what |
//! |---|---|
//! | `commands/` | one file per command: its arguments and what it does |
//! | `client` | the HTTP API client the remote commands share (host, token, refusals) |
//! | `offline` | what `check` and `test` share: a runtime without a host, progress |
//! | `logging` | the log filter: `RUST_LOG`, with the compiler's targets kept quiet |

mod client;
mod commands;
mod logging;
mod offline;

use clap::{CommandFactory as _, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "An edge host for event-driven integration",
    after_help = "Example:\n  weft run --modules modules &
  weft publish orders/created '{\"id\":1}'"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a host: load the modules folder, accept events over HTTP, deliver them.
    Run(commands::run::Args),
    /// Publish one event to a running host, or JSON lines from a file or stdin.
    Publish(commands::publish::Args),
    /// Send one request to a running host and print the reply a module answers with.
    Request(commands::request::Args),
    /// Watch events on topics matching PATTERN live, without consuming them.
    Tap(commands::tap::Args),
    /// Show a running host's modules, subscriptions, queue depths and refused files.
    Status(commands::status::Args),
    /// The repair station: list, show, replay and purge error records.
    Errors(commands::errors::Args),
    /// Check that FILE.wasm is a valid weft module; show its world and imports.
    Check(commands::check::Args),
    /// Start a new module project from a template that builds and passes
    /// `weft check` as it is.
    New(commands::new::Args),
    /// The author loop: build, check and swap a module project into a host on
    /// every save, with a live tap of its topics.
    Dev(commands::dev::Args),
    /// Run FILE.wasm on sample events offline and print what it emits.
    Test(commands::test::Args),
    /// Make an API token: print it once, write only its digest and grants.
    Token(commands::token::Args),
    /// Work on a stopped host's store: `weft store compact`.
    Store(commands::store::Args),
    /// Print shell completions for bash, zsh or fish.
    Completions(commands::completions::Args),
    /// Print the man page (or write one per command into --dir).
    Man(commands::completions::ManArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(logging::filter(std::env::var("RUST_LOG").ok().as_deref()))
        .with_writer(std::io::stderr)
        .init();
    let result = match Cli::parse().command {
        Command::Run(a) => commands::run::run(a).await,
        Command::Publish(a) => commands::publish::run(a).await,
        Command::Request(a) => commands::request::run(a).await,
        Command::Tap(a) => commands::tap::run(a).await,
        Command::Status(a) => commands::status::run(a).await,
        Command::Errors(a) => commands::errors::run(a).await,
        Command::Check(a) => commands::check::run(a).await,
        Command::New(a) => commands::new::run(a),
        Command::Dev(a) => commands::dev::run(a).await,
        Command::Test(a) => commands::test::run(a).await,
        Command::Store(a) => commands::store::run(a),
        Command::Token(a) => commands::token::run(a),
        Command::Completions(a) => commands::completions::run(a, Cli::command()),
        Command::Man(a) => commands::completions::man(a, Cli::command()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weft: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
