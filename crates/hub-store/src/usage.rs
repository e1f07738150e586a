//! The usage ledger in SQL: batch inserts (idempotent on request id, so a journal replay never
//! duplicates a record) and the queries behind the key list and call history.

use std::collections::HashMap;

use hub_core::usage::UsageRecord;
use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;

#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageRow {
    pub request_id: String,
    pub ts: i64,
    pub key_id: String,
    pub kid: String,
    pub user_id: String,
    pub project: Option<String>,
    pub provider: String,
    pub credential_id: Option<String>,
    pub model: String,
    pub endpoint: String,
    pub stream: bool,
    pub client_ip: Option<String>,
    pub status: i64,
    pub outcome: String,
    pub error_class: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tokens_cached: i64,
    pub credits: i64,
    pub reserved: i64,
    pub upstream_cost: i64,
    pub duration_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub upstream_ttfb_ms: Option<i64>,
    pub cut_short: bool,
    pub estimated: bool,
}

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub key_id: Option<String>,
    pub user_id: Option<String>,
    pub limit: i64,
}

#[derive(Default)]
struct KeyDelta {
    requests: i64,
    tokens_in: i64,
    tokens_out: i64,
    last_used_at: i64,
    last_used_ip: Option<String>,
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Inserts records not yet present and folds them into each key's counters, in one
    /// transaction. Returns how many were new.
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut deltas: HashMap<&str, KeyDelta> = HashMap::new();
        let mut inserted = 0;
        for r in records {
            let h = &r.hold;
            let s = &r.settlement;
            let res = sqlx::query(
                "INSERT INTO usage_records (request_id, ts, key_id, kid, user_id, project, provider, credential_id, model, endpoint, stream, client_ip, \
                 status, outcome, error_class, tokens_in, tokens_out, tokens_cached, credits, reserved, upstream_cost, duration_ms, ttfb_ms, upstream_ttfb_ms, cut_short, estimated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26) \
                 ON CONFLICT (request_id) DO NOTHING",
            )
            .bind(&h.request_id)
            .bind(h.started_at_ms)
            .bind(&h.key_id)
            .bind(&h.kid)
            .bind(&h.user_id)
            .bind(h.project.as_deref())
            .bind(&h.provider)
            .bind(h.credential_id.as_deref())
            .bind(&h.model)
            .bind(&h.endpoint)
            .bind(i64::from(h.stream))
            .bind(h.client_ip.as_deref())
            .bind(i64::from(s.status))
            .bind(r.outcome.as_str())
            .bind(s.error_class.as_deref())
            .bind(clamp(s.tokens_in))
            .bind(clamp(s.tokens_out))
            .bind(clamp(s.tokens_cached))
            .bind(s.credits.0)
            .bind(h.reserved.0)
            .bind(s.upstream_cost.0)
            .bind(clamp(s.duration_ms))
            .bind(s.ttfb_ms.map(clamp))
            .bind(s.upstream_ttfb_ms.map(clamp))
            .bind(i64::from(s.cut_short))
            .bind(i64::from(s.estimated))
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 1 {
                inserted += 1;
                let d = deltas.entry(h.key_id.as_str()).or_default();
                d.requests += 1;
                d.tokens_in += clamp(s.tokens_in);
                d.tokens_out += clamp(s.tokens_out);
                if h.started_at_ms >= d.last_used_at {
                    d.last_used_at = h.started_at_ms;
                    d.last_used_ip = h.client_ip.clone();
                }
            }
        }
        for (key_id, d) in deltas {
            sqlx::query(
                "UPDATE api_keys SET request_count = request_count + $1, tokens_in = tokens_in + $2, tokens_out = tokens_out + $3, \
                 last_used_ip = CASE WHEN last_used_at IS NULL OR last_used_at <= $4 THEN $5 ELSE last_used_ip END, \
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $4 THEN $4 ELSE last_used_at END WHERE id = $6",
            )
            .bind(d.requests)
            .bind(d.tokens_in)
            .bind(d.tokens_out)
            .bind(d.last_used_at)
            .bind(d.last_used_ip)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Newest records first.
    pub async fn list_usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        let limit = if filter.limit <= 0 { 100 } else { filter.limit.min(10_000) };
        let rows = sqlx::query(
            "SELECT * FROM usage_records WHERE ($1 IS NULL OR key_id = $1) AND ($2 IS NULL OR user_id = $2) ORDER BY ts DESC, request_id LIMIT $3",
        )
        .bind(filter.key_id.as_deref())
        .bind(filter.user_id.as_deref())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(UsageRow {
                    request_id: r.try_get("request_id")?,
                    ts: r.try_get("ts")?,
                    key_id: r.try_get("key_id")?,
                    kid: r.try_get("kid")?,
                    user_id: r.try_get("user_id")?,
                    project: r.try_get("project")?,
                    provider: r.try_get("provider")?,
                    credential_id: r.try_get("credential_id")?,
                    model: r.try_get("model")?,
                    endpoint: r.try_get("endpoint")?,
                    stream: r.try_get::<i64, _>("stream")? != 0,
                    client_ip: r.try_get("client_ip")?,
                    status: r.try_get("status")?,
                    outcome: r.try_get("outcome")?,
                    error_class: r.try_get("error_class")?,
                    tokens_in: r.try_get("tokens_in")?,
                    tokens_out: r.try_get("tokens_out")?,
                    tokens_cached: r.try_get("tokens_cached")?,
                    credits: r.try_get("credits")?,
                    reserved: r.try_get("reserved")?,
                    upstream_cost: r.try_get("upstream_cost")?,
                    duration_ms: r.try_get("duration_ms")?,
                    ttfb_ms: r.try_get("ttfb_ms")?,
                    upstream_ttfb_ms: r.try_get("upstream_ttfb_ms")?,
                    cut_short: r.try_get::<i64, _>("cut_short")? != 0,
                    estimated: r.try_get::<i64, _>("estimated")? != 0,
                })
            })
            .collect()
    }

    pub async fn count_usage(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM usage_records").fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }
}
