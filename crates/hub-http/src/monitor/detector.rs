//! The alert detector: a background task fed by the monitor's bounded event queue (calls and
//! authentication failures) and by a once-a-second look at credential health. It applies the
//! rules of `hub_core::alerts`, stores alerts (one per kind and subject per cool-down), and hands
//! new ones to the webhook outbox (`outbox.rs`). Nothing here runs on a request's path.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use hub_core::alerts::{self, AlertDraft, AlertKind, CallRate, FailedAttempts, KnownAddresses, Severity, SubjectType, Thresholds};
use hub_core::fast_map::{FastMap, FastSet};
use hub_core::ids::now_ms;
use hub_providers::health::HealthState;
use hub_store::alerts::Alert;
use serde_json::json;
use tokio::sync::mpsc;

use super::Event;
use crate::keyed::with_entry;
use crate::state::AppState;

/// How often credential health and the unread count are looked at.
const TICK: Duration = Duration::from_secs(1);
const UNREAD_REFRESH_TICKS: u32 = 5;
/// Kids whose failed attempts are counted at once (beyond that, new kids wait for room).
const MAX_TRACKED_KIDS: usize = 10_000;

struct Detector {
    thresholds: Thresholds,
    last_use: FastMap<String, i64>,
    rates: FastMap<String, CallRate>,
    addresses: FastMap<String, KnownAddresses>,
    failures: FailedAttempts,
    set_aside: FastSet<String>,
    /// When each (kind, subject) last raised (or was looked at for) an alert. SipHash: failed
    /// attempts are keyed by whatever kid a caller presented.
    raised: HashMap<(AlertKind, String), i64>,
    ticks: u32,
}

/// Runs until the event queue closes (the server's state is dropped).
pub async fn run(state: AppState, mut events: mpsc::Receiver<Event>) {
    let mut d = Detector {
        thresholds: state.config.alerts,
        last_use: FastMap::default(),
        rates: FastMap::default(),
        addresses: FastMap::default(),
        failures: FailedAttempts::new(MAX_TRACKED_KIDS),
        set_aside: FastSet::default(),
        raised: HashMap::new(),
        ticks: 0,
    };
    if let Err(e) = d.load(&state).await {
        tracing::warn!(error = %e, "alert detector starts without the keys' history");
    }
    d.refresh_unread(&state).await;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(e) => d.on_event(&state, e).await,
                None => break,
            },
            _ = tick.tick() => d.on_tick(&state).await,
        }
    }
}

impl Detector {
    async fn load(&mut self, state: &AppState) -> Result<(), hub_store::StoreError> {
        self.last_use = state.store.key_last_uses().await?.into_iter().collect();
        for (key_id, address) in state.store.known_addresses().await? {
            self.addresses.entry(key_id).or_default().learn(&address);
        }
        Ok(())
    }

