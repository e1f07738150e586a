//! The change log: every write another process must honour (a revoked key, a new provider)
//! appends a row; each server polls the newest sequence number a few times a second and
//! refreshes what changed. Works across processes on SQLite and across instances on PostgreSQL.

use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Key,
    Provider,
    User,
    /// A model rate was set or removed.
    Rate,
    /// A hub setting changed (credit billing, starter grant, top-up link).
    Settings,
    /// A user was granted credit (`ref_id` is the user).
    Credit,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Key => "key",
            ChangeKind::Provider => "provider",
            ChangeKind::User => "user",
            ChangeKind::Rate => "rate",
            ChangeKind::Settings => "settings",
            ChangeKind::Credit => "credit",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        match s {
            "key" => Some(ChangeKind::Key),
            "provider" => Some(ChangeKind::Provider),
            "user" => Some(ChangeKind::User),
            "rate" => Some(ChangeKind::Rate),
            "settings" => Some(ChangeKind::Settings),
            "credit" => Some(ChangeKind::Credit),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Change {
    pub seq: i64,
    pub kind: ChangeKind,
    pub ref_id: String,
}

/// Appends a change inside the caller's transaction, so the change and its notice commit
/// together.
pub(crate) async fn record_change_in(conn: &mut sqlx::AnyConnection, kind: ChangeKind, ref_id: &str, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO change_log (kind, ref_id, ts) VALUES ($1, $2, $3)")
        .bind(kind.as_str())
        .bind(ref_id)
        .bind(now_ms)
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    pub async fn record_change(&self, kind: ChangeKind, ref_id: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        record_change_in(&mut conn, kind, ref_id, hub_core::ids::now_ms()).await
    }

    pub async fn latest_change(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM change_log").fetch_one(&self.pool).await?;
        Ok(row.try_get::<i64, _>("seq")?)
    }

    pub async fn changes_since(&self, seq: i64) -> Result<Vec<Change>, StoreError> {
        let rows = sqlx::query("SELECT seq, kind, ref_id FROM change_log WHERE seq > $1 ORDER BY seq LIMIT 10000")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind: String = r.try_get("kind")?;
            if let Some(kind) = ChangeKind::parse(&kind) {
                out.push(Change { seq: r.try_get("seq")?, kind, ref_id: r.try_get("ref_id")? });
            }
        }
        Ok(out)
    }
}
