//! API keys: a logical key (name, owner, type, counters) and its secrets (one, or two during a
//! rotation's grace period). Only `HMAC-SHA256(pepper, key)` of a secret is stored.

use futures::TryStreamExt;
use hub_core::ids::{new_id, now_ms};
use hub_core::key::KeyHash;
use hub_core::budget::{Budget, BudgetPeriod};
use hub_core::money::NanoCredits;
use hub_core::scopes::{self, KeyPolicy};
use hub_core::KeyType;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::changes::{record_change_in, ChangeKind};
use crate::db::Store;
use crate::error::StoreError;

pub const MAX_KEY_NAME: usize = 64;

/// What the hot path needs to decide on a presented secret.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub kid: String,
    pub key_id: String,
    pub hash: KeyHash,
    pub owner_id: String,
    pub key_name: String,
    pub key_type: KeyType,
    pub revoked_at: Option<i64>,
    /// End of a rotation's grace period for a superseded secret.
    pub expires_at: Option<i64>,
    pub owner_disabled: bool,
    /// The key's scopes, limits and expiry, parsed once when the secret is loaded.
    pub policy: KeyPolicy,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub kid: String,
    pub hint: String,
    pub name: String,
    pub key_type: String,
    pub owner_id: String,
    pub owner_email: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub request_count: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub models: Vec<String>,
    pub endpoints: Vec<&'static str>,
    pub ips: Vec<String>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_concurrency: Option<u32>,
    /// Unix milliseconds after which the key is refused.
    pub expires_at: Option<i64>,
    /// The budget in credits (decimal) and its period, when the key has one.
    pub budget: Option<String>,
    pub budget_period: Option<&'static str>,
    /// End of the grace period of the secret a rotation replaced, while it still works.
    pub previous_secret_until: Option<i64>,
    /// Set when the hub manages the key for its owner: `playground`, the key the Playground
    /// page calls models with (its secret was never shown to anyone).
    pub managed: Option<String>,
    #[serde(skip)]
    pub policy: KeyPolicy,
}

impl KeyInfo {
    pub fn status(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|t| t <= now_ms()) {
            "expired"
        } else {
            "active"
        }
    }
}

/// Reads the scope columns of an `api_keys` row.
fn policy_from(r: &AnyRow) -> Result<KeyPolicy, StoreError> {
    let list = |col: &str| -> Result<Vec<String>, StoreError> {
        let v: Option<String> = r.try_get(col)?;
        Ok(v.map(|t| vec![t]).unwrap_or_default())
    };
    let invalid = |e: scopes::ScopeError| StoreError::Invalid(format!("stored key scope is invalid: {e}"));
    let num = |col: &str| -> Result<Option<i64>, StoreError> { Ok(r.try_get::<Option<i64>, _>(col)?) };
    Ok(KeyPolicy {
        models: scopes::parse_model_patterns(&list("allowed_models")?).map_err(invalid)?,
        endpoints: scopes::parse_endpoints(&list("allowed_endpoints")?).map_err(invalid)?,
        ips: scopes::parse_nets(&list("allowed_ips")?).map_err(invalid)?,
        rpm: num("rpm_limit")?.and_then(|n| u32::try_from(n).ok()),
        tpm: num("tpm_limit")?.and_then(|n| u64::try_from(n).ok()),
        max_concurrency: num("max_concurrency")?.and_then(|n| u32::try_from(n).ok()),
        expires_at: num("key_expires_at")?,
        budget: budget_from(r)?,
    })
}

/// Reads the budget columns of an `api_keys` row.
fn budget_from(r: &AnyRow) -> Result<Option<Budget>, StoreError> {
    let Some(limit) = r.try_get::<Option<i64>, _>("budget")? else { return Ok(None) };
    let period: Option<String> = r.try_get("budget_period")?;
    let period = BudgetPeriod::parse(period.as_deref().unwrap_or("total")).map_err(|e| StoreError::Invalid(format!("stored key budget is invalid: {e}")))?;
    let since_ms = r.try_get::<Option<i64>, _>("budget_since")?.unwrap_or(0);
    Ok(Some(Budget { limit: NanoCredits(limit), period, since_ms }))
}

/// Empty lists are stored as NULL ("no restriction").
fn list_text(items: Vec<String>) -> Option<String> {
    (!items.is_empty()).then(|| items.join(","))
}

