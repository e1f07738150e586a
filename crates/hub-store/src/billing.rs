//! Money at rest: model rate overrides, hub settings (credit billing, starter grant, top-up
//! link), credit grants, and the sums that rebuild balances and budget spending at start.
//!
//! Sums are cast to BIGINT: PostgreSQL's `SUM(bigint)` is NUMERIC.
//!
//! A balance is never stored: it is the user's grants minus the credits of their usage records
//! marked `billed` minus what expired grants took with them. The usage records are the only
//! debits; they consume grants in order of expiry (`hub_core::grants`), so an expiring grant
//! loses only its unconsumed remainder.

use std::collections::HashMap;

use hub_core::grants::Grant;
use hub_core::ids::{new_id, now_ms};
use hub_core::money::NanoCredits;
use hub_core::pricing::{ModelRate, UnitCost};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::changes::{record_change_in, ChangeKind};
use crate::db::Store;
use crate::error::StoreError;
use crate::keys::AuditActor;

/// An admin's rate for one `provider/model`, replacing its list price.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RateOverride {
    pub provider: String,
    pub model: String,
    pub rate: ModelRate,
    pub updated_at: i64,
    pub updated_by: String,
}

/// The hub-wide money settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BillingSettings {
    /// Service-provider mode: calls are debited from their user's prepaid credit.
    pub billing_enabled: bool,
    /// Credit granted to each account created while billing is on.
    #[serde(serialize_with = "decimal")]
    pub starter_grant: NanoCredits,
    /// Where a user without credit can buy more (the AIGNE `NOT_ENOUGH` error's `link`).
    pub topup_link: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CreditGrant {
    pub id: String,
    pub user_id: String,
    /// Serialized as a decimal credit string, like every amount the API shows.
    #[serde(serialize_with = "decimal")]
    pub amount: NanoCredits,
    pub expires_at: Option<i64>,
    pub actor: String,
    pub note: Option<String>,
    pub ts: i64,
}

fn decimal<S: serde::Serializer>(n: &NanoCredits, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

impl CreditGrant {
    pub fn live_at(&self, now_ms: i64) -> bool {
        self.expires_at.is_none_or(|t| t > now_ms)
    }
}

/// A user's balance as the database knows it (settled calls only): `granted − spent − expired`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StoredBalance {
    /// Every grant, expired or not.
    pub granted: NanoCredits,
    pub spent: NanoCredits,
    /// The unconsumed remainders of expired grants.
    pub expired: NanoCredits,
}

impl StoredBalance {
    pub fn balance(&self) -> NanoCredits {
        NanoCredits(self.granted.0.saturating_sub(self.spent.0).saturating_sub(self.expired.0))
    }
}

/// One grant and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LedgerGrant {
    #[serde(flatten)]
    pub grant: CreditGrant,
    #[serde(serialize_with = "decimal")]
    pub consumed: NanoCredits,
    /// Lost at expiry: the part no debit had consumed.
    #[serde(serialize_with = "decimal")]
    pub lost: NanoCredits,
    #[serde(serialize_with = "decimal")]
    pub remaining: NanoCredits,
    pub expired: bool,
}

/// A user's grants (oldest first) as the settled debits consumed them, computed at `at_ms`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GrantLedger {
    pub grants: Vec<LedgerGrant>,
    /// Debits no grant covered.
    #[serde(serialize_with = "decimal")]
    pub debt: NanoCredits,
    pub at_ms: i64,
}

impl GrantLedger {
    /// The sum of every grant.
    pub fn granted(&self) -> NanoCredits {
        self.grants.iter().fold(NanoCredits::ZERO, |sum, g| sum.saturating_add(g.grant.amount))
    }

    /// What expired grants took with them.
    pub fn lost(&self) -> NanoCredits {
        self.grants.iter().fold(NanoCredits::ZERO, |sum, g| sum.saturating_add(g.lost))
    }
}

const RATE_COLUMNS: &str = "provider, model, input, output, cached_input, per_image, per_video_second, unit_cost_input, unit_cost_output, \
     unit_cost_cached_input, unit_cost_per_image, updated_at, updated_by";

