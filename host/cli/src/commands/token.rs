//! `weft token new NAME`: a token no file holds. The token is 32 bytes from
//! the OS's random source, shown once; what the host config gets is its
//! SHA-256 and the grants (`[tokens.NAME] digest = "sha256:..."`), so a leaked
//! config or backup grants nothing.
//!
//! Without `--config` the table goes to standard output and the token to
//! standard error (so `weft token new ci ... >> weft.toml` works); with
//! `--config FILE` the table is appended to FILE and the token is the only
//! thing on standard output (`TOKEN=$(weft token new ci ... --config weft.toml)`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};

#[derive(clap::Args)]
#[command(after_help = "Examples:
  weft token new ci --publish 'orders/>' --tap 'orders/>' --expires 90d >> weft.toml
  TOKEN=$(weft token new ops --admin --tap '>' --config weft.toml)")]
pub struct Args {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// A new token NAME: printed once; its digest and grants written as TOML.
    New(NewArgs),
}

#[derive(clap::Args)]
struct NewArgs {
    /// The client's name: it shows in logs and refusals, the token never does.
    name: String,
    /// Topic patterns it may publish to (repeatable).
    #[arg(long, value_name = "PATTERN")]
    publish: Vec<String>,
    /// Patterns it may tap, and subscriptions they cover (repeatable).
    #[arg(long, value_name = "PATTERN")]
    tap: Vec<String>,
    /// Status, error records and repair, subscriptions.
    #[arg(long)]
    admin: bool,
    /// When it stops working: an RFC 3339 time (2027-01-31T00:00:00Z) or a
    /// duration from now (90d, 12h).
    #[arg(long, value_name = "WHEN")]
    expires: Option<String>,
    /// Append the table to this host config instead of printing it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let TokenCommand::New(a) = a.command;
    let table = table(&a, chrono::Utc::now())?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot read the OS's random source: {e}"))?;
    let token = format!("weft_{}", hex::encode(bytes));
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    let text = format!("{}digest = \"sha256:{digest}\"\n", table);
    match &a.config {
        None => {
            print!("{text}");
            eprintln!(
                "token for `{}` (shown once; the config keeps only its digest):\n{token}",
                a.name
            );
        }
        Some(path) => {
            append(path, &a.name, &text)?;
            eprintln!(
                "[tokens.{}] appended to {} (its digest only); the token, shown once:",
                a.name,
                path.display()
            );
            println!("{token}");
        }
    }
    Ok(())
}

/// The table without its digest, the arguments checked as the host would.
fn table(a: &NewArgs, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<String> {
    weft_core::Name::parse(&a.name).map_err(|e| {
        anyhow::anyhow!(
            "`{}` cannot name a token: a token name is {} ({})",
            a.name,
            weft_core::name::NAME_RULE,
            e.problem
        )
    })?;
    weft_core::Patterns::parse(&a.publish).context("--publish")?;
    weft_core::Patterns::parse(&a.tap).context("--tap")?;
    if a.publish.is_empty() && a.tap.is_empty() && !a.admin {
        anyhow::bail!("the token would grant nothing: give --publish, --tap or --admin");
    }
    let list = |v: &[String]| {
        let quoted: Vec<String> = v
            .iter()
            .map(|p| toml::Value::from(p.as_str()).to_string())
            .collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut t = format!("\n[tokens.{}]\n", a.name);
    if !a.publish.is_empty() {
        t.push_str(&format!("publish = {}\n", list(&a.publish)));
    }
    if !a.tap.is_empty() {
        t.push_str(&format!("tap = {}\n", list(&a.tap)));
    }
    if a.admin {
        t.push_str("admin = true\n");
    }
    if let Some(when) = &a.expires {
        t.push_str(&format!(
            "expires = \"{}\"\n",
            expiry(when, now)?.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    Ok(t)
}

fn expiry(
    when: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(when) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let d = weft_core::units::parse_duration(when).map_err(|_| {
        anyhow::anyhow!(
            "--expires {when:?}: an RFC 3339 time (2027-01-31T00:00:00Z) or a duration (90d, 12h)"
        )
    })?;
    Ok(now + chrono::Duration::from_std(d).context("--expires is too far away")?)
}

/// Appends `text` to the config at `path`, refusing a file that does not
/// parse or already has `[tokens.NAME]` (nothing is written then).
fn append(path: &std::path::Path, name: &str, text: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let parsed: toml::Table = toml::from_str(&existing)
        .with_context(|| format!("{} is not valid TOML: nothing written", path.display()))?;
    if parsed.get("tokens").and_then(|t| t.get(name)).is_some() {
        anyhow::bail!(
            "{} already has [tokens.{name}]: nothing written; remove it first or pick another name",
            path.display()
        );
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} to append", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot append to {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn expiry_takes_a_time_or_a_duration_and_words_a_bad_one() {
        let now = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            expiry("1d", now).unwrap().to_rfc3339(),
            "2027-01-02T00:00:00+00:00"
        );
        assert_eq!(
            expiry("2028-05-01T10:00:00+02:00", now)
                .unwrap()
                .to_rfc3339(),
            "2028-05-01T08:00:00+00:00"
        );
        let e = expiry("soon", now).unwrap_err().to_string();
        assert!(e.contains("RFC 3339"), "{e}");
    }
}
