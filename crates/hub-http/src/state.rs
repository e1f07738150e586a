//! What every handler can reach. Built once by the binary; cloned cheaply (all `Arc`s).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hub_providers::health::{HealthBook, RetryBudget};
use hub_providers::Adapters;
use hub_store::journal::UsageJournal;
use hub_store::key_directory::KeyDirectory;
use hub_store::provider_directory::ProviderDirectory;
use hub_store::secrets::ServerSecret;
use hub_store::Store;

use crate::config::HttpConfig;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: HttpConfig,
    pub store: Store,
    pub keys: Arc<KeyDirectory>,
    pub providers: Arc<ProviderDirectory>,
    pub journal: Arc<UsageJournal>,
    /// One adapter per upstream protocol.
    pub adapters: Adapters,
    /// Circuit breakers, cool-downs and set-aside credentials.
    pub health: HealthBook,
    /// Bounds the extra upstream load retries may add.
    pub retry_budget: RetryBudget,
    pub master_key: ServerSecret,
    /// Stored generated files and the key their URLs are signed with.
    pub files: crate::files::SignedFiles,
    /// Model rates (admin overrides over the list prices), read to price calls.
    pub rates: Arc<hub_store::rate_directory::RateDirectory>,
    /// Credit billing on or off, the top-up link, and users' grants.
    pub credit: Arc<hub_store::credit_directory::CreditDirectory>,
    /// Budget and balance reservations (this process only).
    pub accountant: crate::inference::credit::Accountant,
    /// Per-key rate and concurrency state (this process only).
    pub limiters: crate::inference::limits::KeyLimiters,
    /// Calls under an `Idempotency-Key` (and identical AIGNE retries), live and kept.
    pub idempotency: Arc<crate::inference::idempotency::IdempotencyTable>,
    /// Metrics, model status and the alert detector's event queue.
    pub monitor: crate::monitor::Monitor,
    /// Video jobs started on `/v1/videos` (this process only).
    pub video_jobs: crate::inference::video_jobs::VideoJobs,
    /// False once shutdown begins: `/readyz` fails first, new calls are refused.
    pub ready: AtomicBool,
}

impl AppState {
    pub fn new(inner: Inner) -> AppState {
        AppState { inner: Arc::new(inner) }
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