fn rate_from(r: &AnyRow) -> Result<RateOverride, StoreError> {
    let n = |c: &str| -> Result<NanoCredits, StoreError> { Ok(NanoCredits(r.try_get::<i64, _>(c)?)) };
    Ok(RateOverride {
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        rate: ModelRate {
            input: n("input")?,
            output: n("output")?,
            cached_input: n("cached_input")?,
            per_image: n("per_image")?,
            per_video_second: n("per_video_second")?,
            per_web_search: NanoCredits::ZERO,
            unit_cost: UnitCost {
                input: n("unit_cost_input")?,
                output: n("unit_cost_output")?,
                cached_input: n("unit_cost_cached_input")?,
                per_image: n("unit_cost_per_image")?,
            },
        },
        updated_at: r.try_get("updated_at")?,
        updated_by: r.try_get("updated_by")?,
    })
}

fn grant_from(r: &AnyRow) -> Result<CreditGrant, StoreError> {
    Ok(CreditGrant {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        amount: NanoCredits(r.try_get("amount")?),
        expires_at: r.try_get("expires_at")?,
        actor: r.try_get("actor")?,
        note: r.try_get("note")?,
        ts: r.try_get("ts")?,
    })
}

const SETTING_BILLING: &str = "billing_enabled";
const SETTING_STARTER: &str = "starter_grant";
const SETTING_TOPUP: &str = "topup_link";