/// Names are trimmed, 1–64 printable characters.
pub fn normalize_key_name(name: &str) -> Result<String, StoreError> {
    let n = name.trim();
    if n.is_empty() {
        return Err(StoreError::Invalid("the key needs a name".into()));
    }
    if n.chars().count() > MAX_KEY_NAME {
        return Err(StoreError::Invalid(format!("the key name must be at most {MAX_KEY_NAME} characters")));
    }
    if n.chars().any(char::is_control) {
        return Err(StoreError::Invalid("the key name must not contain control characters".into()));
    }
    Ok(n.to_owned())
}

const SECRET_COLUMNS: &str = "s.kid, s.key_id, s.secret_hash, s.expires_at, k.owner_id, k.name, k.key_type, k.revoked_at, u.disabled, \
     k.allowed_models, k.allowed_endpoints, k.allowed_ips, k.rpm_limit, k.tpm_limit, k.max_concurrency, k.expires_at AS key_expires_at, \
     k.budget, k.budget_period, k.budget_since";
const SECRET_FROM: &str = "api_key_secrets s JOIN api_keys k ON k.id = s.key_id JOIN users u ON u.id = k.owner_id";

fn secret_from(r: &AnyRow) -> Result<StoredSecret, StoreError> {
    let hash: Vec<u8> = r.try_get("secret_hash")?;
    let hash: [u8; 32] = hash.try_into().map_err(|_| StoreError::Invalid("stored key hash has the wrong length".into()))?;
    let key_type: String = r.try_get("key_type")?;
    Ok(StoredSecret {
        kid: r.try_get("kid")?,
        key_id: r.try_get("key_id")?,
        hash: KeyHash(hash),
        owner_id: r.try_get("owner_id")?,
        key_name: r.try_get("name")?,
        key_type: KeyType::parse(&key_type).unwrap_or(KeyType::Inference),
        revoked_at: r.try_get("revoked_at")?,
        expires_at: r.try_get("expires_at")?,
        owner_disabled: r.try_get::<i64, _>("disabled")? != 0,
        policy: policy_from(r)?,
    })
}

const INFO_SELECT: &str = "SELECT k.id, k.name, k.key_type, k.owner_id, u.email, k.created_at, k.revoked_at, k.last_used_at, \
     k.last_used_ip, k.request_count, k.tokens_in, k.tokens_out, s.kid, s.hint, \
     k.allowed_models, k.allowed_endpoints, k.allowed_ips, k.rpm_limit, k.tpm_limit, k.max_concurrency, k.expires_at AS key_expires_at, \
     k.budget, k.budget_period, k.budget_since, k.managed, \
     (SELECT MAX(s3.expires_at) FROM api_key_secrets s3 WHERE s3.key_id = k.id) AS grace_until \
     FROM api_keys k JOIN users u ON u.id = k.owner_id \
     JOIN api_key_secrets s ON s.key_id = k.id AND s.created_at = (SELECT MAX(s2.created_at) FROM api_key_secrets s2 WHERE s2.key_id = k.id)";

fn info_from(r: &AnyRow) -> Result<KeyInfo, StoreError> {
    let policy = policy_from(r)?;
    let grace_until: Option<i64> = r.try_get("grace_until")?;
    Ok(KeyInfo {
        models: policy.models.clone(),
        endpoints: policy.endpoints.iter().map(|e| e.as_str()).collect(),
        ips: policy.ips.iter().map(ToString::to_string).collect(),
        rpm: policy.rpm,
        tpm: policy.tpm,
        max_concurrency: policy.max_concurrency,
        expires_at: policy.expires_at,
        budget: policy.budget.map(|b| b.limit.to_string()),
        budget_period: policy.budget.map(|b| b.period.as_str()),
        previous_secret_until: grace_until.filter(|t| *t > now_ms()),
        managed: r.try_get("managed")?,
        policy,
        id: r.try_get("id")?,
        kid: r.try_get("kid")?,
        hint: r.try_get("hint")?,
        name: r.try_get("name")?,
        key_type: r.try_get("key_type")?,
        owner_id: r.try_get("owner_id")?,
        owner_email: r.try_get("email")?,
        created_at: r.try_get("created_at")?,
        revoked_at: r.try_get("revoked_at")?,
        last_used_at: r.try_get("last_used_at")?,
        last_used_ip: r.try_get("last_used_ip")?,
        request_count: r.try_get("request_count")?,
        tokens_in: r.try_get("tokens_in")?,
        tokens_out: r.try_get("tokens_out")?,
    })
}

