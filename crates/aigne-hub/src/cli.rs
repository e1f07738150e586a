//! The command line. These forms are stable: scripts depend on them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "aigne-hub", version, about = "A self-hosted AI gateway: one API, many model providers, metered keys.")]
pub struct Cli {
    /// Where the database, usage journal and server secrets live.
    #[arg(long, global = true, env = "AIGNE_HUB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Log format on stderr: text or json.
    #[arg(long, global = true, env = "AIGNE_HUB_LOG_FORMAT")]
    pub log_format: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the hub: the API, the admin UI and the usage writer.
    Serve(ServeArgs),
    /// Accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Upstream model providers.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Model aliases: a short name for a fallback chain of provider/model targets.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The usage ledger.
    #[command(subcommand)]
    Usage(UsageCommand),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AIGNE_HUB_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// The URL users reach the hub at, for links the hub prints (default http://<listen>).
    #[arg(long, env = "AIGNE_HUB_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "AIGNE_HUB_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// On SIGTERM/SIGINT, how long in-flight calls may take to finish before the hub exits
    /// anyway (calls still running are then settled from the journal at the next start).
    #[arg(long, env = "AIGNE_HUB_DRAIN_TIMEOUT_SECS", default_value_t = 60)]
    pub drain_timeout_secs: u64,
    /// Mark session cookies Secure (set this when users reach the hub over HTTPS).
    #[arg(long, env = "AIGNE_HUB_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// How long a URL to a generated image the hub stored stays valid, in seconds.
    #[arg(long, env = "AIGNE_HUB_FILE_URL_TTL_SECS", default_value_t = 3600)]
    pub file_url_ttl_secs: u64,
    /// How long generated images the hub stored are kept, in seconds.
    #[arg(long, env = "AIGNE_HUB_FILE_RETENTION_SECS", default_value_t = 24 * 3600)]
    pub file_retention_secs: u64,
    /// Longest wait between two status reads of a video job at the provider, in seconds (the
    /// first read comes after half a second, each next one after twice the last wait).
    #[arg(long, env = "AIGNE_HUB_VIDEO_POLL_MAX_SECS", default_value_t = 10)]
    pub video_poll_max_secs: u64,
    /// How long a video generation may take in all before it fails, in seconds.
    #[arg(long, env = "AIGNE_HUB_VIDEO_DEADLINE_SECS", default_value_t = 600)]
    pub video_deadline_secs: u64,
    /// Proxies (CIDRs, comma-separated or repeated) whose X-Forwarded-For is believed: the
    /// right-most hop that is not one of them is the client. Without it the header is ignored.
    #[arg(long, env = "AIGNE_HUB_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create an owner account (the password is read from standard input).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Add a provider, or update its base URL; with --api-key-stdin, add a credential.
    Add {
        /// openai, deepseek, xai, openrouter, ollama, doubao, poe, or custom:<label>
        name: String,
        #[arg(long)]
        base_url: Option<String>,
        #[arg(long)]
        api_key_stdin: bool,
    },
    /// List providers (credentials masked).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Create or replace an alias: `alias set fast openai/gpt-4o-mini anthropic/claude-3-5-haiku`
    /// (first choice first; the next one takes over when a provider is down).
    Set {
        name: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases and their chains.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete an alias.
    Delete { name: String },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        #[arg(long)]
        name: String,
        /// Owner account; the first owner by default.
        #[arg(long)]
        owner: Option<String>,
        /// inference (default), analytics or admin.
        #[arg(long = "type", default_value = "inference")]
        key_type: String,
        #[command(flatten)]
        scopes: ScopeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Change a key's scopes and limits; options not given keep their value. Effective within
    /// a second in a running hub.
    Update {
        kid: String,
        #[command(flatten)]
        scopes: ScopeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new secret, with its own kid, for the same key (same id, scopes and history); the old secret
    /// keeps working for the grace period (0s … 7d), then is refused.
    Rotate {
        kid: String,
        /// How long the old secret keeps working: 0s, 90s, 1h, 7d (at most 7 days).
        #[arg(long)]
        grace: String,
        #[arg(long)]
        json: bool,
    },
    /// List keys (hints only, never the keys).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its kid (or id); effective within a second in a running hub.
    Revoke { kid: String },
}

/// A key's scopes and limits. On `update`, `0` removes a numeric limit, `--expires never`
/// removes the expiry, `--endpoints all`, `--models '*'` and `--ips any` remove a restriction.
#[derive(Args, Debug, Default)]
pub struct ScopeArgs {
    /// Allowed models (glob patterns matched against the name sent and the resolved
    /// provider/model, e.g. `openai/*`, `*/gpt-4o*`); repeat for several.
    #[arg(long = "models")]
    pub models: Vec<String>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated input + max output reserved per call, corrected after).
    #[arg(long)]
    pub tpm: Option<u64>,
    /// Concurrent requests.
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Expiry time, RFC 3339 (e.g. 2026-12-31T23:59:59Z).
    #[arg(long)]
    pub expires: Option<String>,
    /// Allowed endpoints, comma-separated: chat, embeddings, images, video, models.
    #[arg(long)]
    pub endpoints: Option<String>,
    /// Allowed client addresses (IPv4/IPv6 addresses or CIDRs); repeat for several.
    #[arg(long = "ips")]
    pub ips: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum UsageCommand {
    /// The newest usage records.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Only this key's records (its id).
        #[arg(long)]
        key_id: Option<String>,
    },
}
