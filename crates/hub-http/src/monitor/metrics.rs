//! `GET /metrics`: the Prometheus text exposition (format 0.0.4). Counters are atomics in fixed
//! tables indexed by closed label sets (endpoint, status class, error class), so counting a call
//! takes no lock and allocates nothing; gauges (circuit state, journal backlog) are read at
//! scrape time. Labels never carry a key, a kid or a model name a client made up.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use hub_providers::health::HealthState;

use super::histogram::Histogram;
use crate::state::AppState;

/// The usage record's endpoints; anything else counts as `other`.
const ENDPOINTS: [&str; 5] = ["chat.completions", "messages", "embeddings", "images", "other"];
const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "other"];
/// The error classes usage records carry (`ApiError::class`, `ProviderError::class` and the
/// call's own endings); anything else counts as `other`.
const ERROR_CLASSES: [&str; 36] = [
    "missing_key",
    "malformed_key",
    "bad_checksum",
    "unknown_key",
    "revoked_key",
    "expired_key",
    "rotated_key",
    "owner_disabled",
    "wrong_key_type",
    "model_not_allowed",
    "endpoint_not_allowed",
    "address_not_allowed",
    "key_rpm_exceeded",
    "key_tpm_exceeded",
    "key_concurrency_exceeded",
    "bad_request",
    "payload_too_large",
    "model_not_found",
    "backpressure",
    "no_capacity",
    "shutting_down",
    "storage",
    "upstream_connect",
    "upstream_timeout",
    "upstream_bad_request",
    "upstream_auth",
    "upstream_not_found",
    "upstream_rate_limited",
    "upstream_overloaded",
    "upstream_server_error",
    "upstream_other",
    "upstream_protocol",
    "upstream_stream_cut",
    "provider_config",
    "unsupported",
    "client_closed",
];
const CREDENTIAL_STATES: [&str; 4] = ["healthy", "cooling_down", "circuit_open", "set_aside"];

fn endpoint_index(endpoint: &str) -> usize {
    ENDPOINTS.iter().position(|e| *e == endpoint).unwrap_or(ENDPOINTS.len() - 1)
}

fn status_index(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        500..=599 => 3,
        _ => 4,
    }
}

/// Counters of every settled call.
#[derive(Debug)]
pub struct CallMetrics {
    requests: [[AtomicU64; STATUS_CLASSES.len()]; ENDPOINTS.len()],
    durations: [Histogram; ENDPOINTS.len()],
    /// Index `ERROR_CLASSES.len()` is `other`.
    errors: [AtomicU64; ERROR_CLASSES.len() + 1],
    pub in_flight: AtomicI64,
    pub auth_failures: AtomicU64,
    pub alert_events_dropped: AtomicU64,
}

impl Default for CallMetrics {
    fn default() -> Self {
        CallMetrics {
            requests: Default::default(),
            durations: Default::default(),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            in_flight: AtomicI64::new(0),
            auth_failures: AtomicU64::new(0),
            alert_events_dropped: AtomicU64::new(0),
        }
    }
}