/// The `managed` mark of the Playground key.
pub const MANAGED_PLAYGROUND: &str = "playground";
/// The Playground key's name in its owner's key list.
pub const PLAYGROUND_KEY_NAME: &str = "Playground (managed by the hub)";

/// Inserts a key and its first secret in the caller's transaction; answers the key's id.
/// Whether the owner already has an active key of that name: one lookup in
/// `api_keys_owner_active_name`, however many keys the owner has made.
const ACTIVE_NAME_TAKEN: &str = "SELECT 1 AS x FROM api_keys WHERE owner_id = $1 AND name = $2 AND revoked_at IS NULL";

async fn insert_key(tx: &mut sqlx::Transaction<'static, sqlx::Any>, new: &NewKey<'_>, managed: Option<&str>) -> Result<String, StoreError> {
    let name = normalize_key_name(new.name)?;
    let taken = sqlx::query(ACTIVE_NAME_TAKEN)
        .bind(new.owner_id)
        .bind(&name)
        .fetch_optional(&mut **tx)
        .await?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!("an active key named {name:?} already exists")));
    }
    let id = new_id("key");
    let now = now_ms();
    sqlx::query("INSERT INTO api_keys (id, owner_id, name, key_type, created_at, managed) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(new.owner_id)
        .bind(&name)
        .bind(new.key_type.as_str())
        .bind(now)
        .bind(managed)
        .execute(&mut **tx)
        .await?;
    write_policy(&mut *tx, &id, new.policy).await?;
    sqlx::query("INSERT INTO api_key_secrets (kid, key_id, secret_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new.kid)
        .bind(&id)
        .bind(new.hash.0.to_vec())
        .bind(new.hint)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    record_change_in(&mut *tx, ChangeKind::Key, &id, now).await?;
    Ok(id)
}

pub struct NewKey<'a> {
    pub owner_id: &'a str,
    pub name: &'a str,
    pub key_type: KeyType,
    pub kid: &'a str,
    pub hash: &'a KeyHash,
    pub hint: &'a str,
    pub policy: &'a KeyPolicy,
}

/// The `api_keys` rows whose budget still counts (a budget set, the key not revoked), as SQL:
/// the keys whose spending is loaded at start and whose window's records retention keeps.
macro_rules! budget_counts {
    () => {
        "budget IS NOT NULL AND revoked_at IS NULL"
    };
}
pub(crate) use budget_counts;

impl Store {
    pub async fn create_key(&self, new: NewKey<'_>) -> Result<KeyInfo, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = insert_key(&mut tx, &new, None).await?;
        tx.commit().await?;
        self.key_info(&id).await?.ok_or(StoreError::NotFound("key"))
    }

    /// The owner's active Playground key, created on first use: an inference key limited to chat
    /// whose secret is generated, HMACed like any other and dropped; the hub calls models with
    /// its principal directly. Concurrent first uses end with one key: a unique index allows one
    /// active managed key per user and kind, and the first use that loses reads the winner's.
    pub async fn playground_key(&self, pepper: &hub_core::Pepper, owner_id: &str) -> Result<KeyInfo, StoreError> {
        if let Some(id) = self.managed_key_id(owner_id, MANAGED_PLAYGROUND).await? {
            return self.key_info(&id).await?.ok_or(StoreError::NotFound("key"));
        }
        let made = self.create_playground_key(pepper, owner_id).await;
        let id = match made {
            Ok(id) => id,
            // Another first use won the race (the unique index refused the second key).
            Err(e) => self.managed_key_id(owner_id, MANAGED_PLAYGROUND).await?.ok_or(e)?,
        };
        self.key_info(&id).await?.ok_or(StoreError::NotFound("key"))
    }

