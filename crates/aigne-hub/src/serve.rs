//! `aigne-hub serve`: open everything, replay the usage journal, start the background tasks,
//! serve until SIGTERM/SIGINT, drain, flush, exit 0.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use hub_core::Pepper;
use hub_http::inference::credit::Accountant;
use hub_http::{AppState, HttpConfig, Inner};
use hub_providers::health::{HealthBook, RetryBudget};
use hub_providers::{Adapters, HttpClient, Timeouts};
use hub_store::journal::{LedgerWriter, UsageJournal};
use hub_store::credit_directory::CreditDirectory;
use hub_store::key_directory::KeyDirectory;
use hub_store::provider_directory::{env_fallbacks, ProviderDirectory};
use hub_store::rate_directory::RateDirectory;
use hub_store::watcher::ChangeWatcher;
use hub_store::leases;
use tokio::sync::watch;

use crate::cli::ServeArgs;
use crate::commands::CmdResult;

/// How often the change log is polled (revocations from other processes land within this).
const CHANGE_POLL: Duration = Duration::from_millis(200);
/// How often settled usage moves from the journal to the database.
const USAGE_FLUSH: Duration = Duration::from_millis(100);
/// How long a setup link stays valid.
const SETUP_LINK_TTL_MS: i64 = 3600 * 1000;
/// How often stored files past their retention are deleted.
const FILE_SWEEP: Duration = Duration::from_secs(60);
/// How often usage records past their retention are deleted.
const USAGE_PRUNE: Duration = Duration::from_secs(3600);
/// How often SQLite's write-ahead log is copied into the database file, off the usage writer.
const WAL_CHECKPOINT: Duration = Duration::from_secs(1);
/// How often set-aside credentials are looked at for a due re-check.
const RECHECK_TICK: Duration = Duration::from_millis(500);

