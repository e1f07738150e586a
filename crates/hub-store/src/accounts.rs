//! Managing accounts: the user list, roles, disabling, and invitations (a one-time link with
//! which an invited person sets their password). Who may do what is decided by the caller
//! (`hub_core`'s account rules, applied in `hub-http` and the CLI); this module only stores.
//!
//! Disabling an account records a change: every server refreshes the account's keys from the
//! change log, so its keys stop working at once, and its sessions are refused on their next use.

use hub_core::ids::now_ms;
use sqlx::Row;

use crate::changes::{record_change_in, ChangeKind};
use crate::db::Store;
use crate::error::StoreError;
use crate::sessions::digest;
use crate::users::{normalize_email, Role, User};

/// How long an invitation link stays valid.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// One account as the Users page and the admin API list it (never the password hash).
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSummary {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub disabled: bool,
    pub created_at: i64,
    /// Keys not revoked.
    pub active_keys: i64,
}

/// An invitation not yet used, as listed (never its token).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingInvitation {
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Store {
    pub async fn list_users(&self) -> Result<Vec<UserSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.role, u.disabled, u.created_at, \
             (SELECT COUNT(*) FROM api_keys k WHERE k.owner_id = u.id AND k.revoked_at IS NULL) AS active_keys \
             FROM users u ORDER BY u.created_at, u.id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(UserSummary {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    role: Role::parse(&role).unwrap_or(Role::Member).as_str(),
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    created_at: r.try_get("created_at")?,
                    active_keys: r.try_get("active_keys")?,
                })
            })
            .collect()
    }

    /// Changes an account's role and audits it.
    pub async fn set_user_role(&self, user: &User, role: Role, actor: &str, address: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role.as_str()).bind(&user.id).execute(&mut *tx).await?;
        record_change_in(&mut tx, ChangeKind::User, &user.id, now).await?;
        tx.commit().await?;
        let detail = format!("{} → {}", user.role.as_str(), role.as_str());
        self.audit(actor, "user.role_changed", Some(&user.email), address, Some(&detail)).await
    }

    /// Disables (or enables again) an account. A disabled account's keys stop at once on every
    /// server (the change log), and its browser sessions are ended.
    pub async fn set_user_disabled(&self, user: &User, disabled: bool, actor: &str, address: Option<&str>) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET disabled = $1 WHERE id = $2").bind(i64::from(disabled)).bind(&user.id).execute(&mut *tx).await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(&user.id).execute(&mut *tx).await?;
        }
        record_change_in(&mut tx, ChangeKind::User, &user.id, now).await?;
        tx.commit().await?;
        let action = if disabled { "user.disabled" } else { "user.enabled" };
        self.audit(actor, action, Some(&user.email), address, None).await
    }

    /// Stores an invitation for `email` with `role` under the token of its link (only the
    /// token's digest is kept). An email that already has an account cannot be invited; a
    /// pending invitation for it is replaced.
    pub async fn create_invitation(&self, token: &str, email: &str, role: Role, invited_by: &str, address: Option<&str>) -> Result<PendingInvitation, StoreError> {
        let email = normalize_email(email)?;
        if self.user_by_email(&email).await?.is_some() {
            return Err(StoreError::Conflict("an account with this email already exists".into()));
        }
        let now = now_ms();
        let expires_at = now + INVITATION_TTL_MS;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM invitations WHERE email = $1 AND used_at IS NULL").bind(&email).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO invitations (token_hash, email, role, invited_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(digest(token))
            .bind(&email)
            .bind(role.as_str())
            .bind(invited_by)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.audit(invited_by, "user.invited", Some(&email), address, Some(&format!("role={}", role.as_str()))).await?;
        Ok(PendingInvitation { email, role: role.as_str().to_owned(), invited_by: invited_by.to_owned(), created_at: now, expires_at })
    }

    /// The email and role of a usable (unused, unexpired) invitation.
    pub async fn invitation(&self, token: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = sqlx::query("SELECT email, role FROM invitations WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(digest(token))
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        Ok(Some((row.try_get("email")?, Role::parse(&role).unwrap_or(Role::Member))))
    }

    /// Uses an invitation: creates the account with the invited email and role. `None` when the
    /// link is unknown, used or expired (each link works once).
    pub async fn accept_invitation(&self, token: &str, password_hash: &str, address: Option<&str>) -> Result<Option<User>, StoreError> {
        let Some((email, role)) = self.invitation(token).await? else { return Ok(None) };
        let claimed = sqlx::query("UPDATE invitations SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
            .bind(now_ms())
            .bind(digest(token))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if claimed == 0 {
            return Ok(None);
        }
        let user = self.create_user(&email, password_hash, role).await?;
        self.audit(&user.email, "user.joined", Some(&user.email), address, Some(&format!("role={}", role.as_str()))).await?;
        Ok(Some(user))
    }

    pub async fn pending_invitations(&self) -> Result<Vec<PendingInvitation>, StoreError> {
        let rows = sqlx::query("SELECT email, role, invited_by, created_at, expires_at FROM invitations WHERE used_at IS NULL AND expires_at > $1 ORDER BY created_at DESC")
            .bind(now_ms())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingInvitation {
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    invited_by: r.try_get("invited_by")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                })
            })
            .collect()
    }
}