    async fn create_playground_key(&self, pepper: &hub_core::Pepper, owner_id: &str) -> Result<String, StoreError> {
        let key = hub_core::ApiKey::generate(&mut rand::rngs::OsRng, KeyType::Inference);
        let hash = key.hash(pepper);
        let hint = key.hint();
        let policy = KeyPolicy { endpoints: vec![scopes::Endpoint::Chat], ..KeyPolicy::default() };
        let new = NewKey { owner_id, name: PLAYGROUND_KEY_NAME, key_type: KeyType::Inference, kid: key.kid(), hash: &hash, hint: &hint, policy: &policy };
        let mut tx = self.begin_write().await?;
        let id = insert_key(&mut tx, &new, Some(MANAGED_PLAYGROUND)).await?;
        tx.commit().await?;
        self.audit("hub", "key.created", Some(key.kid()), None, Some(&format!("name={PLAYGROUND_KEY_NAME:?} type=inference managed=playground"))).await?;
        Ok(id)
    }

    /// The owner's active Playground key, if the Playground made one.
    pub async fn find_playground_key(&self, owner_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        match self.managed_key_id(owner_id, MANAGED_PLAYGROUND).await? {
            Some(id) => self.key_info(&id).await,
            None => Ok(None),
        }
    }

    async fn managed_key_id(&self, owner_id: &str, managed: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id FROM api_keys WHERE owner_id = $1 AND managed = $2 AND revoked_at IS NULL LIMIT 1")
            .bind(owner_id)
            .bind(managed)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| r.try_get::<String, _>("id")).transpose().map_err(StoreError::from)
    }

    pub async fn key_info(&self, key_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = sqlx::query(&format!("{INFO_SELECT} WHERE k.id = $1")).bind(key_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(info_from).transpose()
    }

    /// Finds a key by the kid of any of its secrets, or by its id.
    pub async fn key_by_ref(&self, kid_or_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = sqlx::query("SELECT key_id FROM api_key_secrets WHERE kid = $1 LIMIT 1").bind(kid_or_id).fetch_optional(&self.pool).await?;
        let id = match row {
            Some(r) => r.try_get::<String, _>("key_id")?,
            None => kid_or_id.to_owned(),
        };
        self.key_info(&id).await
    }

    /// Keys, newest first; only the owner's when `owner_id` is given.
    pub async fn list_keys(&self, owner_id: Option<&str>) -> Result<Vec<KeyInfo>, StoreError> {
        let rows = match owner_id {
            Some(o) => sqlx::query(&format!("{INFO_SELECT} WHERE k.owner_id = $1 ORDER BY k.created_at DESC, k.id"))
                .bind(o)
                .fetch_all(&self.pool)
                .await?,
            None => sqlx::query(&format!("{INFO_SELECT} ORDER BY k.created_at DESC, k.id")).fetch_all(&self.pool).await?,
        };
        rows.iter().map(info_from).collect()
    }

    /// Revokes a key (all its secrets). Returns false if it was already revoked.
    pub async fn revoke_key(&self, key_id: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        if res.rows_affected() == 1 {
            record_change_in(&mut tx, ChangeKind::Key, key_id, now).await?;
        }
        tx.commit().await?;
        Ok(res.rows_affected() == 1)
    }

    pub async fn secret_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredSecret>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SECRET_COLUMNS} FROM {SECRET_FROM} WHERE s.secret_hash = $1"))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(secret_from).transpose()
    }

    pub async fn secrets_of_key(&self, key_id: &str) -> Result<Vec<StoredSecret>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {SECRET_COLUMNS} FROM {SECRET_FROM} WHERE s.key_id = $1"))
            .bind(key_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(secret_from).collect()
    }

    pub async fn secrets_of_user(&self, user_id: &str) -> Result<Vec<StoredSecret>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {SECRET_COLUMNS} FROM {SECRET_FROM} WHERE k.owner_id = $1"))
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(secret_from).collect()
    }

    /// Every secret of every key, for warming the in-memory directory at start. Rows are
    /// turned into secrets as they arrive: with 100,000 keys, holding every row first would
    /// more than double what start-up needs, and the allocator keeps that high-water mark.
    pub async fn all_secrets(&self) -> Result<Vec<StoredSecret>, StoreError> {
        let sql = format!("SELECT {SECRET_COLUMNS} FROM {SECRET_FROM}");
        let mut rows = sqlx::query(&sql).fetch(&self.pool);
        let mut secrets = Vec::new();
        while let Some(row) = rows.try_next().await? {
            secrets.push(secret_from(&row)?);
        }
        Ok(secrets)
    }

    /// Every unrevoked key with a budget, for loading budget spending at start.
    pub async fn budgeted_keys(&self) -> Result<Vec<(String, Budget)>, StoreError> {
        let rows = sqlx::query(concat!("SELECT id, budget, budget_period, budget_since FROM api_keys WHERE ", budget_counts!()))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(b) = budget_from(r)? {
                out.push((r.try_get("id")?, b));
            }
        }
        Ok(out)
    }

    pub async fn notify_key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        self.record_change(ChangeKind::Key, key_id).await
    }
}

