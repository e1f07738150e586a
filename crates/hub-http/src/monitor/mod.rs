//! Operations and alerts: Prometheus metrics, per-model status and the alert detector.
//!
//! Every call passes [`Monitor::on_settle`] once, from `CallGuard::write`: it bumps atomic
//! counters, records the routed model's outcome, and hands a small event to the alert detector
//! through a bounded channel (dropped when full: alerts may miss an event, a call never waits).
//! Authentication failures reach the detector the same way ([`Monitor::on_auth_failure`]).

pub mod detector;
pub mod histogram;
pub mod metrics;
pub mod outbox;
pub mod routed;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use hub_core::alerts::{AlertDraft, SubjectType};
use hub_core::usage::UsageRecord;
use hub_providers::webhook::WebhookClient;
use hub_store::keys::StoredSecret;
use tokio::sync::mpsc;

use crate::error::{ApiError, AuthFailure};
use metrics::CallMetrics;
use routed::{RoutedBook, Verdict};

/// Events the detector may fall behind on before new ones are dropped.
const EVENT_QUEUE: usize = 8192;

/// What the detector learns from the request path. (No `Debug`: never logged.)
pub enum Event {
    /// A call by a known key settled.
    Call { secret: Arc<StoredSecret>, client_ip: Option<IpAddr>, at_ms: i64 },
    /// A well-formed key was refused after its lookup (unknown kid or wrong secret, revoked,
    /// expired, replaced): the detector finds out off the request path whether the kid exists.
    AuthFailed { kid: String, at_ms: i64 },
    /// A budget share was crossed (each share once, so no cool-down applies).
    BudgetCrossed(AlertDraft),
}

pub struct Monitor {
    pub calls: CallMetrics,
    pub routed: RoutedBook,
    pub webhooks: WebhookClient,
    /// Wakes the webhook outbox (`outbox.rs`) when an alert with a delivery was stored.
    pub outbox: tokio::sync::Notify,
    events: mpsc::Sender<Event>,
    unread_alerts: AtomicI64,
}

impl Monitor {
    /// The monitor and the receiving end of its event queue, for [`detector::run`].
    pub fn new(webhooks: WebhookClient) -> (Monitor, mpsc::Receiver<Event>) {
        let (events, rx) = mpsc::channel(EVENT_QUEUE);
        let m = Monitor { calls: CallMetrics::default(), routed: RoutedBook::default(), webhooks, outbox: tokio::sync::Notify::new(), events, unread_alerts: AtomicI64::new(0) };
        (m, rx)
    }

    /// A call was admitted (its `CallGuard` opened).
    pub fn on_admit(&self) {
        self.calls.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// A call settled with its one usage record.
    pub fn on_settle(&self, record: &UsageRecord, secret: &Arc<StoredSecret>, client_ip: Option<IpAddr>) {
        let (h, s) = (&record.hold, &record.settlement);
        self.calls.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.calls.record(&h.endpoint, s.status, s.error_class.as_deref(), s.duration_ms);
        // Only a routed call names a provider; before that the model is whatever the client sent.
        if !h.provider.is_empty() {
            let credits = u64::try_from(s.credits.0).unwrap_or(0);
            self.routed.record(&h.provider, &h.model, h.started_at_ms, Verdict::of_status(s.status), s.duration_ms, s.upstream_ttfb_ms, (s.tokens_in, s.tokens_out), credits);
        }
        let at_ms = h.started_at_ms.saturating_add(i64::try_from(s.duration_ms).unwrap_or(0));
        self.send(Event::Call { secret: Arc::clone(secret), client_ip, at_ms });
    }

    /// A request was refused at authentication. Only failures after the key's lookup say
    /// anything about a kid; the client sees the same uniform refusal whatever happens here.
    pub fn on_auth_failure(&self, kid: &str, error: &ApiError) {
        let ApiError::Auth(failure) = error else { return };
        self.calls.auth_failures.fetch_add(1, Ordering::Relaxed);
        if matches!(failure, AuthFailure::UnknownKey | AuthFailure::RevokedKey | AuthFailure::ExpiredKey | AuthFailure::RotatedKey) {
            self.send(Event::AuthFailed { kid: kid.to_owned(), at_ms: hub_core::ids::now_ms() });
        }
    }

    /// For budgets: a key's or user's spending went from `before` to `after` of `budget`
    /// (nano-credits). Raises a `budget_threshold` alert when that crossed 50, 80 or 100 %.
    /// Cheap when nothing was crossed; never waits.
    pub fn on_budget_spent(&self, subject_type: SubjectType, subject_id: &str, before: i64, after: i64, budget: i64) {
        if let Some(threshold) = hub_core::alerts::budget_threshold_crossed(before, after, budget) {
            self.send(Event::BudgetCrossed(hub_core::alerts::budget_alert(subject_type, subject_id, threshold, after, budget)));
        }
    }

    fn send(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            self.calls.alert_events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn unread_alerts(&self) -> i64 {
        self.unread_alerts.load(Ordering::Relaxed)
    }

    pub fn set_unread_alerts(&self, n: i64) {
        self.unread_alerts.store(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_budget_share_crossed_reaches_the_detector() {
        let (m, mut rx) = Monitor::new(WebhookClient::new().unwrap());
        m.on_budget_spent(SubjectType::Key, "key_1", 0, 40, 100);
        assert!(rx.try_recv().is_err(), "nothing crossed");
        m.on_budget_spent(SubjectType::Key, "key_1", 40, 85, 100);
        match rx.try_recv() {
            Ok(Event::BudgetCrossed(d)) => {
                assert_eq!((d.subject_type, d.subject_id.as_str()), (SubjectType::Key, "key_1"));
                assert_eq!(d.detail["threshold_percent"], 80);
            }
            _ => panic!("no budget event"),
        }
    }
}
