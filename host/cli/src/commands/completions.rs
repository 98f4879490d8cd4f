//! `weft completions bash|zsh|fish` and `weft man [--dir DIR]`: generated from the
//! parser's own definitions (clap_complete, clap_mangen), so they never drift
//! from what `weft` accepts. The caller passes the command tree in (this module
//! does not reach back to the crate root).

use std::path::PathBuf;

use anyhow::Context as _;
use clap_complete::Shell;

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft completions bash > ~/.local/share/bash-completion/completions/weft
  weft completions zsh > ~/.zfunc/_weft
  weft completions fish > ~/.config/fish/completions/weft.fish")]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: CompletionShell,
}

/// The shells `weft completions` writes for.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(a: Args, mut command: clap::Command) -> anyhow::Result<()> {
    let shell = match a.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // Rendered whole first: the generator panics on a write error, and a pipe
    // closed early (`| head`) is not one worth a panic.
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut command, "weft", &mut text);
    print(&text)
}

/// Writes to standard output; a reader that went away early is not an error.
fn print(text: &[u8]) -> anyhow::Result<()> {
    match std::io::Write::write_all(&mut std::io::stdout(), text) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft man | man -l -
  weft man --dir ~/.local/share/man/man1")]
pub struct ManArgs {
    /// Write weft.1 and one page per command (weft-publish.1, ...) into DIR
    /// instead of printing weft.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

pub fn man(a: ManArgs, command: clap::Command) -> anyhow::Result<()> {
    match a.dir {
        None => {
            let mut text = Vec::new();
            clap_mangen::Man::new(command).render(&mut text)?;
            print(&text)
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, &dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            eprintln!("weft man: pages written to {}", dir.display());
            Ok(())
        }
    }
}