/// A freshly issued key: the only moment the full key exists outside the caller's hands.
pub struct IssuedKey {
    pub key: hub_core::ApiKey,
    pub info: KeyInfo,
}

impl Store {
    /// Generates a key from the OS CSPRNG, stores only its HMAC, and records the audit event.
    #[expect(clippy::too_many_arguments, reason = "each argument is one field of the new key; a struct would only rename them")]
    pub async fn issue_key(
        &self,
        pepper: &hub_core::Pepper,
        owner_id: &str,
        name: &str,
        key_type: KeyType,
        policy: &KeyPolicy,
        actor: &str,
        address: Option<&str>,
    ) -> Result<IssuedKey, StoreError> {
        let key = hub_core::ApiKey::generate(&mut rand::rngs::OsRng, key_type);
        let hash = key.hash(pepper);
        let hint = key.hint();
        let info = self
            .create_key(NewKey { owner_id, name, key_type, kid: key.kid(), hash: &hash, hint: &hint, policy })
            .await?;
        let detail = format!("name={:?} type={} {}", info.name, info.key_type, policy_summary(policy));
        self.audit(actor, "key.created", Some(&info.kid), address, Some(&detail)).await?;
        Ok(IssuedKey { key, info })
    }

    /// Revokes the key named by a kid or id, and records the audit event.
    pub async fn revoke_key_audited(&self, kid_or_id: &str, actor: &str, address: Option<&str>) -> Result<KeyInfo, StoreError> {
        let info = self.key_by_ref(kid_or_id).await?.ok_or(StoreError::NotFound("key"))?;
        if self.revoke_key(&info.id).await? {
            self.audit(actor, "key.revoked", Some(&info.kid), address, Some(&format!("name={:?}", info.name))).await?;
        }
        self.key_info(&info.id).await?.ok_or(StoreError::NotFound("key"))
    }
}

/// Writes a key's scope columns inside the caller's transaction.
async fn write_policy(conn: &mut sqlx::AnyConnection, key_id: &str, p: &KeyPolicy) -> Result<(), StoreError> {
    p.validate().map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query(
        "UPDATE api_keys SET allowed_models = $1, allowed_endpoints = $2, allowed_ips = $3, rpm_limit = $4, tpm_limit = $5, \
         max_concurrency = $6, expires_at = $7, budget = $8, budget_period = $9, budget_since = $10 WHERE id = $11",
    )
    .bind(list_text(p.models.clone()))
    .bind(list_text(p.endpoints.iter().map(|e| e.as_str().to_owned()).collect()))
    .bind(list_text(p.ips.iter().map(ToString::to_string).collect()))
    .bind(p.rpm.map(i64::from))
    .bind(p.tpm.and_then(|n| i64::try_from(n).ok()))
    .bind(p.max_concurrency.map(i64::from))
    .bind(p.expires_at)
    .bind(p.budget.map(|b| b.limit.0))
    .bind(p.budget.map(|b| b.period.as_str().to_owned()))
    .bind(p.budget.map(|b| b.since_ms))
    .bind(key_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A short, secret-free description of a policy for the audit log.
pub fn policy_summary(p: &KeyPolicy) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    format!(
        "models=[{}] endpoints=[{}] ips=[{}] rpm={} tpm={} max_concurrency={} expires={} budget={}",
        p.models_text(),
        p.endpoints_text(),
        p.ips_text(),
        opt(p.rpm.map(|n| n.to_string())),
        opt(p.tpm.map(|n| n.to_string())),
        opt(p.max_concurrency.map(|n| n.to_string())),
        opt(p.expires_at.map(scopes::format_rfc3339_ms)),
        opt(p.budget.map(|b| format!("{}/{}", b.limit, b.period.as_str()))),
    )
}

/// Who did something, and from where, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct AuditActor<'a> {
    pub actor: &'a str,
    pub address: Option<&'a str>,
}

