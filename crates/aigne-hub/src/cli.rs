//! The command line. These forms are stable: scripts depend on them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "aigne-hub", version, about = "A self-hosted AI gateway: one API, many model providers, metered keys.")]
pub struct Cli {
    /// Where the database (unless --database-url), usage journal, generated files and server
    /// secrets live.
    #[arg(long, global = true, env = "AIGNE_HUB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The database to use instead of the SQLite file in the data directory:
    /// `postgres://user:password@host/db`. Several instances serving one PostgreSQL database
    /// share keys, providers, usage and budgets; each keeps its own data directory, and all
    /// must be given the same AIGNE_HUB_PEPPER and AIGNE_HUB_MASTER_KEY.
    #[arg(long, global = true, env = "AIGNE_HUB_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log format on stderr: text or json.
    #[arg(long, global = true, env = "AIGNE_HUB_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Threads that run requests (default: the CPUs this process may use). With one, the hub
    /// runs on a single-threaded scheduler, the cheapest when it is pinned to one core.
    #[arg(long, global = true, env = "AIGNE_HUB_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
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
    /// Users: invitations, roles, disabling.
    #[command(subcommand)]
    User(UserCommand),
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
    /// Model rates (what calls cost).
    #[command(subcommand)]
    Rate(RateCommand),
    /// Credit billing (service-provider mode).
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Users' prepaid credit.
    #[command(subcommand)]
    Credit(CreditCommand),
}

#[derive(Subcommand, Debug)]
pub enum RateCommand {
    /// Set a model's rate, replacing its list price. Amounts are credits as decimals
    /// (`0.00000015` per token is $0.15 per million tokens).
    Set {
        /// provider/model, e.g. openai/gpt-4o-mini.
        model: String,
        /// Credits per input token.
        #[arg(long)]
        input: String,
        /// Credits per output token.
        #[arg(long)]
        output: String,
        /// Credits per cached input token (the input rate by default).
        #[arg(long)]
        cached_input: Option<String>,
        /// Credits per generated image.
        #[arg(long)]
        per_image: Option<String>,
        /// Credits per second of generated video.
        #[arg(long)]
        per_video_second: Option<String>,
        /// What the upstream charges per input token (the input rate by default).
        #[arg(long)]
        unit_cost_input: Option<String>,
        /// What the upstream charges per output token (the output rate by default).
        #[arg(long)]
        unit_cost_output: Option<String>,
    },
    /// Remove a model's rate override; its list price applies again.
    Reset { model: String },
    /// Every rate in force (overrides and list prices), per million tokens.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Debit calls from their user's prepaid credit; a call without credit gets 402.
    Enable {
        /// Where users buy credit (shown to AIGNE SDK users with the 402).
        #[arg(long)]
        topup_link: Option<String>,
        /// Credits granted to each account created from now on.
        #[arg(long)]
        starter_grant: Option<String>,
    },
    /// Stop debiting calls (usage is still metered and priced).
    Disable,
    /// The current settings.
    Show {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum CreditCommand {
    /// Grant credits (a decimal amount) to the account with this email.
    Grant {
        email: String,
        amount: String,
        /// When the grant expires, RFC 3339 (never by default).
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// An account's balance (settled calls) and grants.
    Show {
        email: String,
        #[arg(long)]
        json: bool,
    },
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
    #[arg(long, env = "AIGNE_HUB_SECURE_COOKIES", value_parser = clap::builder::BoolishValueParser::new())]
    pub secure_cookies: bool,
    /// How long a URL to a generated image the hub stored stays valid, in seconds.
    #[arg(long, env = "AIGNE_HUB_FILE_URL_TTL_SECS", default_value_t = 3600)]
    pub file_url_ttl_secs: u64,
    /// How long generated images the hub stored are kept, in seconds.
    #[arg(long, env = "AIGNE_HUB_FILE_RETENTION_SECS", default_value_t = 24 * 3600)]
    pub file_retention_secs: u64,
    /// How many days raw usage records (call history, CSV export) are kept; 0 keeps them
    /// forever. The rollups behind the dashboard's totals and charts are kept always, and so
    /// are calls billed to a user's credit and a budgeted key's calls in its current window.
    #[arg(long, env = "AIGNE_HUB_USAGE_RETENTION_DAYS", default_value_t = 0)]
    pub usage_retention_days: u64,
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
    /// Serve Prometheus metrics at GET /metrics.
    #[arg(long, env = "AIGNE_HUB_METRICS", value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics: bool,
    /// Require `Authorization: Bearer <token>` on /metrics.
    #[arg(long, env = "AIGNE_HUB_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// How long a credential the provider refused is set aside before the background re-check
    /// first probes it, in milliseconds; each failed re-check doubles it (up to an hour).
    #[arg(long, env = "AIGNE_HUB_SET_ASIDE_BACKOFF_MS", default_value_t = hub_providers::health::SET_ASIDE_BASE_MS)]
    pub set_aside_backoff_ms: i64,
    /// Alert when a key is used after this many days without use.
    #[arg(long, env = "AIGNE_HUB_ALERT_SILENCE_DAYS", default_value_t = hub_core::alerts::DEFAULT_SILENCE_MS / 86_400_000)]
    pub alert_silence_days: i64,
    /// A usage spike needs at least this many calls in 5 minutes…
    #[arg(long, env = "AIGNE_HUB_ALERT_SPIKE_MIN_CALLS", default_value_t = hub_core::alerts::DEFAULT_SPIKE_MIN_CALLS)]
    pub alert_spike_min_calls: u64,
    /// …and this many times the key's own rate over the hour before.
    #[arg(long, env = "AIGNE_HUB_ALERT_SPIKE_FACTOR", default_value_t = hub_core::alerts::DEFAULT_SPIKE_FACTOR)]
    pub alert_spike_factor: u64,
    /// Failed attempts against one kid within 10 minutes that raise an alert.
    #[arg(long, env = "AIGNE_HUB_ALERT_FAILED_ATTEMPTS", default_value_t = hub_core::alerts::DEFAULT_FAILED_ATTEMPTS)]
    pub alert_failed_attempts: u32,
    /// At most one alert per kind and subject within this many seconds.
    #[arg(long, env = "AIGNE_HUB_ALERT_COOLDOWN_SECS", default_value_t = hub_core::alerts::DEFAULT_COOLDOWN_MS / 1000)]
    pub alert_cooldown_secs: i64,
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
pub enum UserCommand {
    /// Invite someone: prints a one-time link (valid 7 days) with which they set their password.
    Invite {
        email: String,
        /// member (default) or admin.
        #[arg(long, default_value = "member")]
        role: String,
        /// The URL users reach the hub at, for the link.
        #[arg(long, env = "AIGNE_HUB_PUBLIC_URL", default_value = "http://127.0.0.1:8090")]
        public_url: String,
        #[arg(long)]
        json: bool,
    },
    /// List accounts and pending invitations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: its keys stop working at once, its sessions end.
    Disable { email: String },
    /// Enable a disabled account again.
    Enable { email: String },
    /// Change an account's role (member or admin).
    SetRole { email: String, role: String },
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
    /// Test every credential of a provider with its cheapest authenticated request (works
    /// without a running server; exits 1 when a credential fails).
    Test {
        /// The provider's name: openai, anthropic, google, ideogram, custom:<label>, …
        name: String,
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
    /// Credits the key may spend per budget period, as a decimal (`none` removes the budget).
    #[arg(long)]
    pub budget: Option<String>,
    /// day, month (UTC) or total (the default).
    #[arg(long)]
    pub budget_period: Option<String>,
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
