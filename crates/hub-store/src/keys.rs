//! API keys: a logical key (name, owner, type, counters) and its secrets (one, or two during a
//! rotation's grace period). Only `HMAC-SHA256(pepper, key)` of a secret is stored.

use hub_core::ids::{new_id, now_ms};
use hub_core::key::KeyHash;
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
}

impl KeyInfo {
    pub fn status(&self) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        }
    }
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

const SECRET_COLUMNS: &str = "s.kid, s.key_id, s.secret_hash, s.expires_at, k.owner_id, k.name, k.key_type, k.revoked_at, u.disabled";
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
    })
}

const INFO_SELECT: &str = "SELECT k.id, k.name, k.key_type, k.owner_id, u.email, k.created_at, k.revoked_at, k.last_used_at, \
     k.last_used_ip, k.request_count, k.tokens_in, k.tokens_out, s.kid, s.hint \
     FROM api_keys k JOIN users u ON u.id = k.owner_id \
     JOIN api_key_secrets s ON s.key_id = k.id AND s.created_at = (SELECT MAX(s2.created_at) FROM api_key_secrets s2 WHERE s2.key_id = k.id)";

fn info_from(r: &AnyRow) -> Result<KeyInfo, StoreError> {
    Ok(KeyInfo {
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

pub struct NewKey<'a> {
    pub owner_id: &'a str,
    pub name: &'a str,
    pub key_type: KeyType,
    pub kid: &'a str,
    pub hash: &'a KeyHash,
    pub hint: &'a str,
}

impl Store {
    pub async fn create_key(&self, new: NewKey<'_>) -> Result<KeyInfo, StoreError> {
        let name = normalize_key_name(new.name)?;
        let mut tx = self.pool.begin().await?;
        let taken = sqlx::query("SELECT 1 AS x FROM api_keys WHERE owner_id = $1 AND name = $2 AND revoked_at IS NULL")
            .bind(new.owner_id)
            .bind(&name)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict(format!("an active key named {name:?} already exists")));
        }
        let id = new_id("key");
        let now = now_ms();
        sqlx::query("INSERT INTO api_keys (id, owner_id, name, key_type, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(new.owner_id)
            .bind(&name)
            .bind(new.key_type.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO api_key_secrets (kid, key_id, secret_hash, hint, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(new.kid)
            .bind(&id)
            .bind(new.hash.0.to_vec())
            .bind(new.hint)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        record_change_in(&mut tx, ChangeKind::Key, &id, now).await?;
        tx.commit().await?;
        self.key_info(&id).await?.ok_or(StoreError::NotFound("key"))
    }

    pub async fn key_info(&self, key_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = sqlx::query(&format!("{INFO_SELECT} WHERE k.id = $1")).bind(key_id).fetch_optional(&self.pool).await?;
        row.as_ref().map(info_from).transpose()
    }

    /// Finds a key by the kid of any of its secrets, or by its id.
    pub async fn key_by_ref(&self, kid_or_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        let row = sqlx::query("SELECT key_id FROM api_key_secrets WHERE kid = $1").bind(kid_or_id).fetch_optional(&self.pool).await?;
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
        let mut tx = self.pool.begin().await?;
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

    /// Every secret of every key, for warming the in-memory directory at start.
    pub async fn all_secrets(&self) -> Result<Vec<StoredSecret>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {SECRET_COLUMNS} FROM {SECRET_FROM}")).fetch_all(&self.pool).await?;
        rows.iter().map(secret_from).collect()
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
    pub async fn issue_key(
        &self,
        pepper: &hub_core::Pepper,
        owner_id: &str,
        name: &str,
        key_type: KeyType,
        actor: &str,
        address: Option<&str>,
    ) -> Result<IssuedKey, StoreError> {
        let key = hub_core::ApiKey::generate(&mut rand::rngs::OsRng, key_type);
        let hash = key.hash(pepper);
        let hint = key.hint();
        let info = self
            .create_key(NewKey { owner_id, name, key_type, kid: key.kid(), hash: &hash, hint: &hint })
            .await?;
        self.audit(actor, "key.created", Some(&info.kid), address, Some(&format!("name={:?} type={}", info.name, info.key_type)))
            .await?;
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