impl Store {
    /// Replaces a key's scopes and limits, records the change for every instance, and audits it.
    pub async fn update_key_policy(&self, kid_or_id: &str, policy: &KeyPolicy, who: AuditActor<'_>) -> Result<KeyInfo, StoreError> {
        let info = self.key_by_ref(kid_or_id).await?.ok_or(StoreError::NotFound("key"))?;
        if info.revoked_at.is_some() {
            return Err(StoreError::Conflict("the key is revoked".into()));
        }
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        write_policy(&mut tx, &info.id, policy).await?;
        record_change_in(&mut tx, ChangeKind::Key, &info.id, now).await?;
        tx.commit().await?;
        self.audit(who.actor, "key.updated", Some(&info.kid), who.address, Some(&policy_summary(policy))).await?;
        self.key_info(&info.id).await?.ok_or(StoreError::NotFound("key"))
    }

    /// Issues a new secret, with its own kid, for the same logical key (same id, name, scopes,
    /// budget and history). The secret in use keeps working for `grace_ms`, then is refused; a
    /// secret still in an earlier grace period ends now, so a key never has more than two live
    /// secrets. A kid names one secret: logs and usage records say which secret was used.
    pub async fn rotate_key(&self, pepper: &hub_core::Pepper, kid_or_id: &str, grace_ms: i64, who: AuditActor<'_>) -> Result<IssuedKey, StoreError> {
        let info = self.key_by_ref(kid_or_id).await?.ok_or(StoreError::NotFound("key"))?;
        if info.revoked_at.is_some() {
            return Err(StoreError::Conflict("a revoked key cannot be rotated".into()));
        }
        if info.managed.is_some() {
            // A new secret would be shown once; a managed key's secret is never shown.
            return Err(StoreError::Invalid("the Playground key is managed by the hub and has no secret to rotate; revoke it and the Playground creates a new one".into()));
        }
        let key_type = KeyType::parse(&info.key_type).unwrap_or(KeyType::Inference);
        let key = hub_core::ApiKey::generate(&mut rand::rngs::OsRng, key_type);
        let hash = key.hash(pepper);
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE api_key_secrets SET expires_at = $1 WHERE key_id = $2 AND expires_at IS NOT NULL AND expires_at > $1")
            .bind(now)
            .bind(&info.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE api_key_secrets SET expires_at = $1 WHERE key_id = $2 AND expires_at IS NULL")
            .bind(now.saturating_add(grace_ms))
            .bind(&info.id)
            .execute(&mut *tx)
            .await?;
        // Created later than any earlier secret, so it is the key's current one.
        let newest: Option<i64> = sqlx::query("SELECT MAX(created_at) AS t FROM api_key_secrets WHERE key_id = $1")
            .bind(&info.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("t")?;
        let created = newest.map_or(now, |t| now.max(t + 1));
        sqlx::query("INSERT INTO api_key_secrets (kid, key_id, secret_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(key.kid())
            .bind(&info.id)
            .bind(hash.0.to_vec())
            .bind(key.hint())
            .bind(created)
            .execute(&mut *tx)
            .await?;
        record_change_in(&mut tx, ChangeKind::Key, &info.id, now).await?;
        tx.commit().await?;
        let detail = format!("new_kid={} grace={}s", key.kid(), grace_ms / 1000);
        self.audit(who.actor, "key.rotated", Some(&info.kid), who.address, Some(&detail)).await?;
        let info = self.key_info(&info.id).await?.ok_or(StoreError::NotFound("key"))?;
        Ok(IssuedKey { key, info })
    }

    /// The audit entries about one logical key (under any of its secrets' kids), newest first.
    pub async fn key_audit(&self, key_id: &str, limit: i64) -> Result<Vec<crate::users::AuditEntry>, StoreError> {
        self.audit_entries_for_key(key_id, limit).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    /// Creating a key must cost the same for an owner with one key or a hundred thousand: the
    /// name check is answered by its index, not by reading the owner's keys.
    #[tokio::test]
    async fn the_active_name_check_is_one_index_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).await.unwrap();
        let plan = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", ACTIVE_NAME_TAKEN.replace("$1", "'u'").replace("$2", "'n'")))
            .fetch_all(&store.pool)
            .await
            .unwrap();
        let detail: Vec<String> = plan.iter().map(|r| r.try_get::<String, _>("detail").unwrap()).collect();
        assert!(
            detail.iter().any(|d| d.contains("api_keys_owner_active_name (owner_id=? AND name=?)")),
            "plan: {detail:?}"
        );
    }
}