impl Store {
    pub async fn list_rates(&self) -> Result<Vec<RateOverride>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {RATE_COLUMNS} FROM model_rates ORDER BY provider, model")).fetch_all(&self.pool).await?;
        rows.iter().map(rate_from).collect()
    }

    /// Sets (or replaces) the rate of `provider/model`, tells every instance, and audits it.
    pub async fn set_rate(&self, provider: &str, model: &str, rate: &ModelRate, who: AuditActor<'_>) -> Result<(), StoreError> {
        rate.validate().map_err(|e| StoreError::Invalid(e.to_string()))?;
        if provider.trim().is_empty() || model.trim().is_empty() {
            return Err(StoreError::Invalid("a rate names a provider and a model".into()));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO model_rates ({RATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (provider, model) DO UPDATE SET input = excluded.input, output = excluded.output, \
             cached_input = excluded.cached_input, per_image = excluded.per_image, per_video_second = excluded.per_video_second, \
             unit_cost_input = excluded.unit_cost_input, unit_cost_output = excluded.unit_cost_output, \
             unit_cost_cached_input = excluded.unit_cost_cached_input, unit_cost_per_image = excluded.unit_cost_per_image, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by"
        ))
        .bind(provider)
        .bind(model)
        .bind(rate.input.0)
        .bind(rate.output.0)
        .bind(rate.cached_input.0)
        .bind(rate.per_image.0)
        .bind(rate.per_video_second.0)
        .bind(rate.unit_cost.input.0)
        .bind(rate.unit_cost.output.0)
        .bind(rate.unit_cost.cached_input.0)
        .bind(rate.unit_cost.per_image.0)
        .bind(now)
        .bind(who.actor)
        .execute(&mut *tx)
        .await?;
        record_change_in(&mut tx, ChangeKind::Rate, &format!("{provider}/{model}"), now).await?;
        tx.commit().await?;
        let detail = format!(
            "input={} output={} cached_input={} per_image={} unit_cost_input={} unit_cost_output={}",
            rate.input, rate.output, rate.cached_input, rate.per_image, rate.unit_cost.input, rate.unit_cost.output
        );
        self.audit(who.actor, "rate.set", Some(&format!("{provider}/{model}")), who.address, Some(&detail)).await
    }

    /// Removes an override (the list price applies again). False when there was none.
    pub async fn delete_rate(&self, provider: &str, model: &str, who: AuditActor<'_>) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM model_rates WHERE provider = $1 AND model = $2").bind(provider).bind(model).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        record_change_in(&mut tx, ChangeKind::Rate, &format!("{provider}/{model}"), now).await?;
        tx.commit().await?;
        self.audit(who.actor, "rate.reset", Some(&format!("{provider}/{model}")), who.address, None).await?;
        Ok(true)
    }

    pub async fn billing_settings(&self) -> Result<BillingSettings, StoreError> {
        let rows = sqlx::query("SELECT name, value FROM settings").fetch_all(&self.pool).await?;
        let mut s = BillingSettings::default();
        for r in rows {
            let name: String = r.try_get("name")?;
            let value: String = r.try_get("value")?;
            match name.as_str() {
                SETTING_BILLING => s.billing_enabled = value == "1",
                SETTING_STARTER => s.starter_grant = NanoCredits(value.parse().unwrap_or(0)),
                SETTING_TOPUP => s.topup_link = Some(value).filter(|v| !v.is_empty()),
                _ => {}
            }
        }
        Ok(s)
    }

    /// Replaces the money settings, tells every instance, and audits the change.
    pub async fn set_billing_settings(&self, s: &BillingSettings, who: AuditActor<'_>) -> Result<(), StoreError> {
        if s.starter_grant.0 < 0 {
            return Err(StoreError::Invalid("the starter grant must not be negative".into()));
        }
        if let Some(link) = &s.topup_link {
            if !(link.starts_with("https://") || link.starts_with("http://")) || link.chars().any(char::is_whitespace) {
                return Err(StoreError::Invalid("the top-up link must be an http(s) URL".into()));
            }
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let values = [
            (SETTING_BILLING, if s.billing_enabled { "1".to_owned() } else { "0".to_owned() }),
            (SETTING_STARTER, s.starter_grant.0.to_string()),
            (SETTING_TOPUP, s.topup_link.clone().unwrap_or_default()),
        ];
        for (name, value) in values {
            sqlx::query(
                "INSERT INTO settings (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        record_change_in(&mut tx, ChangeKind::Settings, "billing", now).await?;
        tx.commit().await?;
        let detail = format!(
            "billing_enabled={} starter_grant={} topup_link={}",
            s.billing_enabled,
            s.starter_grant,
            s.topup_link.as_deref().unwrap_or("-")
        );
        self.audit(who.actor, "billing.updated", None, who.address, Some(&detail)).await
    }

    /// Grants `amount` credits to a user, tells every instance, and audits it.
    pub async fn grant_credit(
        &self,
        user_id: &str,
        amount: NanoCredits,
        expires_at: Option<i64>,
        note: Option<&str>,
        who: AuditActor<'_>,
    ) -> Result<CreditGrant, StoreError> {
        if amount.0 <= 0 {
            return Err(StoreError::Invalid("a grant must be a positive amount".into()));
        }
        let now = now_ms();
        if expires_at.is_some_and(|t| t <= now) {
            return Err(StoreError::Invalid("the grant's expiry must be in the future".into()));
        }
        let grant = CreditGrant {
            id: new_id("grant"),
            user_id: user_id.to_owned(),
            amount,
            expires_at,
            actor: who.actor.to_owned(),
            note: note.map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect()),
            ts: now,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO credit_grants (id, user_id, amount, expires_at, actor, note, ts) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&grant.id)
            .bind(&grant.user_id)
            .bind(grant.amount.0)
            .bind(grant.expires_at)
            .bind(&grant.actor)
            .bind(grant.note.clone())
            .bind(grant.ts)
            .execute(&mut *tx)
            .await?;
        record_change_in(&mut tx, ChangeKind::Credit, user_id, now).await?;
        tx.commit().await?;
        let detail = format!("amount={} expires={}", amount, expires_at.map_or_else(|| "-".to_owned(), hub_core::scopes::format_rfc3339_ms));
        self.audit(who.actor, "credit.granted", Some(user_id), who.address, Some(&detail)).await?;
        Ok(grant)
    }

    /// The starter grant of a new account, when credit billing is on and one is configured.
    pub async fn grant_starter_credit(&self, user_id: &str) -> Result<(), StoreError> {
        let s = self.billing_settings().await?;
        if s.billing_enabled && s.starter_grant.0 > 0 {
            self.grant_credit(user_id, s.starter_grant, None, Some("starter grant"), AuditActor { actor: "system", address: None }).await?;
        }
        Ok(())
    }

    /// Every grant of one user, newest first.
    pub async fn grants_of(&self, user_id: &str) -> Result<Vec<CreditGrant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM credit_grants WHERE user_id = $1 ORDER BY ts DESC, id").bind(user_id).fetch_all(&self.pool).await?;
        rows.iter().map(grant_from).collect()
    }

    /// Every grant, for loading at start.
    pub async fn all_grants(&self) -> Result<Vec<CreditGrant>, StoreError> {
        let rows = sqlx::query("SELECT * FROM credit_grants ORDER BY ts, id").fetch_all(&self.pool).await?;
        rows.iter().map(grant_from).collect()
    }

    /// Credits debited from each user's balance (their `billed` usage records).
    pub async fn billed_by_user(&self) -> Result<HashMap<String, NanoCredits>, StoreError> {
        let rows = sqlx::query("SELECT user_id, CAST(SUM(credits) AS BIGINT) AS spent FROM usage_records WHERE billed = 1 GROUP BY user_id").fetch_all(&self.pool).await?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            out.insert(r.try_get("user_id")?, NanoCredits(r.try_get::<Option<i64>, _>("spent")?.unwrap_or(0)));
        }
        Ok(out)
    }

    /// Credits of a key's usage records that started at or after `since_ms`.
    pub async fn key_spent_since(&self, key_id: &str, since_ms: i64) -> Result<NanoCredits, StoreError> {
        let r = sqlx::query("SELECT CAST(SUM(credits) AS BIGINT) AS spent FROM usage_records WHERE key_id = $1 AND ts >= $2")
            .bind(key_id)
            .bind(since_ms)
            .fetch_one(&self.pool)
            .await?;
        Ok(NanoCredits(r.try_get::<Option<i64>, _>("spent")?.unwrap_or(0)))
    }

    /// A user's grants as their settled debits consumed them at `now_ms`: one sum of billed
    /// credits per interval between the grants' creation and expiry times.
    pub async fn grant_ledger(&self, user_id: &str, now_ms: i64) -> Result<GrantLedger, StoreError> {
        let mut grants = self.grants_of(user_id).await?;
        grants.reverse();
        let shape: Vec<Grant> = grants.iter().map(|g| Grant { amount: g.amount.0, created_ms: g.ts, expires_ms: g.expires_at }).collect();
        let times = hub_core::grants::boundaries(&shape);
        let mut debits = Vec::with_capacity(times.len() + 1);
        for i in 0..=times.len() {
            let from = if i == 0 { i64::MIN } else { times[i - 1] };
            let to = times.get(i).copied().unwrap_or(i64::MAX);
            let n = sqlx::query("SELECT CAST(SUM(credits) AS BIGINT) AS n FROM usage_records WHERE user_id = $1 AND billed = 1 AND ts >= $2 AND ts < $3")
                .bind(user_id)
                .bind(from)
                .bind(to)
                .fetch_one(&self.pool)
                .await?
                .try_get::<Option<i64>, _>("n")?
                .unwrap_or(0);
            debits.push(n);
        }
        let allocation = hub_core::grants::allocate(&shape, &debits, now_ms);
        let grants = grants
            .into_iter()
            .zip(allocation.grants)
            .map(|(grant, u)| LedgerGrant {
                grant,
                consumed: NanoCredits(u.consumed),
                lost: NanoCredits(u.lost),
                remaining: NanoCredits(u.remaining),
                expired: u.expired,
            })
            .collect();
        Ok(GrantLedger { grants, debt: NanoCredits(allocation.debt), at_ms: now_ms })
    }

    /// A user's balance from settled records: every grant, the billed credits, and what
    /// expired grants lost.
    pub async fn stored_balance(&self, user_id: &str, now_ms: i64) -> Result<StoredBalance, StoreError> {
        let ledger = self.grant_ledger(user_id, now_ms).await?;
        let spent = sqlx::query("SELECT CAST(SUM(credits) AS BIGINT) AS n FROM usage_records WHERE user_id = $1 AND billed = 1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await?
            .try_get::<Option<i64>, _>("n")?
            .unwrap_or(0);
        Ok(StoredBalance { granted: ledger.granted(), spent: NanoCredits(spent), expired: ledger.lost() })
    }
}
