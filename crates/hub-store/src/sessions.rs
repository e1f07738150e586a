//! Browser sessions and the one-time setup token. Only SHA-256 digests of the session id and of
//! the token are stored, so a database copy cannot be used to log in.

use hub_core::ids::now_ms;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;
use crate::users::User;

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf_token: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn create_session(&self, session_id: &str, user_id: &str, csrf_token: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(digest(session_id))
            .bind(user_id)
            .bind(csrf_token)
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn session(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT user_id, csrf_token, expires_at FROM sessions WHERE id_hash = $1")
            .bind(digest(session_id))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: i64 = row.try_get("expires_at")?;
        if expires_at <= now_ms() {
            self.delete_session(session_id).await?;
            return Ok(None);
        }
        let user_id: String = row.try_get("user_id")?;
        let Some(user) = self.user_by_id(&user_id).await? else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        Ok(Some(Session { user, csrf_token: row.try_get("csrf_token")?, expires_at }))
    }

    pub async fn delete_session(&self, session_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(digest(session_id)).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn create_setup_token(&self, token: &str, ttl_ms: i64) -> Result<(), StoreError> {
        let now = now_ms();
        sqlx::query("INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
            .bind(digest(token))
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the token is unused and unexpired (does not consume it).
    pub async fn setup_token_valid(&self, token: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = $1")
            .bind(digest(token))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let used: Option<i64> = row.try_get("used_at")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        Ok(used.is_none() && expires_at > now_ms())
    }

    /// Consumes the token atomically: true for exactly one caller.
    pub async fn consume_setup_token(&self, token: &str) -> Result<bool, StoreError> {
        let now = now_ms();
        let res = sqlx::query("UPDATE setup_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $3")
            .bind(now)
            .bind(digest(token))
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }
}