pub async fn run(data_dir: &Path, database_url: Option<&str>, args: ServeArgs) -> CmdResult {
    let instance_id = leases::instance_id(data_dir)?;
    let store = crate::commands::open_store(data_dir, database_url).await?.for_instance(&instance_id);
    let server_secrets = crate::commands::load_secrets(data_dir, &store).await?;
    // The replay moves the charges of the calls this instance had in flight out of its leases;
    // what is left of those leases is nobody's any more.
    let (journal, replayed) = UsageJournal::open(&data_dir.join("journal"), &store).await?;
    if replayed > 0 {
        tracing::info!(replayed, "usage journal replayed");
    }
    let stale = store.release_leases_of(&instance_id).await?;
    if stale > 0 {
        tracing::info!(released = stale, "released the budget leases this instance held before it stopped");
    }
    let pepper = Pepper::from_bytes(server_secrets.pepper.0);
    let keys = Arc::new(KeyDirectory::new(store.clone(), pepper));
    let warmed = keys.warm().await?;
    let providers = Arc::new(ProviderDirectory::new(env_fallbacks()));
    providers.reload(&store, &server_secrets.master_key).await?;
    let rates = Arc::new(RateDirectory::default());
    rates.reload(&store).await?;
    let credit = Arc::new(CreditDirectory::default());
    credit.load(&store).await?;
    // After the journal replay: every earlier call is in the database the books are summed from.
    let accountant = Accountant::new(store.clone(), instance_id.clone());
    accountant.load_from(&store, hub_core::ids::now_ms()).await?;
    let from_seq = store.latest_change().await?;

    let mut config = HttpConfig::new(args.listen);
    config.max_body_bytes = args.max_body_bytes;
    config.secure_cookies = args.secure_cookies;
    config.file_url_ttl_secs = args.file_url_ttl_secs;
    config.file_retention_secs = args.file_retention_secs;
    config.video_polling.max_interval = Duration::from_secs(args.video_poll_max_secs.max(1));
    config.video_polling.deadline = Duration::from_secs(args.video_deadline_secs.max(1));
    config.trusted_proxies = hub_core::scopes::parse_nets(&args.trusted_proxies).map_err(|e| format!("--trusted-proxies: {e}"))?;
    config.metrics_enabled = args.metrics;
    config.metrics_token = args.metrics_token.clone().filter(|t| !t.is_empty()).map(hub_core::Secret::new);
    config.alerts = hub_core::alerts::Thresholds {
        silence_ms: args.alert_silence_days.saturating_mul(86_400_000),
        spike_min_calls: args.alert_spike_min_calls.max(1),
        spike_factor: args.alert_spike_factor.max(1),
        failed_attempts: args.alert_failed_attempts.max(1),
        cooldown_ms: args.alert_cooldown_secs.saturating_mul(1000),
    };
    let file_store = hub_store::files::FileStore::open(data_dir)?;
    let files = hub_http::files::SignedFiles::new(file_store.clone(), &server_secrets.pepper.0);
    let file_retention = Duration::from_secs(args.file_retention_secs);
    let listener = hub_http::server::bind(args.listen).await?;
    let local = listener.local_addr()?;
    config.public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    let public_url = config.public_url.trim_end_matches('/').to_owned();

    let client = HttpClient::new(Timeouts::default())?;
    let (monitor, alert_events) = hub_http::monitor::Monitor::new(hub_providers::webhook::WebhookClient::new()?);
    let state = AppState::new(Inner {
        config,
        store: store.clone(),
        keys: Arc::clone(&keys),
        providers: Arc::clone(&providers),
        journal: Arc::clone(&journal),
        adapters: Adapters::new(client),
        health: HealthBook::with_set_aside_base(args.set_aside_backoff_ms),
        retry_budget: RetryBudget::default(),
        master_key: server_secrets.master_key.clone(),
        files,
        rates: Arc::clone(&rates),
        credit: Arc::clone(&credit),
        accountant,
        limiters: hub_http::inference::limits::KeyLimiters::default(),
        idempotency: Default::default(),
        monitor,
        video_jobs: Default::default(),
        ready: AtomicBool::new(true),
    });

    // Console output (stdout), not the log stream: the address, then the setup link.
    println!("listening on http://{local}");
    if !store.owner_exists().await? {
        let token = hub_http::ui::session::random_token();
        store.create_setup_token(&token, SETUP_LINK_TTL_MS).await?;
        println!("No owner account yet. Create it within one hour (one use): {public_url}/setup?token={token}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(addr = %local, keys = warmed, providers = providers.snapshot().len(), "AIGNE Hub is serving");

    let watcher = ChangeWatcher { store: store.clone(), keys, providers, rates, credit, master_key: server_secrets.master_key.clone() };
    let watcher_task = tokio::spawn(watcher.run(CHANGE_POLL, from_seq));
    let sweep_task = tokio::spawn(file_store.run_sweeper(FILE_SWEEP, file_retention));
    let detector_task = tokio::spawn(hub_http::monitor::detector::run(state.clone(), alert_events));
    let outbox_task = tokio::spawn(hub_http::monitor::outbox::run(state.clone()));
    let recheck_task = tokio::spawn(hub_http::connection::run_recheck(state.clone(), RECHECK_TICK));
    let keeper_task = tokio::spawn(hub_http::inference::credit::run_keeper(state.clone()));
    let checkpoint_task = tokio::spawn(store.clone().run_wal_checkpoints(WAL_CHECKPOINT));
    let prune_task = (args.usage_retention_days > 0)
        .then(|| tokio::spawn(store.clone().run_usage_pruner(USAGE_PRUNE, Duration::from_secs(args.usage_retention_days.saturating_mul(86_400)))));

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
    let writer_task = tokio::spawn(writer.run(USAGE_FLUSH, async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    }));

    let state_for_shutdown = state.clone();
    let stopping = Arc::new(tokio::sync::Notify::new());
    let stopping_tx = Arc::clone(&stopping);
    let signal = async move {
        shutdown_signal().await;
        stopping_tx.notify_one();
    };
    let drain_timeout = Duration::from_secs(args.drain_timeout_secs);
    let drain_deadline = async move {
        stopping.notified().await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::select! {
        served = hub_http::server::serve(listener, state.clone(), signal) => {
            served?;
            tracing::info!("in-flight requests drained; flushing usage");
        }
        () = drain_deadline => {
            tracing::warn!(seconds = drain_timeout.as_secs(), "drain timeout reached with calls still in flight; they will be settled from the journal at the next start");
        }
    }
    let _ = stop_tx.send(true);
    if let Err(e) = writer_task.await {
        tracing::error!(error = %e, "usage writer stopped abnormally; the journal will be replayed at next start");
    }
    keeper_task.abort();
    // Every settled charge has left the leases; the unused rest goes back to the accounts.
    if let Err(e) = state_for_shutdown.accountant.give_back_all().await {
        tracing::warn!(error = %e, "could not give back unused budget leases; they expire on their own");
    }
    watcher_task.abort();
    sweep_task.abort();
    detector_task.abort();
    outbox_task.abort();
    recheck_task.abort();
    checkpoint_task.abort();
    if let Some(t) = prune_task {
        t.abort();
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
