//! What admission needs to know about credit, in memory: whether credit billing is on (an
//! atomic, so calls of an internal hub take no lock for it), the top-up link, and each user's
//! grants. Loaded at start and refreshed from the change log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hub_core::money::NanoCredits;
use parking_lot::RwLock;

use crate::billing::{BillingSettings, CreditGrant};
use crate::db::Store;
use crate::error::StoreError;

#[derive(Default)]
pub struct CreditDirectory {
    billing_enabled: AtomicBool,
    settings: RwLock<Arc<BillingSettings>>,
    grants: RwLock<HashMap<String, Arc<Vec<CreditGrant>>>>,
}

impl CreditDirectory {
    /// Loads the settings and every grant; called once at start.
    pub async fn load(&self, store: &Store) -> Result<(), StoreError> {
        self.reload_settings(store).await?;
        let mut by_user: HashMap<String, Vec<CreditGrant>> = HashMap::new();
        for g in store.all_grants().await? {
            by_user.entry(g.user_id.clone()).or_default().push(g);
        }
        *self.grants.write() = by_user.into_iter().map(|(u, g)| (u, Arc::new(g))).collect();
        Ok(())
    }

    pub async fn reload_settings(&self, store: &Store) -> Result<(), StoreError> {
        let s = store.billing_settings().await?;
        self.billing_enabled.store(s.billing_enabled, Ordering::Release);
        *self.settings.write() = Arc::new(s);
        Ok(())
    }

    pub async fn reload_user(&self, store: &Store, user_id: &str) -> Result<(), StoreError> {
        let grants = store.grants_of(user_id).await?;
        self.grants.write().insert(user_id.to_owned(), Arc::new(grants));
        Ok(())
    }

    /// Whether calls are debited from their user's credit (one atomic load).
    pub fn billing_enabled(&self) -> bool {
        self.billing_enabled.load(Ordering::Acquire)
    }

    pub fn settings(&self) -> Arc<BillingSettings> {
        Arc::clone(&self.settings.read())
    }

    /// The sum of a user's grants still valid at `now_ms`.
    pub fn granted(&self, user_id: &str, now_ms: i64) -> NanoCredits {
        let grants = self.grants.read().get(user_id).cloned();
        grants.map_or(NanoCredits::ZERO, |g| g.iter().filter(|g| g.live_at(now_ms)).fold(NanoCredits::ZERO, |sum, g| sum.saturating_add(g.amount)))
    }
}
