//! Providers and their credentials. Credentials are sealed before they reach SQL and are never
//! returned in clear by anything but the in-memory directory that calls upstreams.

use hub_core::ids::{new_id, now_ms};
use hub_core::{ProviderKind, Secret};
use sqlx::Row;

use crate::changes::{record_change_in, ChangeKind};
use crate::crypto::{self, Sealed, MASTER_KEY_VERSION};
use crate::db::Store;
use crate::error::StoreError;
use crate::secrets::ServerSecret;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub enabled: bool,
    pub created_at: i64,
    pub credentials: Vec<CredentialInfo>,
}

/// A credential as any API shows it: masked.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CredentialInfo {
    pub id: String,
    pub hint: String,
    pub weight: i64,
    pub enabled: bool,
    pub created_at: i64,
}

/// A decrypted credential, for the provider directory only.
#[derive(Debug, Clone)]
pub struct OpenCredential {
    pub id: String,
    pub secret: Secret,
    pub weight: u32,
}

/// Provider names are a known provider (`openai`) or `custom:<label>`.
pub fn parse_provider_name(name: &str) -> Result<(String, ProviderKind), StoreError> {
    let lower = name.trim().to_ascii_lowercase();
    if let Some(label) = lower.strip_prefix("custom:") {
        let ok = !label.is_empty() && label.len() <= 40 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(StoreError::Invalid("a custom provider is named custom:<label>, with letters, digits, - or _".into()));
        }
        return Ok((lower, ProviderKind::Custom));
    }
    match ProviderKind::parse(&lower) {
        Some(ProviderKind::Custom) | None => Err(StoreError::Invalid(format!(
            "unknown provider {name:?}; use one of openai, anthropic, google, bedrock, deepseek, xai, openrouter, ollama, doubao, poe, ideogram, or custom:<label>"
        ))),
        Some(kind) => Ok((kind.name().to_owned(), kind)),
    }
}

impl Store {
    /// Creates the provider or updates its base URL; adds the credential when one is given.
    pub async fn upsert_provider(
        &self,
        name: &str,
        base_url: &str,
        credential: Option<&Secret>,
        master_key: &ServerSecret,
    ) -> Result<ProviderInfo, StoreError> {
        let (name, kind) = parse_provider_name(name)?;
        let base_url = hub_core::provider::check_base_url(base_url).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT id FROM providers WHERE name = $1").bind(&name).fetch_optional(&mut *tx).await?;
        let id = match existing {
            Some(r) => {
                let id: String = r.try_get("id")?;
                sqlx::query("UPDATE providers SET base_url = $1, enabled = 1, updated_at = $2 WHERE id = $3")
                    .bind(&base_url)
                    .bind(now)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let id = new_id("prv");
                sqlx::query("INSERT INTO providers (id, name, kind, base_url, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)")
                    .bind(&id)
                    .bind(&name)
                    .bind(kind.name())
                    .bind(&base_url)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        if let Some(secret) = credential {
            if secret.expose().trim().is_empty() {
                return Err(StoreError::Invalid("the provider API key is empty".into()));
            }
            let cred_id = new_id("cred");
            let Sealed { ciphertext, nonce } = crypto::seal(master_key, secret.expose().trim().as_bytes(), &cred_id)?;
            sqlx::query("INSERT INTO provider_credentials (id, provider_id, ciphertext, nonce, key_version, hint, weight, enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, 1, 1, $7)")
                .bind(&cred_id)
                .bind(&id)
                .bind(ciphertext)
                .bind(nonce)
                .bind(MASTER_KEY_VERSION)
                .bind(secret.hint())
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        record_change_in(&mut tx, ChangeKind::Provider, &id, now).await?;
        tx.commit().await?;
        self.provider_info(&id).await?.ok_or(StoreError::NotFound("provider"))
    }

    pub async fn provider_info(&self, id: &str) -> Result<Option<ProviderInfo>, StoreError> {
        Ok(self.list_providers().await?.into_iter().find(|p| p.id == id || p.name == id))
    }

    pub async fn list_providers(&self) -> Result<Vec<ProviderInfo>, StoreError> {
        let rows = sqlx::query("SELECT id, name, kind, base_url, enabled, created_at FROM providers ORDER BY name").fetch_all(&self.pool).await?;
        let creds = sqlx::query("SELECT id, provider_id, hint, weight, enabled, created_at FROM provider_credentials ORDER BY created_at")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let mut credentials = Vec::new();
            for c in &creds {
                if c.try_get::<String, _>("provider_id")? == id {
                    credentials.push(CredentialInfo {
                        id: c.try_get("id")?,
                        hint: c.try_get("hint")?,
                        weight: c.try_get("weight")?,
                        enabled: c.try_get::<i64, _>("enabled")? != 0,
                        created_at: c.try_get("created_at")?,
                    });
                }
            }
            out.push(ProviderInfo {
                id,
                name: r.try_get("name")?,
                kind: r.try_get("kind")?,
                base_url: r.try_get("base_url")?,
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                created_at: r.try_get("created_at")?,
                credentials,
            });
        }
        Ok(out)
    }

    pub async fn set_provider_enabled(&self, id: &str, enabled: bool) -> Result<bool, StoreError> {
        let res = sqlx::query("UPDATE providers SET enabled = $1, updated_at = $2 WHERE id = $3 OR name = $3")
            .bind(i64::from(enabled))
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.record_change(ChangeKind::Provider, id).await?;
        Ok(res.rows_affected() > 0)
    }

    /// Enabled credentials of enabled providers, decrypted, for the provider directory.
    pub async fn open_credentials(&self, provider_id: &str, master_key: &ServerSecret) -> Result<Vec<OpenCredential>, StoreError> {
        let rows = sqlx::query("SELECT id, ciphertext, nonce, weight FROM provider_credentials WHERE provider_id = $1 AND enabled = 1 ORDER BY created_at")
            .bind(provider_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("id")?;
            let sealed = Sealed { ciphertext: r.try_get("ciphertext")?, nonce: r.try_get("nonce")? };
            let plain = crypto::open(master_key, &sealed, &id)?;
            let text = String::from_utf8(plain).map_err(|_| StoreError::Secret("a credential is not UTF-8".into()))?;
            let weight: i64 = r.try_get("weight")?;
            out.push(OpenCredential { id, secret: Secret::new(text), weight: u32::try_from(weight.max(1)).unwrap_or(1) });
        }
        Ok(out)
    }
}
