//! Accounts and the audit log.

use hub_core::ids::{new_id, now_ms};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn is_admin(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

fn user_from(r: &AnyRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        role: Role::parse(&role).unwrap_or(Role::Member),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

const USER_COLUMNS: &str = "id, email, password_hash, role, disabled, created_at";

/// Emails are compared case-insensitively and stored trimmed and lower-cased.
pub fn normalize_email(email: &str) -> Result<String, StoreError> {
    let e = email.trim().to_ascii_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !domain.contains('@'))
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(e)
    } else {
        Err(StoreError::Invalid("the email address is not valid".into()))
    }
}

impl Store {
    pub async fn create_user(&self, email: &str, password_hash: &str, role: Role) -> Result<User, StoreError> {
        let email = normalize_email(email)?;
        let user = User {
            id: new_id("usr"),
            email,
            password_hash: password_hash.to_owned(),
            role,
            disabled: false,
            created_at: now_ms(),
        };
        let res = sqlx::query("INSERT INTO users (id, email, password_hash, role, disabled, created_at) VALUES ($1, $2, $3, $4, 0, $5)")
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(user.role.as_str())
            .bind(user.created_at)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from);
        match res {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict("an account with this email already exists".into())),
            Err(e) => Err(e),
            Ok(_) => {
                self.grant_starter_credit(&user.id).await?;
                Ok(user)
            }
        }
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let Ok(email) = normalize_email(email) else { return Ok(None) };
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// The first owner account (keys created from the CLI without `--owner` belong to it).
    pub async fn first_owner(&self) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE role = 'owner' ORDER BY created_at, id LIMIT 1"))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn owner_exists(&self) -> Result<bool, StoreError> {
        Ok(self.first_owner().await?.is_some())
    }

    pub async fn audit(&self, actor: &str, action: &str, target: Option<&str>, address: Option<&str>, detail: Option<&str>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit_log (id, ts, actor, action, target, address, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(new_id("aud"))
            .bind(now_ms())
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(address)
            .bind(detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT ts, actor, action, target, address, detail FROM audit_log ORDER BY ts DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        audit_rows(&rows)
    }

    /// Audit entries whose target is any kid the key has had (each rotation adds one).
    pub async fn audit_entries_for_key(&self, key_id: &str, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT ts, actor, action, target, address, detail FROM audit_log \
             WHERE target IN (SELECT kid FROM api_key_secrets WHERE key_id = $1) ORDER BY ts DESC LIMIT $2",
        )
        .bind(key_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        audit_rows(&rows)
    }
}

fn audit_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<AuditEntry>, StoreError> {
    rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    ts: r.try_get("ts")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    address: r.try_get("address")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub ts: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    pub detail: Option<String>,
}
