//! Runs a real `aigne-hub` process for end-to-end tests.
//!
//! [`TestHub`] gives every test its own temporary data directory, fixed server secrets, an
//! owner account, the providers it asks for and a `serve` process on an ephemeral port. The
//! CLI is driven exactly as an operator would drive it, against the same data directory, while
//! the server runs. Everything the process writes to stderr (and stdout) is kept in a log
//! directory next to — not inside — the data directory, so tests can check what the hub logged
//! and what it stored separately.
//!
//! ```no_run
//! # async fn demo() -> hub_testkit::Result<()> {
//! use hub_testkit::TestHub;
//! use upstream_sim::{Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! let hub = TestHub::start("target/debug/aigne-hub", &sim.base_url()).await?;
//! let key = hub.create_key("demo").await?;
//! let resp = hub
//!     .client()
//!     .post(hub.url("/api/v1/chat/completions"))
//!     .bearer_auth(&key.key)
//!     .body(r#"{"model":"aignehub/gpt-3.5-turbo","messages":[{"role":"user","content":"Hello!"}]}"#)
//!     .send()
//!     .await?;
//! assert_eq!(resp.status(), 200);
//! let records = hub.wait_for_usage(1, std::time::Duration::from_secs(5)).await?;
//! # drop(records); Ok(()) }
//! ```

pub mod pg;

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The key pepper every test hub gets (base64 of 32 bytes), so runs are reproducible.
pub const TEST_PEPPER: &str = "YWlnbmUtaHViLXRlc3QtcGVwcGVyLTAxMjM0NTY3ODk=";
/// The credential master key every test hub gets (base64 of 32 bytes).
pub const TEST_MASTER_KEY: &str = "YWlnbmUtaHViLXRlc3QtbWFzdGVyLWtleS0wMTIzNDU=";
/// The provider credential configured for the default `openai` provider. Long and distinctive
/// so that a leak of it (or of a fragment) can be searched for.
pub const PROVIDER_KEY: &str = "sk-test-provider-credential-0123456789abcdef";
pub const OWNER_EMAIL: &str = "owner@example.test";
pub const OWNER_PASSWORD: &str = "correct horse battery staple";

/// How long `serve` may take to print its `listening on` line.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one CLI invocation may take.
pub const DEFAULT_CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a change made with the CLI may take to reach a running server (the hub promises 1 s).
pub const DEFAULT_PROPAGATION: Duration = Duration::from_secs(1);
/// How often the polling functions look again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

const STDERR_LOG: &str = "serve-stderr.log";
const STDOUT_LOG: &str = "serve-stdout.log";
const CLI_LOG: &str = "cli-stderr.log";

/// Environment variables of the test process that must not leak into the hub's configuration.
const SCRUBBED_ENV: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AIGNE_HUB_DATA_DIR",
    "AIGNE_HUB_DATABASE_URL",
    "AIGNE_HUB_PEPPER",
    "AIGNE_HUB_MASTER_KEY",
    "AIGNE_HUB_LISTEN",
];

fn err(msg: impl Into<String>) -> Error {
    msg.into().into()
}

/// A provider to configure with `aigne-hub provider add` before the server starts.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
}

/// How to set up a [`TestHub`].
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// Owner account created with `admin create` before the first start; `None` leaves the hub
    /// without an owner (it then prints a setup URL).
    pub owner: Option<(String, String)>,
    pub providers: Vec<ProviderSpec>,
    /// Extra arguments for `serve`, after `--listen` and `--data-dir`.
    pub serve_args: Vec<String>,
    /// Extra environment for every process (CLI and server).
    pub env: Vec<(String, String)>,
    /// Pass [`TEST_PEPPER`] and [`TEST_MASTER_KEY`] through the environment; when false the hub
    /// generates its own secret files in the data directory.
    pub env_secrets: bool,
    pub start_timeout: Duration,
    pub cli_timeout: Duration,
    /// How long [`TestHub::create_key`] waits for a new key to be accepted by the server.
    pub propagation: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            owner: Some((OWNER_EMAIL.to_owned(), OWNER_PASSWORD.to_owned())),
            providers: Vec::new(),
            serve_args: Vec::new(),
            env: Vec::new(),
            env_secrets: true,
            start_timeout: DEFAULT_START_TIMEOUT,
            cli_timeout: DEFAULT_CLI_TIMEOUT,
            propagation: DEFAULT_PROPAGATION,
        }
    }
}

