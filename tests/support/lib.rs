//! Support for weft's end-to-end tests: builds the guests once per test run, starts
//! real `weft` processes on free loopback ports with their own folders, and talks
//! to them over real HTTP.
//!
//! The guests are built with `cargo build --target wasm32-wasip2` into their own
//! target directory (next to the host's), never by a build script. All hosts of a
//! run share one compile cache, so each guest is compiled once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub mod nats;
pub mod tls;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The target directory of this test run (`.../target`), found from the test binary.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // .../target/<profile>/deps/e2e-HASH
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap()
        .to_owned()
}

/// Builds every guest in `guests/` once per run; returns the folder of `.wasm` files.
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = target_dir().join("guests");
        let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .current_dir(repo_root().join("guests"))
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .stdout(Stdio::null())
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the guests failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        target.join("wasm32-wasip2").join("release")
    })
}

/// A built guest component, by crate name (`json-transform`).
pub fn guest(name: &str) -> PathBuf {
    guests().join(format!("{}.wasm", name.replace('-', "_")))
}

/// A Python guest, `guests/python/NAME/NAME.wasm` (its manifest is `NAME.toml`
/// beside it). `guests/python/build.sh` runs once per test run; it installs the
/// pinned componentize-py if missing and skips guests whose sources did not change.
pub fn python_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| run_build_script("python"));
    built_guest("python", name)
}

/// A JavaScript guest, `guests/js/NAME/NAME.wasm` (its manifest is `NAME.toml`
/// beside it). `guests/js/build.sh` runs once per test run; it runs `npm ci` for the
/// pinned componentize-js if needed and skips guests whose sources did not change.
pub fn js_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| run_build_script("js"));
    built_guest("js", name)
}

