//! `weft store compact`: gives the space a drained backlog left in the store's file
//! back to the filesystem, on a stopped host (see `weft_store::compact`).

use std::path::PathBuf;

use weft_server::{HostConfig, Paths};

#[derive(clap::Args)]
#[command(after_help = "Example:\n  weft store compact --data data")]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Shrink the store's file to what it holds (redb); stop the host first.
    #[command(after_help = "Example:\n  weft store compact --data data")]
    Compact {
        /// The host's data folder.
        #[arg(long, env = "WEFT_DATA", default_value = "data")]
        data: PathBuf,
        /// Host config file (TOML), for `[store] engine`.
        #[arg(long, env = "WEFT_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub fn run(a: Args) -> anyhow::Result<()> {
    match a.command {
        Command::Compact { data, config } => {
            let config = HostConfig::load(config.as_deref())?.with_paths(Paths {
                modules: PathBuf::from("modules"),
                data,
                cache: None,
            });
            let (before, after) = weft_store::compact(&config.store)?;
            println!(
                "compacted {}: {before} -> {after} bytes",
                config.store.engine_path().display()
            );
            Ok(())
        }
    }
}
