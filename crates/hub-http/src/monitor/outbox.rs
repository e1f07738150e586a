//! The alert webhook's outbox: sends the deliveries `Store::raise_alert` stored with their
//! alerts, one POST at a time, signed as always and naming the alert and the attempt. Each
//! attempt is counted in the database before it is made and its next try set by then, so a
//! process stopped mid-attempt retries it after a restart (at least once; receivers dedupe on the
//! alert id). Failures back off 1 s, 2 s, 4 s… up to 10 min; after 24 h the delivery is failed.
//! On start the pending rows are simply due: nothing else needs resuming.

use std::time::Duration;

use hub_core::alerts::delivery_retry_at;
use hub_core::ids::now_ms;
use hub_providers::webhook::WebhookError;
use hub_store::alerts::{Alert, Delivery, DeliveryState, Webhook};

use crate::state::AppState;

/// Deliveries read at once.
const BATCH: i64 = 32;
/// The longest sleep between two looks at the outbox (another process may have added rows).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// A look that failed (the database) is tried again after this.
const ON_ERROR: Duration = Duration::from_secs(5);

/// Runs until aborted at shutdown.
pub async fn run(state: AppState) {
    loop {
        let wait = match deliver_due(&state).await {
            Ok(wait) => wait,
            Err(e) => {
                tracing::warn!(error = %e, "alert webhook outbox could not be read");
                ON_ERROR
            }
        };
        tokio::select! {
            () = state.monitor.outbox.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Sends every due delivery; answers how long to sleep before the next one is due.
async fn deliver_due(state: &AppState) -> Result<Duration, hub_store::StoreError> {
    loop {
        let now = now_ms();
        let due = state.store.due_deliveries(now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let hook = state.store.alert_webhook(&state.master_key).await?;
        for (alert, delivery) in due {
            attempt(state, hook.as_ref(), &alert, &delivery).await?;
        }
    }
    let next = state.store.next_delivery_at().await?;
    Ok(next.map_or(MAX_IDLE, |t| Duration::from_millis(u64::try_from(t - now_ms()).unwrap_or(0)).min(MAX_IDLE)))
}

async fn attempt(state: &AppState, hook: Option<&Webhook>, alert: &Alert, delivery: &Delivery) -> Result<(), hub_store::StoreError> {
    let store = &state.store;
    let Some(hook) = hook else {
        // The webhook was removed while the delivery waited: nobody to send it to.
        return store.finish_delivery_attempt(&alert.id, DeliveryState::Failed, None, Some("no webhook is set"), now_ms()).await;
    };
    let now = now_ms();
    let number = delivery.attempts + 1;
    let Some(retry_at) = delivery_retry_at(delivery.created_at, number, now) else {
        // Past the give-up time: the last attempt's status stays as it was.
        let status = delivery.last_status.and_then(|s| u16::try_from(s).ok());
        return store.finish_delivery_attempt(&alert.id, DeliveryState::Failed, status, delivery.last_error.as_deref(), now).await;
    };
    let Some(number) = store.begin_delivery_attempt(&alert.id, now, retry_at).await? else {
        return Ok(());
    };
    let body = super::detector::webhook_body(alert, &state.config.public_url);
    let sent = state.monitor.webhooks.post_attempt(&hook.url, hook.secret.expose().as_bytes(), &body, &alert.id, u64::try_from(number).unwrap_or(0)).await;
    let done = now_ms();
    let (status, error) = match sent {
        Ok(status) => return store.finish_delivery_attempt(&alert.id, DeliveryState::Delivered, Some(status), None, done).await,
        Err(WebhookError::Status(s)) => (Some(s), format!("answered {s}")),
        Err(WebhookError::Unreachable(e)) => (None, e),
    };
    // The next try was set when the attempt was claimed; a failure past the give-up time ends it.
    let last = delivery_retry_at(delivery.created_at, number, done).is_none();
    tracing::warn!(alert = %alert.id, attempt = number, error = %error, gave_up = last, "alert webhook delivery failed");
    let state_after = if last { DeliveryState::Failed } else { DeliveryState::Pending };
    store.finish_delivery_attempt(&alert.id, state_after, status, Some(&error), done).await
}