    async fn on_event(&mut self, state: &AppState, event: Event) {
        match event {
            Event::Call { secret, client_ip, at_ms } => {
                let (key_id, kid, name) = (&secret.key_id, &secret.kid, &secret.key_name);
                let t = self.thresholds;
                // Looked up before inserting: a key already seen costs no copy of its id.
                let previous = match self.last_use.get_mut(key_id.as_str()) {
                    Some(last) => Some(std::mem::replace(last, at_ms)),
                    None => self.last_use.insert(key_id.clone(), at_ms),
                };
                if let Some(silent_ms) = alerts::ends_silence(previous, at_ms, &t) {
                    let days = silent_ms / (24 * 3600 * 1000);
                    let draft = key_alert(AlertKind::SilentKeyUsed, Severity::Warning, key_id, format!("Key \"{name}\" ({kid}) was used after {days} days without use"), json!({"kid": kid, "silent_ms": silent_ms}));
                    self.raise(state, draft).await;
                }
                // A key not known when the detector started has no uncounted past.
                let spike = with_entry(&mut self.rates, key_id, || CallRate::new(at_ms, previous.is_none()), |rate| rate.record(at_ms, &t));
                if let Some(spike) = spike {
                    let draft = key_alert(
                        AlertKind::UsageSpike,
                        Severity::Warning,
                        key_id,
                        format!("Key \"{name}\" ({kid}) made {} calls in the last 5 minutes; {} in the hour before", spike.recent, spike.baseline),
                        json!({"kid": kid, "recent_calls": spike.recent, "baseline_calls": spike.baseline, "window_secs": alerts::SPIKE_WINDOW_MS / 1000}),
                    );
                    self.raise(state, draft).await;
                }
                if let Some(ip) = client_ip {
                    let address = ip.to_string();
                    let (had_any, learned) = with_entry(&mut self.addresses, key_id, KnownAddresses::default, |known| (!known.is_empty(), known.learn(&address)));
                    if learned {
                        if let Err(e) = state.store.add_known_address(key_id, &address).await {
                            tracing::warn!(error = %e, "could not remember a key's client address");
                        }
                        if had_any {
                            let draft = key_alert(AlertKind::NewAddress, Severity::Info, key_id, format!("Key \"{name}\" ({kid}) was used from a new address, {address}"), json!({"kid": kid, "address": address}));
                            self.raise(state, draft).await;
                        }
                    }
                }
            }
            Event::BudgetCrossed(draft) => {
                // Each share is crossed once: stored without a cool-down.
                self.store_alert(state, &draft, 0).await;
            }
            Event::AuthFailed { kid, at_ms } => {
                let Some(attempts) = self.failures.record(&kid, at_ms, &self.thresholds) else { return };
                if self.cooling_down(AlertKind::FailedAttempts, &kid) {
                    return;
                }
                // Looked up only now, off the request path, and once per cool-down.
                self.raised.insert((AlertKind::FailedAttempts, kid.clone()), now_ms());
                let key = match state.store.key_by_ref(&kid).await {
                    Ok(Some(k)) => k,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look up a kid for the failed-attempts rule");
                        return;
                    }
                };
                let minutes = alerts::FAILED_ATTEMPTS_WINDOW_MS / 60_000;
                let draft = AlertDraft {
                    kind: AlertKind::FailedAttempts,
                    severity: Severity::Critical,
                    subject_type: SubjectType::Kid,
                    subject_id: kid.clone(),
                    message: format!("{attempts} failed attempts with the kid {kid} of key \"{}\" within {minutes} minutes", key.name),
                    detail: json!({"key_id": key.id, "attempts": attempts, "window_secs": alerts::FAILED_ATTEMPTS_WINDOW_MS / 1000}),
                };
                let cooldown = self.thresholds.cooldown_ms;
                self.store_alert(state, &draft, cooldown).await;
            }
        }
    }

    async fn on_tick(&mut self, state: &AppState) {
        self.check_credentials(state).await;
        self.ticks += 1;
        if self.ticks.is_multiple_of(UNREAD_REFRESH_TICKS) {
            self.refresh_unread(state).await;
            let cooldown = self.thresholds.cooldown_ms;
            let now = now_ms();
            self.raised.retain(|_, t| now - *t < cooldown);
        }
    }

    /// A credential the provider refused (401/403) and health set aside: one alert when it
    /// happens; it may alert again after it recovered and was refused anew.
    async fn check_credentials(&mut self, state: &AppState) {
        let aside: FastSet<String> = state.health.snapshot().into_iter().filter(|(_, h, _)| matches!(h, HealthState::SetAside { .. })).map(|(id, _, _)| id).collect();
        let newly: Vec<String> = aside.difference(&self.set_aside).cloned().collect();
        self.set_aside = aside;
        if newly.is_empty() {
            return;
        }
        let directory = state.providers.snapshot();
        for id in newly {
            let found = directory.values().find_map(|e| e.credentials.iter().find(|c| c.id == id).map(|c| (e.name.clone(), c.secret.hint())));
            let (provider, hint) = found.unwrap_or_else(|| ("unknown".to_owned(), "…".to_owned()));
            let draft = AlertDraft {
                kind: AlertKind::CredentialSetAside,
                severity: Severity::Critical,
                subject_type: SubjectType::Credential,
                subject_id: id.clone(),
                message: format!("The {provider} credential {hint} was refused by the provider (401/403) and set aside"),
                detail: json!({"provider": provider, "hint": hint}),
            };
            self.raise(state, draft).await;
        }
    }

    fn cooling_down(&self, kind: AlertKind, subject: &str) -> bool {
        let key = (kind, subject.to_owned());
        self.raised.get(&key).is_some_and(|t| now_ms() - t < self.thresholds.cooldown_ms)
    }

    /// Raises `draft` unless an alert of its kind about its subject was raised within the
    /// cool-down (checked here in memory first, then by the store, which survives restarts).
    async fn raise(&mut self, state: &AppState, draft: AlertDraft) {
        if self.cooling_down(draft.kind, &draft.subject_id) {
            return;
        }
        self.raised.insert((draft.kind, draft.subject_id.clone()), now_ms());
        let cooldown = self.thresholds.cooldown_ms;
        self.store_alert(state, &draft, cooldown).await;
    }

    async fn store_alert(&mut self, state: &AppState, draft: &AlertDraft, cooldown_ms: i64) {
        let stored = state.store.raise_alert(draft, cooldown_ms).await;
        match stored {
            Ok(Some(alert)) => {
                tracing::info!(kind = %alert.kind, subject_type = %alert.subject_type, subject = %alert.subject_id, "alert raised");
                state.monitor.set_unread_alerts(state.monitor.unread_alerts() + 1);
                // Its delivery, if a webhook is set, was stored with it: the outbox sends it.
                state.monitor.outbox.notify_one();
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not store an alert"),
        }
    }

    async fn refresh_unread(&self, state: &AppState) {
        match state.store.unread_alert_count().await {
            Ok(n) => state.monitor.set_unread_alerts(n),
            Err(e) => tracing::warn!(error = %e, "could not count unread alerts"),
        }
    }
}

fn key_alert(kind: AlertKind, severity: Severity, key_id: &str, message: String, detail: serde_json::Value) -> AlertDraft {
    AlertDraft { kind, severity, subject_type: SubjectType::Key, subject_id: key_id.to_owned(), message, detail }
}

/// The webhook's JSON body for an alert.
pub fn webhook_body(alert: &Alert, public_url: &str) -> Bytes {
    let body = json!({
        "id": alert.id,
        "ts": alert.ts,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": {"type": alert.subject_type, "id": alert.subject_id},
        "message": alert.message,
        "detail": alert.detail,
        "url": format!("{}/alerts", public_url.trim_end_matches('/')),
    });
    Bytes::from(body.to_string())
}
