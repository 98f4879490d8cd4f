//! `weft errors`: the repair station from the command line, over the host's API.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::{Map, Value};

use crate::client::Remote;

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  weft errors list --module enrich && weft errors replay --module enrich --all"
)]
pub struct Args {
    #[command(subcommand)]
    command: ErrorsCommand,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Subcommand)]
pub enum ErrorsCommand {
    /// List error records (by default those not replayed yet).
    #[command(
        after_help = "Example:\n  weft errors list --module enrich --since 2026-01-01T00:00:00Z"
    )]
    List {
        #[command(flatten)]
        select: Select,
        /// failed, replayed or any.
        #[arg(long, default_value = "failed")]
        status: String,
    },
    /// Show one record with its whole history.
    #[command(after_help = "Example:\n  weft errors show enrich 42")]
    Show { module: String, seq: u64 },
    /// Put events back: into the failing module's queue, or onto their topic.
    #[command(
        after_help = "Example:\n  weft errors replay --module enrich --seq 42 --set type=order.fixed"
    )]
    Replay {
        #[command(flatten)]
        select: Select,
        /// Replay every failed record.
        #[arg(long)]
        all: bool,
        /// Where to: `module` (only that module sees it again) or `topic`.
        #[arg(long, default_value = "module")]
        to: String,
        /// Replace the data (JSON, or any text).
        #[arg(long)]
        data: Option<String>,
        /// Set an attribute (type, subject, topic, datacontenttype, or an extension): NAME=VALUE.
        #[arg(long = "set", value_name = "NAME=VALUE")]
        set: Vec<String>,
    },
    /// Delete records for good.
    #[command(after_help = "Example:\n  weft errors purge --module enrich --reason timeout --yes")]
    Purge {
        #[command(flatten)]
        select: Select,
        #[arg(long)]
        all: bool,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(clap::Args)]
pub struct Select {
    #[arg(long)]
    module: Option<String>,
    #[arg(long)]
    seq: Option<u64>,
    /// Original topic pattern.
    #[arg(long)]
    topic: Option<String>,
    /// Text the reason contains.
    #[arg(long)]
    reason: Option<String>,
    /// Last failure at or after (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Last failure before (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl Select {
    fn json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("module", self.module.clone().map(Value::from));
        put("seq", self.seq.map(Value::from));
        put("topic", self.topic.clone().map(Value::from));
        put("reason", self.reason.clone().map(Value::from));
        put("since", self.since.clone().map(Value::from));
        put("until", self.until.clone().map(Value::from));
        m
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let remote = &a.remote;
    let http = remote.client()?;
    let base = remote.host.trim_end_matches('/');
    match a.command {
        ErrorsCommand::List { select, status } => {
            let mut query: Vec<(String, String)> = select
                .json()
                .into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect();
            query.push(("status".into(), status));
            let v = remote
                .send(http.get(format!("{base}/v1/errors")).query(&query))
                .await?;
            print_table(
                v["errors"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
        }
        ErrorsCommand::Show { module, seq } => {
            let v = remote
                .send(http.get(format!("{base}/v1/errors/{module}/{seq}")))
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ErrorsCommand::Replay {
            select,
            all,
            to,
            data,
            set,
        } => {
            let mut body = select.json();
            body.insert("all".into(), all.into());
            body.insert("to".into(), to.into());
            if let Some(d) = data {
                body.insert(
                    "data".into(),
                    serde_json::from_str(&d).unwrap_or(Value::String(d)),
                );
            }
            let mut attrs = Map::new();
            for s in set {
                let (k, v) = s
                    .split_once('=')
                    .with_context(|| format!("--set {s}: write NAME=VALUE"))?;
                attrs.insert(k.into(), v.into());
            }
            body.insert("set".into(), attrs.into());
            let v = remote
                .send(http.post(format!("{base}/v1/errors/replay")).json(&body))
                .await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ErrorsCommand::Purge { select, all, yes } => {
            let mut body = select.json();
            body.insert("all".into(), all.into());
            if !yes {
                let mut q: Vec<(String, String)> = body
                    .iter()
                    .filter(|(k, _)| *k != "all")
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_owned)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect();
                q.push(("status".into(), "any".into()));
                let found = remote
                    .send(http.get(format!("{base}/v1/errors")).query(&q))
                    .await?;
                let n = found["errors"].as_array().map(Vec::len).unwrap_or(0);
                if !std::io::stdin().is_terminal() {
                    anyhow::bail!("this would purge {n} records for good: run it again with --yes");
                }
                print!("purge {n} records for good? [y/N] ");
                std::io::stdout().flush()?;
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if !answer.trim().eq_ignore_ascii_case("y") {
                    anyhow::bail!("nothing purged");
                }
            }
            body.insert("confirm".into(), true.into());
            let v = remote
                .send(http.post(format!("{base}/v1/errors/purge")).json(&body))
                .await?;
            println!("purged {}", v["purged"]);
        }
    }
    Ok(())
}

fn print_table(rows: &[Value]) {
    println!(
        "{:<20} {:>6} {:<9} {:>8}  {:<25} {:<24} REASON",
        "MODULE", "SEQ", "STATUS", "ATTEMPTS", "LAST FAILURE", "TOPIC"
    );
    for r in rows {
        let rec = &r["record"];
        let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
        let mut last = s(&rec["last_failure"]);
        last.truncate(25);
        println!(
            "{:<20} {:>6} {:<9} {:>8}  {:<25} {:<24} {}",
            s(&r["module"]),
            r["seq"].as_u64().unwrap_or(0),
            s(&rec["status"]),
            rec["attempts"].as_u64().unwrap_or(0),
            last,
            s(&rec["topic"]),
            s(&rec["reason"]).replace('\n', " ")
        );
    }
}
