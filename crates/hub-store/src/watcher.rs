//! Polls the change log and refreshes the in-memory directories, so a change made by the CLI
//! or another instance takes effect here within one interval.

use std::sync::Arc;
use std::time::Duration;

use crate::changes::ChangeKind;
use crate::credit_directory::CreditDirectory;
use crate::db::{Backend, Store};
use crate::key_directory::KeyDirectory;
use crate::provider_directory::ProviderDirectory;
use crate::rate_directory::RateDirectory;
use crate::secrets::ServerSecret;

/// How far back each poll reads again on PostgreSQL. There a change's number is taken when its
/// row is inserted but the row becomes visible when its transaction commits, so a lower number
/// can appear after a higher one was read: the watcher reads the last numbers again and applies
/// only those it has not applied yet. SQLite commits one writer at a time, so numbers become
/// visible in order and nothing is read twice.
const PG_LOOKBACK: i64 = 256;

pub struct ChangeWatcher {
    pub store: Store,
    pub keys: Arc<KeyDirectory>,
    pub providers: Arc<ProviderDirectory>,
    pub rates: Arc<RateDirectory>,
    pub credit: Arc<CreditDirectory>,
    pub master_key: ServerSecret,
}

impl ChangeWatcher {
    pub async fn run(self, interval: Duration, from_seq: i64) {
        let mut seen = from_seq;
        let mut applied: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
        let lookback = match self.store.backend() {
            Backend::Postgres => PG_LOOKBACK,
            Backend::Sqlite => 0,
        };
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let changes = match self.store.changes_since(seen.saturating_sub(lookback).max(from_seq)).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "change log unreadable; retrying");
                    continue;
                }
            };
            let mut providers_changed = false;
            let mut rates_changed = false;
            for c in &changes {
                if applied.contains(&c.seq) {
                    continue;
                }
                let res = match c.kind {
                    ChangeKind::Key => self.keys.refresh_key(&c.ref_id).await,
                    ChangeKind::User => self.keys.refresh_user(&c.ref_id).await,
                    ChangeKind::Provider => {
                        providers_changed = true;
                        Ok(())
                    }
                    ChangeKind::Rate => {
                        rates_changed = true;
                        Ok(())
                    }
                    ChangeKind::Settings => self.credit.reload_settings(&self.store).await,
                    ChangeKind::Credit => self.credit.reload_user(&self.store, &c.ref_id).await,
                };
                if let Err(e) = res {
                    tracing::warn!(error = %e, "refresh after a change failed; retrying");
                    break;
                }
                applied.insert(c.seq);
                seen = seen.max(c.seq);
            }
            let floor = seen.saturating_sub(lookback);
            applied.retain(|s| *s > floor);
            if let Err(e) = self.credit.recount_due(&self.store, hub_core::ids::now_ms()).await {
                tracing::warn!(error = %e, "recounting expired grants failed; retrying");
            }
            if rates_changed {
                if let Err(e) = self.rates.reload(&self.store).await {
                    tracing::warn!(error = %e, "rate reload failed");
                }
            }
            if providers_changed {
                if let Err(e) = self.providers.reload(&self.store, &self.master_key).await {
                    tracing::warn!(error = %e, "provider reload failed");
                }
            }
        }
    }
}
