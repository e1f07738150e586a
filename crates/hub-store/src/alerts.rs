//! Alerts, the client addresses each key was seen from, and the alert webhook's settings (its
//! signing secret sealed with the master key, never read back by any API).

use hub_core::alerts::AlertDraft;
use hub_core::ids::{new_id, now_ms};
use hub_core::Secret;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::crypto::{self, Sealed, MASTER_KEY_VERSION};
use crate::db::Store;
use crate::error::StoreError;
use crate::secrets::ServerSecret;

/// The webhook row's name, also the sealed secret's associated data.
const WEBHOOK_NAME: &str = "alerts";
const MAX_WEBHOOK_URL: usize = 2048;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Alert {
    pub id: String,
    pub ts: i64,
    pub kind: String,
    pub severity: String,
    pub subject_type: String,
    pub subject_id: String,
    pub message: String,
    pub detail: serde_json::Value,
    pub read_at: Option<i64>,
}

/// Where an alert's webhook delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> DeliveryState {
        match s {
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// An alert's webhook delivery (the outbox row). Never holds the webhook's URL or secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Delivery {
    pub alert_id: String,
    pub state: DeliveryState,
    /// POSTs begun so far.
    pub attempts: i64,
    pub created_at: i64,
    /// The next try (meaningful while pending).
    pub next_at: i64,
    pub last_at: Option<i64>,
    /// The last HTTP status the webhook answered, when it answered.
    pub last_status: Option<i64>,
    /// Why the last attempt failed, without the URL.
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "d.alert_id, d.state, d.attempts, d.created_at AS d_created_at, d.next_at, d.last_at, d.last_status, d.last_error, d.delivered_at";

fn delivery_from(r: &AnyRow) -> Result<Delivery, StoreError> {
    let state: String = r.try_get("state")?;
    Ok(Delivery {
        alert_id: r.try_get("alert_id")?,
        state: DeliveryState::parse(&state),
        attempts: r.try_get("attempts")?,
        created_at: r.try_get("d_created_at")?,
        next_at: r.try_get("next_at")?,
        last_at: r.try_get("last_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// The webhook as any API shows it: no secret, only its hint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WebhookInfo {
    pub url: String,
    pub secret_hint: String,
    pub updated_at: i64,
}

/// The webhook with its opened secret, for delivery only.
pub struct Webhook {
    pub url: String,
    pub secret: Secret,
}

fn alert_from(r: &AnyRow) -> Result<Alert, StoreError> {
    let detail: String = r.try_get("detail")?;
    Ok(Alert {
        id: r.try_get("id")?,
        ts: r.try_get("ts")?,
        kind: r.try_get("kind")?,
        severity: r.try_get("severity")?,
        subject_type: r.try_get("subject_type")?,
        subject_id: r.try_get("subject_id")?,
        message: r.try_get("message")?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        read_at: r.try_get("read_at")?,
    })
}

/// Webhooks go only to `http://` or `https://` URLs without credentials in them.
pub fn check_webhook_url(url: &str) -> Result<String, StoreError> {
    let url = url.trim();
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    match host {
        Some(h) if !h.is_empty() && !h.contains('@') && url.len() <= MAX_WEBHOOK_URL && url.chars().all(|c| c.is_ascii_graphic()) => Ok(url.to_owned()),
        _ => Err(StoreError::Invalid("the webhook URL must be an http:// or https:// URL (no user:password@)".into())),
    }
}

const ALERT_COLUMNS: &str = "id, ts, kind, severity, subject_type, subject_id, message, detail, read_at";

impl Store {
    /// Stores an alert unless one of the same kind about the same subject was raised within
    /// `cooldown_ms`; answers the stored alert, or `None` when it was a duplicate.
    pub async fn raise_alert(&self, draft: &AlertDraft, cooldown_ms: i64) -> Result<Option<Alert>, StoreError> {
        let now = now_ms();
        let recent = sqlx::query("SELECT id FROM alerts WHERE kind = $1 AND subject_type = $2 AND subject_id = $3 AND ts > $4 LIMIT 1")
            .bind(draft.kind.as_str())
            .bind(draft.subject_type.as_str())
            .bind(&draft.subject_id)
            .bind(now - cooldown_ms)
            .fetch_optional(&self.pool)
            .await?;
        if recent.is_some() {
            return Ok(None);
        }
        let alert = Alert {
            id: new_id("alr"),
            ts: now,
            kind: draft.kind.as_str().to_owned(),
            severity: draft.severity.as_str().to_owned(),
            subject_type: draft.subject_type.as_str().to_owned(),
            subject_id: draft.subject_id.clone(),
            message: draft.message.clone(),
            detail: draft.detail.clone(),
            read_at: None,
        };
        // The alert and its pending delivery (when a webhook is set) in one transaction: a
        // stored alert is never left without the delivery a restart resumes.
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO alerts (id, ts, kind, severity, subject_type, subject_id, message, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(&alert.id)
            .bind(alert.ts)
            .bind(&alert.kind)
            .bind(&alert.severity)
            .bind(&alert.subject_type)
            .bind(&alert.subject_id)
            .bind(&alert.message)
            .bind(alert.detail.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO alert_deliveries (alert_id, state, attempts, created_at, next_at) \
             SELECT $1, 'pending', 0, $2, $3 FROM alert_webhook WHERE name = $4",
        )
        .bind(&alert.id)
        .bind(now)
        .bind(now)
        .bind(WEBHOOK_NAME)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(alert))
    }

    /// The newest alerts, unread first.
    pub async fn list_alerts(&self, limit: i64) -> Result<Vec<Alert>, StoreError> {
        let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY CASE WHEN read_at IS NULL THEN 0 ELSE 1 END, ts DESC, id DESC LIMIT $1");
        let rows = sqlx::query(&sql).bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await?;
        rows.iter().map(alert_from).collect()
    }

    /// The webhook delivery of each of `alert_ids` that has one.
    pub async fn alert_deliveries(&self, alert_ids: &[String]) -> Result<Vec<Delivery>, StoreError> {
        let mut out = Vec::new();
        for chunk in alert_ids.chunks(100) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries d WHERE d.alert_id IN ({})", marks.join(", "));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(delivery_from(&r)?);
            }
        }
        Ok(out)
    }

    /// Pending deliveries whose next try is due at `now`, oldest first, with their alerts.
    pub async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<(Alert, Delivery)>, StoreError> {
        let sql = format!(
            "SELECT {}, {DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
             WHERE d.state = 'pending' AND d.next_at <= $1 ORDER BY d.next_at, d.alert_id LIMIT $2",
            ALERT_COLUMNS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows = sqlx::query(&sql).bind(now).bind(limit.clamp(1, 1000)).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((alert_from(r)?, delivery_from(r)?))).collect()
    }

    /// The earliest next try of any pending delivery.
    pub async fn next_delivery_at(&self) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query("SELECT MIN(next_at) AS t FROM alert_deliveries WHERE state = 'pending'").fetch_one(&self.pool).await?;
        Ok(r.try_get("t")?)
    }

    /// Claims the next attempt of a pending delivery before it is made: counts it and moves the
    /// next try to `retry_at`, so an attempt cut short by a stop is retried, never lost, and
    /// every POST carries its own attempt number. Answers that number, or `None` when the
    /// delivery is no longer pending.
    pub async fn begin_delivery_attempt(&self, alert_id: &str, now: i64, retry_at: i64) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT attempts FROM alert_deliveries WHERE alert_id = $1 AND state = 'pending' AND next_at <= $2")
            .bind(alert_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let attempt = row.try_get::<i64, _>("attempts")? + 1;
        sqlx::query("UPDATE alert_deliveries SET attempts = $1, last_at = $2, next_at = $3 WHERE alert_id = $4")
            .bind(attempt)
            .bind(now)
            .bind(retry_at)
            .bind(alert_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(attempt))
    }

    /// Records how an attempt ended: delivered, still pending (its next try was set when it was
    /// claimed), or failed for good.
    pub async fn finish_delivery_attempt(&self, alert_id: &str, state: DeliveryState, status: Option<u16>, error: Option<&str>, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE alert_deliveries SET state = $1, last_status = $2, last_error = $3, \
             delivered_at = CASE WHEN $4 = 1 THEN $5 ELSE delivered_at END WHERE alert_id = $6",
        )
        .bind(state.as_str())
        .bind(status.map(i64::from))
        .bind(error)
        .bind(i64::from(state == DeliveryState::Delivered))
        .bind(now)
        .bind(alert_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn unread_alert_count(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM alerts WHERE read_at IS NULL").fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }

    /// Marks one alert read; `NotFound` if there is no such alert.
    pub async fn mark_alert_read(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE alerts SET read_at = COALESCE(read_at, $1) WHERE id = $2").bind(now_ms()).bind(id).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("alert"));
        }
        Ok(())
    }

    pub async fn mark_all_alerts_read(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE alerts SET read_at = $1 WHERE read_at IS NULL").bind(now_ms()).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    /// Every (key id, address) pair seen, oldest first.
    pub async fn known_addresses(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT key_id, address FROM alert_known_addresses ORDER BY first_seen").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("key_id")?, r.try_get("address")?))).collect()
    }

    pub async fn add_known_address(&self, key_id: &str, address: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO alert_known_addresses (key_id, address, first_seen) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(key_id)
            .bind(address)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last use of every key (its creation when never used), for the silence rule.
    pub async fn key_last_uses(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT id, COALESCE(last_used_at, created_at) AS last FROM api_keys").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("last")?))).collect()
    }

    /// Sets the webhook (URL and signing secret), replacing any earlier one.
    pub async fn set_alert_webhook(&self, url: &str, secret: &Secret, master_key: &ServerSecret) -> Result<WebhookInfo, StoreError> {
        let url = check_webhook_url(url)?;
        if secret.expose().len() < 16 {
            return Err(StoreError::Invalid("the webhook signing secret must be at least 16 characters".into()));
        }
        let Sealed { ciphertext, nonce } = crypto::seal(master_key, secret.expose().as_bytes(), WEBHOOK_NAME)?;
        let info = WebhookInfo { url, secret_hint: secret.hint(), updated_at: now_ms() };
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM alert_webhook WHERE name = $1").bind(WEBHOOK_NAME).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO alert_webhook (name, url, secret_ciphertext, secret_nonce, key_version, secret_hint, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(WEBHOOK_NAME)
            .bind(&info.url)
            .bind(ciphertext)
            .bind(nonce)
            .bind(MASTER_KEY_VERSION)
            .bind(&info.secret_hint)
            .bind(info.updated_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(info)
    }

    pub async fn clear_alert_webhook(&self) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM alert_webhook WHERE name = $1").bind(WEBHOOK_NAME).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn alert_webhook_info(&self) -> Result<Option<WebhookInfo>, StoreError> {
        let row = sqlx::query("SELECT url, secret_hint, updated_at FROM alert_webhook WHERE name = $1").bind(WEBHOOK_NAME).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(WebhookInfo { url: r.try_get("url")?, secret_hint: r.try_get("secret_hint")?, updated_at: r.try_get("updated_at")? })).transpose()
    }

    /// The webhook with its secret opened, for delivery.
    pub async fn alert_webhook(&self, master_key: &ServerSecret) -> Result<Option<Webhook>, StoreError> {
        let row = sqlx::query("SELECT url, secret_ciphertext, secret_nonce FROM alert_webhook WHERE name = $1").bind(WEBHOOK_NAME).fetch_optional(&self.pool).await?;
        let Some(r) = row else { return Ok(None) };
        let sealed = Sealed { ciphertext: r.try_get("secret_ciphertext")?, nonce: r.try_get("secret_nonce")? };
        let plain = crypto::open(master_key, &sealed, WEBHOOK_NAME)?;
        let secret = String::from_utf8(plain).map_err(|_| StoreError::Secret("the webhook secret is not text".into()))?;
        Ok(Some(Webhook { url: r.try_get("url")?, secret: Secret::new(secret) }))
    }
}

#[cfg(test)]
mod tests {
    use super::check_webhook_url;

    #[test]
    fn webhook_urls_are_http_or_https_without_credentials() {
        assert!(check_webhook_url("https://hooks.example.com/aigne").is_ok());
        assert!(check_webhook_url(" http://127.0.0.1:9000/x ").is_ok());
        for bad in ["ftp://x", "file:///etc/passwd", "https://", "https://user:pw@host/", "javascript:alert(1)", "https://a b"] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