impl CallMetrics {
    pub fn record(&self, endpoint: &str, status: u16, error_class: Option<&str>, duration_ms: u64) {
        let e = endpoint_index(endpoint);
        if let Some(c) = self.requests.get(e).and_then(|row| row.get(status_index(status))) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(h) = self.durations.get(e) {
            h.observe_ms(duration_ms);
        }
        if let Some(class) = error_class {
            let i = ERROR_CLASSES.iter().position(|c| *c == class).unwrap_or(ERROR_CLASSES.len());
            if let Some(c) = self.errors.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the exposition format wants it (`\`, `"` and newlines escaped).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The whole exposition.
pub fn render(state: &AppState) -> String {
    let m = &state.monitor.calls;
    let mut out = String::with_capacity(16 * 1024);

    header(&mut out, "aigne_hub_requests_total", "counter", "Calls that reached admission, by endpoint and status class.");
    for (e, endpoint) in ENDPOINTS.iter().enumerate() {
        for (s, class) in STATUS_CLASSES.iter().enumerate() {
            let n = m.requests.get(e).and_then(|r| r.get(s)).map_or(0, |c| c.load(Ordering::Relaxed));
            let _ = writeln!(out, "aigne_hub_requests_total{{endpoint=\"{endpoint}\",status_class=\"{class}\"}} {n}");
        }
    }
    header(&mut out, "aigne_hub_request_duration_seconds", "histogram", "Whole call duration as the hub saw it, by endpoint.");
    for (e, endpoint) in ENDPOINTS.iter().enumerate() {
        if let Some(h) = m.durations.get(e) {
            h.render(&mut out, "aigne_hub_request_duration_seconds", &format!("endpoint=\"{endpoint}\""));
        }
    }
    header(&mut out, "aigne_hub_errors_total", "counter", "Calls that ended in an error, by error class.");
    for (i, class) in ERROR_CLASSES.iter().chain(std::iter::once(&"other")).enumerate() {
        let n = m.errors.get(i).map_or(0, |c| c.load(Ordering::Relaxed));
        let _ = writeln!(out, "aigne_hub_errors_total{{class=\"{class}\"}} {n}");
    }
    header(&mut out, "aigne_hub_in_flight_calls", "gauge", "Calls admitted and not yet settled.");
    let _ = writeln!(out, "aigne_hub_in_flight_calls {}", m.in_flight.load(Ordering::Relaxed).max(0));
    header(&mut out, "aigne_hub_auth_failures_total", "counter", "Well-formed keys refused after their lookup (unknown or wrong secret, revoked, expired, replaced, owner disabled).");
    let _ = writeln!(out, "aigne_hub_auth_failures_total {}", m.auth_failures.load(Ordering::Relaxed));

    render_routed(state, &mut out);
    render_credentials(state, &mut out);

    header(&mut out, "aigne_hub_usage_journal_backlog", "gauge", "Settled usage records not yet written to the database.");
    let _ = writeln!(out, "aigne_hub_usage_journal_backlog {}", state.journal.backlog());
    header(&mut out, "aigne_hub_unread_alerts", "gauge", "Alerts not yet marked read.");
    let _ = writeln!(out, "aigne_hub_unread_alerts {}", state.monitor.unread_alerts());
    header(&mut out, "aigne_hub_alert_events_dropped_total", "counter", "Activity events the alert detector had no room for.");
    let _ = writeln!(out, "aigne_hub_alert_events_dropped_total {}", m.alert_events_dropped.load(Ordering::Relaxed));
    out
}

fn render_routed(state: &AppState, out: &mut String) {
    let providers = state.monitor.routed.providers();
    header(out, "aigne_hub_tokens_total", "counter", "Tokens of routed calls, by provider and direction.");
    for (name, p) in &providers {
        let name = label(name);
        let _ = writeln!(out, "aigne_hub_tokens_total{{provider=\"{name}\",direction=\"in\"}} {}", p.tokens_in.load(Ordering::Relaxed));
        let _ = writeln!(out, "aigne_hub_tokens_total{{provider=\"{name}\",direction=\"out\"}} {}", p.tokens_out.load(Ordering::Relaxed));
    }
    header(out, "aigne_hub_credits_nano_total", "counter", "Credits charged for routed calls, in nano-credits, by provider.");
    for (name, p) in &providers {
        let _ = writeln!(out, "aigne_hub_credits_nano_total{{provider=\"{}\"}} {}", label(name), p.credits.load(Ordering::Relaxed));
    }
    header(out, "aigne_hub_upstream_ttfb_seconds", "histogram", "Upstream time to first byte, by provider.");
    for (name, p) in &providers {
        p.upstream_ttfb.render(out, "aigne_hub_upstream_ttfb_seconds", &format!("provider=\"{}\"", label(name)));
    }
    header(out, "aigne_hub_model_calls_total", "counter", "Routed calls that said something about a model's availability, by provider, model and result.");
    for (name, p) in &providers {
        for (model, s) in p.models() {
            let (name, model) = (label(name), label(&model));
            let _ = writeln!(out, "aigne_hub_model_calls_total{{provider=\"{name}\",model=\"{model}\",result=\"success\"}} {}", s.succeeded.load(Ordering::Relaxed));
            let _ = writeln!(out, "aigne_hub_model_calls_total{{provider=\"{name}\",model=\"{model}\",result=\"failure\"}} {}", s.failed.load(Ordering::Relaxed));
        }
    }
}

fn render_credentials(state: &AppState, out: &mut String) {
    // Credential id → provider name, from the directory (ids only; never the secret).
    let directory = state.providers.snapshot();
    let provider_of = |id: &str| directory.values().find(|e| e.credentials.iter().any(|c| c.id == id)).map(|e| e.name.clone());
    let mut creds = state.health.snapshot();
    creds.sort_by(|a, b| a.0.cmp(&b.0));
    header(out, "aigne_hub_credential_state", "gauge", "Health of each provider credential the hub has called (1 for its current state).");
    for (id, health, _) in creds {
        let current = match health {
            HealthState::Healthy => "healthy",
            HealthState::CoolingDown { .. } => "cooling_down",
            HealthState::CircuitOpen { .. } => "circuit_open",
            HealthState::SetAside { .. } => "set_aside",
        };
        let provider = label(&provider_of(&id).unwrap_or_else(|| "unknown".to_owned()));
        let id = label(&id);
        for s in CREDENTIAL_STATES {
            let _ = writeln!(out, "aigne_hub_credential_state{{credential=\"{id}\",provider=\"{provider}\",state=\"{s}\"}} {}", u8::from(s == current));
        }
    }
}