impl HubOptions {
    /// Adds a provider; `api_key` goes through `--api-key-stdin`.
    pub fn provider(mut self, name: &str, base_url: &str, api_key: Option<&str>) -> Self {
        self.providers.push(ProviderSpec {
            name: name.to_owned(),
            base_url: base_url.to_owned(),
            api_key: api_key.map(str::to_owned),
        });
        self
    }

    /// The usual setup: provider `openai` at `base_url` with [`PROVIDER_KEY`].
    pub fn openai(self, base_url: &str) -> Self {
        self.provider("openai", base_url, Some(PROVIDER_KEY))
    }

    pub fn serve_arg(mut self, arg: impl Into<String>) -> Self {
        self.serve_args.push(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn no_owner(mut self) -> Self {
        self.owner = None;
        self
    }

    pub fn generated_secrets(mut self) -> Self {
        self.env_secrets = false;
        self
    }

    pub fn propagation(mut self, d: Duration) -> Self {
        self.propagation = d;
        self
    }
}

/// A key as printed by `aigne-hub key create --json`.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub id: String,
    pub kid: String,
    pub key: String,
    pub name: String,
}

impl CreatedKey {
    /// The 43 random characters between the kid and the checksum.
    pub fn secret_part(&self) -> &str {
        let start = "aih_".len() + self.kid.len() + 1;
        self.key.get(start..start + 43).unwrap_or("")
    }
}

/// What one CLI invocation produced.
#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// A running (or stopped) `aigne-hub serve` with its own data directory. Dropping it kills the
/// process and deletes the directory.
pub struct TestHub {
    bin: PathBuf,
    opts: HubOptions,
    // Declared before `root` so the process dies before its directory goes away.
    child: Option<Child>,
    stdout_task: Option<JoinHandle<()>>,
    root: TempDir,
    data_dir: PathBuf,
    log_dir: PathBuf,
    base_url: String,
    client: reqwest::Client,
    starts: u32,
}

impl std::fmt::Debug for TestHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHub")
            .field("base_url", &self.base_url)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl TestHub {
    /// An owner, provider `openai` at `openai_base_url` with [`PROVIDER_KEY`], then `serve`.
    pub async fn start(bin: impl AsRef<Path>, openai_base_url: &str) -> Result<TestHub> {
        Self::launch(bin, HubOptions::default().openai(openai_base_url)).await
    }

    /// Sets up a data directory as `opts` says and starts `serve` on it.
    pub async fn launch(bin: impl AsRef<Path>, opts: HubOptions) -> Result<TestHub> {
        let bin = bin.as_ref().to_path_buf();
        if !bin.exists() {
            return Err(err(format!("hub binary not found at {}", bin.display())));
        }
        let root = tempfile::Builder::new()
            .prefix("aigne-hub-test-")
            .tempdir()?;
        let data_dir = root.path().join("data");
        let log_dir = root.path().join("logs");
        fs::create_dir_all(&data_dir)?;
        fs::create_dir_all(&log_dir)?;
        let client = reqwest::Client::builder().no_proxy().build()?;
        let mut hub = TestHub {
            bin,
            opts,
            child: None,
            stdout_task: None,
            root,
            data_dir,
            log_dir,
            base_url: String::new(),
            client,
            starts: 0,
        };
        if let Some((email, password)) = hub.opts.owner.clone() {
            hub.cli_ok(
                &["admin", "create", "--email", &email, "--password-stdin"],
                Some(&password),
            )
            .await?;
        }
        for p in hub.opts.providers.clone() {
            let mut args = vec![
                "provider",
                "add",
                p.name.as_str(),
                "--base-url",
                p.base_url.as_str(),
            ];
            if p.api_key.is_some() {
                args.push("--api-key-stdin");
            }
            hub.cli_ok(&args, p.api_key.as_deref()).await?;
        }
        hub.spawn_serve().await?;
        Ok(hub)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        cmd.env("AIGNE_HUB_DATA_DIR", &self.data_dir);
        if self.opts.env_secrets {
            cmd.env("AIGNE_HUB_PEPPER", TEST_PEPPER);
            cmd.env("AIGNE_HUB_MASTER_KEY", TEST_MASTER_KEY);
        }
        for (k, v) in &self.opts.env {
            cmd.env(k, v);
        }
        cmd
    }

    async fn spawn_serve(&mut self) -> Result<()> {
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(STDERR_LOG))?;
        let mut stdout_log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_dir.join(STDOUT_LOG))?;
        let mut cmd = self.command();
        cmd.arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.opts.serve_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| err("serve: no stdout pipe"))?;
        let mut lines = BufReader::new(stdout).lines();
        let deadline = tokio::time::Instant::now() + self.opts.start_timeout;
        let base_url = loop {
            match tokio::time::timeout_at(deadline, lines.next_line()).await {
                Err(_) => {
                    let _ = child.start_kill();
                    return Err(err(format!(
                        "aigne-hub serve printed no 'listening on' line within {:?}\n--- logs ---\n{}",
                        self.opts.start_timeout,
                        self.logs()
                    )));
                }
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(None)) => {
                    let status = child.wait().await?;
                    return Err(err(format!(
                        "aigne-hub serve exited ({status}) before listening\n--- logs ---\n{}",
                        self.logs()
                    )));
                }
                Ok(Ok(Some(line))) => {
                    let _ = writeln!(stdout_log, "{line}");
                    if let Some(url) = parse_listening(&line) {
                        break url;
                    }
                }
            }
        };
        let _ = stdout_log.flush();
        // Keep draining stdout so the process never blocks on a full pipe.
        self.stdout_task = Some(tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = writeln!(stdout_log, "{line}");
                let _ = stdout_log.flush();
            }
        }));
        self.base_url = base_url;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// `http://127.0.0.1:PORT` of the current process.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A client that ignores proxy settings of the environment.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The temporary directory holding `data/` and `logs/`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn options(&self) -> &HubOptions {
        &self.opts
    }

    /// How many times `serve` has been started on this data directory.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    // ------------------------------------------------------------------ CLI --

    /// Runs `aigne-hub ARGS --data-dir DIR`, feeding `stdin` (plus a newline) when given.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> Result<CliOutput> {
        let mut cmd = self.command();
        cmd.args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        if let Some(input) = stdin {
            if let Some(mut pipe) = child.stdin.take() {
                pipe.write_all(input.as_bytes()).await?;
                pipe.write_all(b"\n").await?;
                pipe.shutdown().await?;
            }
        }
        let out = tokio::time::timeout(self.opts.cli_timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                err(format!(
                    "aigne-hub {} took longer than {:?}",
                    args.join(" "),
                    self.opts.cli_timeout
                ))
            })??;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !stderr.is_empty() {
            if let Ok(mut log) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log_dir.join(CLI_LOG))
            {
                let _ = writeln!(log, "$ aigne-hub {}\n{stderr}", args.join(" "));
            }
        }
        Ok(CliOutput {
            status: out.status,
            stdout,
            stderr,
        })
    }

    /// Like [`TestHub::cli`], but a non-zero exit is an error; returns stdout.
    pub async fn cli_ok(&self, args: &[&str], stdin: Option<&str>) -> Result<String> {
        let out = self.cli(args, stdin).await?;
        if !out.success() {
            return Err(err(format!(
                "aigne-hub {} failed ({}):\nstdout: {}\nstderr: {}",
                args.join(" "),
                out.status,
                out.stdout,
                out.stderr
            )));
        }
        Ok(out.stdout)
    }

    /// Runs a CLI command with `--json` output and parses it.
    pub async fn cli_json(&self, args: &[&str]) -> Result<Value> {
        let stdout = self.cli_ok(args, None).await?;
        serde_json::from_str(stdout.trim()).map_err(|e| {
            err(format!(
                "aigne-hub {}: stdout is not JSON ({e}): {stdout}",
                args.join(" ")
            ))
        })
    }

    /// `key create --name NAME --owner OWNER --json`, then waits (up to the propagation time)
    /// until the running server accepts the key.
    pub async fn create_key(&self, name: &str) -> Result<CreatedKey> {
        let key = self.create_key_unchecked(name).await?;
        if self.child.is_some() {
            self.wait_key_accepted(&key.key, self.opts.propagation)
                .await?;
        }
        Ok(key)
    }

    /// `key create … --json` without waiting for the server.
    pub async fn create_key_unchecked(&self, name: &str) -> Result<CreatedKey> {
        let mut args = vec!["key", "create", "--name", name];
        if let Some((email, _)) = &self.opts.owner {
            args.push("--owner");
            args.push(email);
        }
        args.push("--json");
        let v = self.cli_json(&args).await?;
        let field = |f: &str| -> Result<String> {
            v.get(f)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| err(format!("key create --json: no string field '{f}' in {v}")))
        };
        Ok(CreatedKey {
            id: field("id")?,
            kid: field("kid")?,
            key: field("key")?,
            name: field("name")?,
        })
    }

    /// Waits until the server stops answering 401 for `key`. The probe's body is not JSON, so
    /// an accepted key gets a 400 and no call is made or recorded.
    pub async fn wait_key_accepted(&self, key: &str, within: Duration) -> Result<Duration> {
        let started = Instant::now();
        loop {
            let resp = self
                .client
                .post(self.url("/v1/chat/completions"))
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await?;
            if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= within {
                let body = resp.text().await.unwrap_or_default();
                return Err(err(format!(
                    "a new key was still refused after {within:?}: {body}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `key revoke KID`.
    pub async fn revoke(&self, kid: &str) -> Result<()> {
        self.cli_ok(&["key", "revoke", kid], None).await.map(drop)
    }

    /// `key list --json`.
    pub async fn keys(&self) -> Result<Vec<Value>> {
        as_array(self.cli_json(&["key", "list", "--json"]).await?, "key list")
    }

    /// The `key list --json` entry with this kid.
    pub async fn key_entry(&self, kid: &str) -> Result<Value> {
        self.keys()
            .await?
            .into_iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .ok_or_else(|| err(format!("key list has no key with kid {kid}")))
    }

    /// `usage list --json`, newest first.
    pub async fn usage(&self) -> Result<Vec<Value>> {
        as_array(
            self.cli_json(&["usage", "list", "--json", "--limit", "100000"])
                .await?,
            "usage list",
        )
    }

    /// Polls `usage list` until it holds at least `n` records.
    pub async fn wait_for_usage(&self, n: usize, timeout: Duration) -> Result<Vec<Value>> {
        let started = Instant::now();
        loop {
            let records = self.usage().await?;
            if records.len() >= n {
                return Ok(records);
            }
            if started.elapsed() >= timeout {
                return Err(err(format!(
                    "expected at least {n} usage records within {timeout:?}, found {}: {}",
                    records.len(),
                    Value::Array(records)
                )));
            }
            tokio::time::sleep(POLL_INTERVAL * 2).await;
        }
    }

    /// The usage record with this request id, waiting for it to be written.
    pub async fn wait_for_record(&self, request_id: &str, timeout: Duration) -> Result<Value> {
        let started = Instant::now();
        loop {
            let records = self.usage().await?;
            if let Some(r) = records
                .into_iter()
                .find(|r| r.get("request_id").and_then(Value::as_str) == Some(request_id))
            {
                return Ok(r);
            }
            if started.elapsed() >= timeout {
                return Err(err(format!(
                    "no usage record for request {request_id} within {timeout:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL * 2).await;
        }
    }

    /// `provider add NAME --base-url URL [--api-key-stdin]` (works while serving).
    pub async fn add_provider(
        &self,
        name: &str,
        base_url: &str,
        api_key: Option<&str>,
    ) -> Result<()> {
        let mut args = vec!["provider", "add", name, "--base-url", base_url];
        if api_key.is_some() {
            args.push("--api-key-stdin");
        }
        self.cli_ok(&args, api_key).await.map(drop)
    }

    // ------------------------------------------------------------ lifecycle --

    /// Sends SIGTERM.
    pub async fn sigterm(&self) -> Result<()> {
        self.signal("TERM").await
    }

    /// Sends SIGINT.
    pub async fn sigint(&self) -> Result<()> {
        self.signal("INT").await
    }

    async fn signal(&self, name: &str) -> Result<()> {
        let pid = self.pid().ok_or_else(|| err("the hub is not running"))?;
        let status = Command::new("kill")
            .arg("-s")
            .arg(name)
            .arg(pid.to_string())
            .status()
            .await?;
        if !status.success() {
            return Err(err(format!("kill -s {name} {pid} failed: {status}")));
        }
        Ok(())
    }

    /// Waits for the server to exit and returns its status.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| err("the hub is not running"))?;
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .map_err(|_| err(format!("the hub did not exit within {timeout:?}")))??;
        self.child = None;
        if let Some(task) = self.stdout_task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        Ok(status)
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill9(&mut self) -> Result<ExitStatus> {
        let child = self
            .child
            .as_mut()
            .ok_or_else(|| err("the hub is not running"))?;
        child.start_kill()?;
        self.wait_exit(Duration::from_secs(10)).await
    }

    /// Starts `serve` again on the same data directory (stopping it gracefully first if it still
    /// runs). The new process listens on a new port: use [`TestHub::url`] again.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.sigterm().await?;
            self.wait_exit(self.opts.start_timeout).await?;
        }
        self.spawn_serve().await
    }

    /// Everything the server wrote to stderr and stdout and the CLI wrote to stderr, across
    /// restarts.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in [STDERR_LOG, STDOUT_LOG, CLI_LOG] {
            if let Ok(bytes) = fs::read(self.log_dir.join(name)) {
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
        out
    }

    /// What the server printed on stdout.
    pub fn stdout(&self) -> String {
        fs::read(self.log_dir.join(STDOUT_LOG))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The one-time setup URL `serve` printed, if any.
    pub fn setup_url(&self) -> Option<String> {
        self.stdout().lines().find_map(|line| {
            let start = line.find("http")?;
            let url = line[start..].split_whitespace().next()?;
            url.contains("/setup?token=").then(|| url.to_owned())
        })
    }
}

fn parse_listening(line: &str) -> Option<String> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let url = rest.split_whitespace().next()?;
    url.starts_with("http")
        .then(|| url.trim_end_matches('/').to_owned())
}

fn as_array(v: Value, what: &str) -> Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(err(format!(
            "{what} --json: expected an array, got {other}"
        ))),
    }
}

// ------------------------------------------------------------------- keys --

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 6-character check of an API key: CRC32 of everything before it, in fixed-width base62
/// (alphabet `0-9A-Za-z`, most significant digit first).
pub fn key_checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut digits = [b'0'; 6];
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// A well-formed inference key with a valid checksum: `aih_<kid>_<secret><check>`.
/// `kid` should be 12 and `secret` 43 base62 characters.
pub fn forge_key(kid: &str, secret: &str) -> String {
    let body = format!("aih_{kid}_{secret}");
    let check = key_checksum(&body);
    body + &check
}

/// A 43-character base62 string derived from `seed`, for forged secrets.
pub fn base62_string(seed: u64, len: usize) -> String {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
            char::from(BASE62[((v >> 33) % 62) as usize])
        })
        .collect()
}

// -------------------------------------------------------------------- SSE --

/// The `data:` payloads of an SSE body, in order (`[DONE]` included).
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|d| {
            d.strip_prefix(' ')
                .unwrap_or(d)
                .trim_end_matches('\r')
                .to_owned()
        })
        .collect()
}

/// The concatenated `choices[0].delta.content` of SSE payloads.
pub fn sse_content(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

// ------------------------------------------------------------------ files --

/// Every regular file under `dir` (recursively) with its bytes.
pub fn read_tree(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut File::open(&path)?, &mut bytes)?;
                out.push((path, bytes));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Files under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Result<Vec<PathBuf>> {
    if needle.is_empty() {
        return Err(err("files_containing: empty needle"));
    }
    Ok(read_tree(dir)?
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_fixed_width_base62() {
        let c = key_checksum("aih_abcdefghijkl_");
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn forged_keys_have_the_published_shape() {
        let key = forge_key(&base62_string(1, 12), &base62_string(2, 43));
        assert_eq!(key.len(), 4 + 12 + 1 + 43 + 6);
        assert_ne!(base62_string(1, 43), base62_string(2, 43));
    }

    #[test]
    fn listening_line_is_parsed() {
        assert_eq!(
            parse_listening("listening on http://127.0.0.1:4321").as_deref(),
            Some("http://127.0.0.1:4321")
        );
        assert_eq!(parse_listening("starting"), None);
    }

    #[test]
    fn sse_payloads() {
        let body = "data: {\"a\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(
            sse_data(body),
            vec!["{\"a\":1}".to_owned(), "[DONE]".to_owned()]
        );
    }
}

#[cfg(test)]
mod against_the_key_format {
    use super::*;

    #[test]
    fn forged_keys_pass_the_hub_checksum() {
        let key = forge_key(&base62_string(3, 12), &base62_string(4, 43));
        assert!(hub_core::key::ApiKey::parse(&key).is_ok(), "{key}");
        let mut typo = key.into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap_or_default();
        assert_eq!(
            hub_core::key::ApiKey::parse(&typo).err(),
            Some(hub_core::key::KeyParseError::BadChecksum)
        );
    }
}