/// A change to someone's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    Role(Role),
    Disabled(bool),
}

/// Who may change whom. `actor` is `None` for the machine's own CLI, which acts as an owner.
/// - only admins change accounts; the owner account is never demoted or disabled;
/// - nobody becomes an owner this way, and only an owner grants or removes the admin role, or
///   disables another admin;
/// - nobody disables themselves.
pub fn check_change(actor: Option<&User>, target: &User, change: AccountChange) -> Result<(), &'static str> {
    let actor_is_owner = actor.is_none_or(|a| a.role == Role::Owner);
    if actor.is_some_and(|a| !a.role.is_admin()) {
        return Err("only admins manage accounts");
    }
    if target.role == Role::Owner {
        return Err("the owner account cannot be changed here");
    }
    if actor.is_some_and(|a| a.id == target.id) && change == AccountChange::Disabled(true) {
        return Err("you cannot disable your own account");
    }
    match change {
        AccountChange::Role(Role::Owner) => Err("an account cannot be made an owner"),
        AccountChange::Role(r) if (r == Role::Admin || target.role == Role::Admin) && !actor_is_owner => {
            Err("only the owner grants or removes the admin role")
        }
        AccountChange::Disabled(_) if target.role == Role::Admin && !actor_is_owner => Err("only the owner disables an admin"),
        _ => Ok(()),
    }
}

/// Who may invite with which role (same rules as [`check_change`]).
pub fn check_invite(actor: Option<&User>, role: Role) -> Result<(), &'static str> {
    if actor.is_some_and(|a| !a.role.is_admin()) {
        return Err("only admins invite");
    }
    match role {
        Role::Owner => Err("nobody is invited as an owner"),
        Role::Admin if !actor.is_none_or(|a| a.role == Role::Owner) => Err("only the owner invites admins"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, role: Role) -> User {
        User { id: id.into(), email: format!("{id}@example.com"), password_hash: String::new(), role, disabled: false, created_at: 0 }
    }

    #[test]
    fn the_rules_of_who_changes_whom() {
        let owner = user("o", Role::Owner);
        let admin = user("a", Role::Admin);
        let other_admin = user("a2", Role::Admin);
        let member = user("m", Role::Member);
        let ok = |a: Option<&User>, t: &User, c| check_change(a, t, c).is_ok();
        assert!(ok(Some(&admin), &member, AccountChange::Disabled(true)));
        assert!(ok(Some(&owner), &other_admin, AccountChange::Disabled(true)));
        assert!(ok(None, &admin, AccountChange::Role(Role::Member)));
        assert!(ok(Some(&owner), &member, AccountChange::Role(Role::Admin)));
        assert!(!ok(Some(&admin), &member, AccountChange::Role(Role::Admin)));
        assert!(!ok(Some(&admin), &other_admin, AccountChange::Disabled(true)));
        assert!(!ok(Some(&member), &member, AccountChange::Disabled(false)));
        assert!(!ok(Some(&owner), &owner, AccountChange::Disabled(true)));
        assert!(!ok(None, &owner, AccountChange::Role(Role::Member)));
        assert!(!ok(Some(&owner), &member, AccountChange::Role(Role::Owner)));
        assert!(!ok(Some(&admin), &admin, AccountChange::Disabled(true)), "nobody disables themselves");
        assert!(check_invite(Some(&admin), Role::Member).is_ok());
        assert!(check_invite(Some(&admin), Role::Admin).is_err());
        assert!(check_invite(Some(&owner), Role::Admin).is_ok());
        assert!(check_invite(None, Role::Owner).is_err());
        assert!(check_invite(Some(&member), Role::Member).is_err());
    }
}