/// Runs `guests/LANG/build.sh`; a failure panics with the command and its stderr.
fn run_build_script(lang: &str) {
    let script = repo_root().join("guests").join(lang).join("build.sh");
    let command = format!("bash {}", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{command}`: {e}"));
    assert!(
        out.status.success(),
        "building the {lang} guests failed: `{command}` exited with {} \
         (`scripts/setup.sh` installs what it needs); its stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn built_guest(lang: &str, name: &str) -> PathBuf {
    let path = repo_root().join(format!("guests/{lang}/{name}/{name}.wasm"));
    assert!(
        path.is_file(),
        "guests/{lang}/build.sh built no {}: is there a guests/{lang}/{name}/ with an app file?",
        path.display()
    );
    path
}

/// The manifest shipped with an example processor.
pub fn example_manifest(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(format!("guests/processors/{name}/{name}.toml")))
        .unwrap()
}

/// A free loopback port (bound, then released for the host or server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `weft run` process with its own modules and data folders.
pub struct Host {
    bin: PathBuf,
    pub dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    pub http: reqwest::Client,
    /// The store engine, when a test runs on a named one (`redb`, `sled`).
    engine: Option<String>,
    /// Environment variables of the process (e.g. the secrets its config names).
    envs: Vec<(String, String)>,
    /// A command the host runs under (`prlimit --nofile=256:256 --`), if any.
    wrapper: Vec<String>,
    /// `--data`, when not the host folder's `data`.
    data: Option<PathBuf>,
    /// `https`, when the config serves TLS (see [`Host::https`]).
    scheme: &'static str,
    /// `--cache`, when not the tests' shared compile cache.
    cache: Option<PathBuf>,
}

impl Host {
    /// The same host on store engine `engine` (`redb` or `sled`).
    pub fn on_engine(mut self, engine: &str) -> Self {
        self.engine = Some(engine.to_owned());
        self
    }

    /// A host whose folders are ready but which is not started yet.
    pub fn new(bin: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("modules")).unwrap();
        Self {
            bin: bin.into(),
            dir,
            port: free_port(),
            child: None,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            engine: None,
            envs: Vec::new(),
            wrapper: Vec::new(),
            data: None,
            scheme: "http",
            cache: None,
        }
    }

    /// Talks https to the host (its config has `[http.tls]`), with `client`.
    pub fn https(&mut self, client: reqwest::Client) -> &mut Self {
        self.scheme = "https";
        self.http = client;
        self
    }

    /// Runs the host under `command` (e.g. `["prlimit", "--nofile=256:256", "--"]`):
    /// the process started is the command's, which execs the host.
    pub fn wrapped(&mut self, command: &[&str]) -> &mut Self {
        self.wrapper = command.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn modules(&self) -> PathBuf {
        self.dir.path().join("modules")
    }

    /// Puts `NAME.wasm` (a copy of `wasm`) and `NAME.toml` into the modules folder.
    pub fn module(&self, name: &str, wasm: &Path, manifest: &str) -> &Self {
        std::fs::copy(wasm, self.modules().join(format!("{name}.wasm"))).unwrap();
        std::fs::write(self.modules().join(format!("{name}.toml")), manifest).unwrap();
        self
    }

    /// Runs the host with `--data path` instead of its own folder's `data` (a
    /// folder on another filesystem: the power-cut tests mount one).
    pub fn data_dir(&mut self, path: PathBuf) -> &mut Self {
        self.data = Some(path);
        self
    }

    /// Runs the host with its own compile cache (`--cache`): nothing compiled
    /// before is found there.
    pub fn cache_dir(&mut self, path: PathBuf) -> &mut Self {
        self.cache = Some(path);
        self
    }

    /// The host's data folder (`--data`).
    pub fn data(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| self.dir.path().join("data"))
    }

    /// Sets an environment variable of the host process.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.envs.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn config(&self, text: &str) -> &Self {
        std::fs::write(self.dir.path().join("weft.toml"), text).unwrap();
        self
    }

    /// Starts the process and waits until `/readyz` answers.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weft.log"))
            .unwrap();
        let mut cmd = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("run")
            .arg("--modules")
            .arg(self.modules())
            .arg("--data")
            .arg(self.data())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--cache")
            .arg(
                self.cache
                    .clone()
                    .unwrap_or_else(|| target_dir().join("weft-test-cache")),
            )
            .env("RUST_LOG", "info")
            .envs(self.envs.clone())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let config = self.dir.path().join("weft.toml");
        if let Some(engine) = &self.engine {
            let text = std::fs::read_to_string(&config).unwrap_or_default();
            if !text.contains("\nengine = ") && !text.starts_with("engine = ") {
                let line = format!("engine = \"{engine}\"\n");
                let text = match text.find("[store]\n") {
                    Some(i) => format!("{}{line}{}", &text[..i + 8], &text[i + 8..]),
                    None => format!("[store]\n{line}{text}"),
                };
                std::fs::write(&config, text).unwrap();
            }
        }
        if config.exists() {
            cmd.arg("--config").arg(config);
        }
        self.child = Some(cmd.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                if let Some(engine) = &self.engine {
                    let status = self.get("/v1/status").await;
                    assert_eq!(
                        status["engine"],
                        engine.as_str(),
                        "the host runs the engine asked for"
                    );
                }
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("weft exited while starting ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "weft did not become ready:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weft.log")).unwrap_or_default()
    }

    /// The host process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The host process's resident memory (`VmRSS`), while it runs.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.pid()?)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}{path}", self.scheme, self.port)
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        #[allow(unsafe_code, reason = "sending a signal to our own child process")]
        // SAFETY: kill(2) on a pid we spawned and have not reaped.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        c.wait().unwrap()
    }

    /// Publishes one JSON event in binary mode; returns the status and the body.
    pub async fn publish(&self, topic: &str, id: &str, data: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(&format!("/v1/events/{topic}")))
            .header("ce-specversion", "1.0")
            .header("ce-id", id)
            .header("ce-source", "/test")
            .header("ce-type", "test.event")
            .header("content-type", "application/json")
            .body(data.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /metrics` (Prometheus text) on a host without tokens.
    pub async fn metrics(&self) -> String {
        let r = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET /metrics");
        r.text().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Everything waiting in a configured subscription, acknowledged.
    pub async fn drain(&self, subscription: &str) -> Vec<Value> {
        let mut all = Vec::new();
        loop {
            let page = self
                .get(&format!("/v1/subscriptions/{subscription}/events?max=1000"))
                .await;
            let events = page["events"].as_array().cloned().unwrap_or_default();
            let Some(last) = events.last().map(|e| e["seq"].as_u64().unwrap()) else {
                return all;
            };
            all.extend(events.into_iter().map(|e| e["event"].clone()));
            self.http
                .post(self.url(&format!("/v1/subscriptions/{subscription}/ack?upto={last}")))
                .send()
                .await
                .unwrap();
        }
    }

    /// Waits until a subscription has collected at least `n` events; returns them all.
    pub async fn collect(&self, subscription: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        let mut all = Vec::new();
        while all.len() < n && Instant::now() < deadline {
            all.extend(self.drain(subscription).await);
            if all.len() < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        all
    }

    /// The error records of a module.
    pub async fn errors(&self, module: &str) -> Vec<Value> {
        let v = self.get(&format!("/v1/errors/{module}")).await;
        v["errors"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until a module has at least `n` error records.
    pub async fn wait_errors(&self, module: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let e = self.errors(module).await;
            if e.len() >= n || Instant::now() > deadline {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The resident memory (`VmRSS`) of process `pid`, from `/proc`.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    Some(kib * 1024)
}

/// The pid of the process whose command line mentions `path` (a host's own
/// temporary folder, a server's configuration file), other than this process: the
/// real server when it was started through a wrapper such as a pyenv shim, whose
/// pid is not the server's.
pub fn pid_with_arg(path: &Path) -> Option<u32> {
    let needle = path.to_str()?.as_bytes();
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .windows(needle.len())
                .any(|w| w == needle)
                .then_some(pid)
        })
}

/// A manifest for a fixture guest.
pub fn manifest(subscribe: &str, publish: &str, extra: &str) -> String {
    format!(
        "subscribe = [\"{subscribe}\"]\npublish = [\"{publish}\"]\n{extra}\n[config]\noutput_topic = \"{publish}\"\n"
    )
}

/// A config declaring one pull subscription named `name`.
pub fn sink_config(name: &str, pattern: &str) -> String {
    format!("[subscriptions.{name}]\nsubscribe = [\"{pattern}\"]\n")
}

pub fn data(v: Value) -> Value {
    v
}

pub fn order(customer: &str, amount: f64, country: &str) -> Value {
    json!({ "cust": customer, "amount": amount, "country": country })
}

impl Host {
    /// A handle that only talks HTTP to an already running host (for tasks that
    /// publish while the test owns the `Host`). It never starts or kills anything.
    pub fn client_for(http: reqwest::Client, url: String) -> Self {
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or(0);
        Self {
            bin: PathBuf::new(),
            dir: tempfile::tempdir().unwrap(),
            port,
            child: None,
            http,
            engine: None,
            envs: Vec::new(),
            wrapper: Vec::new(),
            data: None,
            scheme: "http",
            cache: None,
        }
    }
}

/// Runs an async test body once per store engine: `both_engines!(name, body_fn);`
/// makes `name::redb` and `name::sled`, each calling `body_fn(engine)`.
#[macro_export]
macro_rules! both_engines {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redb() {
                super::$body("redb").await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sled() {
                super::$body("sled").await
            }
        }
    };
}

/// Serves `router` on a fresh loopback port until the test ends; the address.
/// The connector tests' outside world: REST sources, sinks, redirectors.
pub async fn serve(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Waits until `check` holds, polling; false if it did not within `within`.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// The value of the Prometheus series whose line starts with `series` (its name
/// and labels, exactly as the exporter writes them), or 0 when it is absent.
pub fn series_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}
