//! What admission needs to know about credit, in memory: whether credit billing is on (an
//! atomic, so calls of an internal hub take no lock for it), the top-up link, and each user's
//! grants as their debits consumed them (`billing::GrantLedger`). Loaded at start and refreshed
//! from the change log.
//!
//! The hot path's number is what a user's grants are worth now: every grant minus what expired
//! grants lost. A grant that expires after the ledger was computed is counted as losing all it
//! had left then (never less than it really loses: debits since only consumed more of it), and
//! the user is recounted from the database shortly after the expiry, once the calls that
//! started before it are settled and written ([`CreditDirectory::recount_due`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hub_core::fast_map::FastMap;
use hub_core::money::NanoCredits;
use parking_lot::RwLock;

use crate::billing::{BillingSettings, GrantLedger};
use crate::db::Store;
use crate::error::StoreError;

/// How long after a grant expires (or a call that started before the expiry settles) its user
/// is recounted: the usage writer flushes every 100 ms.
pub const RECOUNT_DELAY_MS: i64 = 1_000;

#[derive(Default)]
pub struct CreditDirectory {
    billing_enabled: AtomicBool,
    settings: RwLock<Arc<BillingSettings>>,
    users: RwLock<FastMap<String, Arc<UserCredit>>>,
    /// When each user is due a recount (Unix ms).
    recounts: parking_lot::Mutex<FastMap<String, i64>>,
}

struct UserCredit {
    ledger: GrantLedger,
}

/// A user's grants now: every grant, and what expired grants took with them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CreditStanding {
    pub granted: NanoCredits,
    pub expired: NanoCredits,
}

impl CreditStanding {
    /// What the grants are worth: `granted − expired`.
    pub fn usable(&self) -> NanoCredits {
        NanoCredits(self.granted.0.saturating_sub(self.expired.0))
    }
}

impl UserCredit {
    fn standing(&self, now_ms: i64) -> CreditStanding {
        let mut s = CreditStanding::default();
        for g in &self.ledger.grants {
            s.granted = s.granted.saturating_add(g.grant.amount);
            if g.expired {
                s.expired = s.expired.saturating_add(g.lost);
            } else if g.grant.expires_at.is_some_and(|e| e <= now_ms) {
                // Expired since the ledger was computed: at most what it had left then.
                s.expired = s.expired.saturating_add(g.remaining);
            }
        }
        s
    }

    /// When the ledger needs computing again: just after the next expiry it has not seen (or
    /// one it saw too soon for every debit before it to be written).
    fn recount_at(&self) -> Option<i64> {
        self.ledger
            .grants
            .iter()
            .filter_map(|g| g.grant.expires_at)
            .filter(|e| e.saturating_add(RECOUNT_DELAY_MS) > self.ledger.at_ms)
            .map(|e| e.saturating_add(RECOUNT_DELAY_MS))
            .min()
    }
}

impl CreditDirectory {
    /// Loads the settings and every user's grants; called once at start (after the usage
    /// journal was replayed into the database).
    pub async fn load(&self, store: &Store) -> Result<(), StoreError> {
        self.reload_settings(store).await?;
        let mut users: Vec<String> = store.all_grants().await?.into_iter().map(|g| g.user_id).collect();
        users.sort_unstable();
        users.dedup();
        for user in users {
            self.reload_user(store, &user).await?;
        }
        Ok(())
    }

    pub async fn reload_settings(&self, store: &Store) -> Result<(), StoreError> {
        let s = store.billing_settings().await?;
        self.billing_enabled.store(s.billing_enabled, Ordering::Release);
        *self.settings.write() = Arc::new(s);
        Ok(())
    }

    /// Recomputes one user's grants from the database.
    pub async fn reload_user(&self, store: &Store, user_id: &str) -> Result<(), StoreError> {
        let now = hub_core::ids::now_ms();
        let credit = UserCredit { ledger: store.grant_ledger(user_id, now).await? };
        let due = credit.recount_at();
        self.users.write().insert(user_id.to_owned(), Arc::new(credit));
        let mut recounts = self.recounts.lock();
        // A recount still ahead (a late debit not yet written) stays due.
        let pending = recounts.get(user_id).copied().filter(|at| *at > now);
        match due.into_iter().chain(pending).min() {
            Some(at) => recounts.insert(user_id.to_owned(), at),
            None => recounts.remove(user_id),
        };
        Ok(())
    }

    /// Recounts the users whose grants expired (or whose late debits arrived) since their
    /// ledger was computed; called by the change watcher on every tick.
    pub async fn recount_due(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let due: Vec<String> = self.recounts.lock().iter().filter(|(_, at)| **at <= now_ms).map(|(u, _)| u.clone()).collect();
        for user in due {
            self.reload_user(store, &user).await?;
        }
        Ok(())
    }

    /// A call of `user_id` that started at `started_at_ms` was debited: if a grant of the user
    /// expired since the call started, the debit belongs before the expiry and the user is
    /// recounted once it is written.
    pub fn note_debit(&self, user_id: &str, started_at_ms: i64, now_ms: i64) {
        let Some(credit) = self.users.read().get(user_id).cloned() else { return };
        let crossed = credit.ledger.grants.iter().filter_map(|g| g.grant.expires_at).any(|e| e > started_at_ms && e <= now_ms);
        if crossed {
            let at = now_ms.saturating_add(RECOUNT_DELAY_MS);
            let mut recounts = self.recounts.lock();
            let due = recounts.entry(user_id.to_owned()).or_insert(at);
            *due = (*due).min(at);
        }
    }

    /// Whether calls are debited from their user's credit (one atomic load).
    pub fn billing_enabled(&self) -> bool {
        self.billing_enabled.load(Ordering::Acquire)
    }

    pub fn settings(&self) -> Arc<BillingSettings> {
        Arc::clone(&self.settings.read())
    }

    /// What a user's grants are worth at `now_ms`: every grant minus what expired grants lost
    /// (the balance is this minus the user's debits).
    pub fn granted(&self, user_id: &str, now_ms: i64) -> NanoCredits {
        self.standing(user_id, now_ms).usable()
    }

    /// A user's grants and what expired ones lost, at `now_ms`.
    pub fn standing(&self, user_id: &str, now_ms: i64) -> CreditStanding {
        let credit = self.users.read().get(user_id).cloned();
        credit.map_or_else(CreditStanding::default, |c| c.standing(now_ms))
    }
}
