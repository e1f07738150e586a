//! Page templates (askama escapes every value, so names render as text, never markup).

use askama::Template;

pub struct Nav {
    pub email: String,
    pub csrf: String,
    pub active: &'static str,
    /// Whether the Alerts link is shown (admins), and its unread count.
    pub alerts: bool,
    pub unread: i64,
}

pub struct KeyRow {
    pub kid: String,
    pub name: String,
    pub hint: String,
    pub owner: String,
    pub created: String,
    pub last_used: String,
    pub status: &'static str,
    pub requests: i64,
    pub tokens: String,
    /// The Playground's key (the hub holds no secret of it to show).
    pub playground: bool,
}

pub struct NewKey {
    pub key: String,
    pub name: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub token: String,
    pub csrf: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub message: String,
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub nav: Nav,
    pub keys: Vec<KeyRow>,
    pub new_key: Option<NewKey>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "revoke.html")]
pub struct RevokePage {
    pub nav: Nav,
    pub kid: String,
    pub name: String,
    pub hint: String,
}

pub struct ProviderRow {
    pub name: String,
    pub base_url: String,
    pub source: &'static str,
    pub credentials: Vec<CredentialRow>,
    pub enabled: bool,
}

/// One credential of a provider: masked, with its health and a Test connection button.
pub struct CredentialRow {
    pub id: String,
    /// The masked key and its health, e.g. `…abcd (cooling down)`.
    pub label: String,
    /// For a set-aside credential: the last error and when it is re-checked.
    pub detail: Option<String>,
}

#[derive(Template)]
#[template(path = "providers.html")]
pub struct ProvidersPage {
    pub nav: Nav,
    pub providers: Vec<ProviderRow>,
    /// Model aliases: name and chain (`a → b`).
    pub aliases: Vec<(String, String)>,
    pub models: Vec<ModelStatusRow>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

/// A routed model's recent record, from real calls.
pub struct ModelStatusRow {
    pub model: String,
    pub calls: usize,
    pub success: String,
    pub p50: String,
    pub available: bool,
}

impl ModelStatusRow {
    /// Every model called lately, as `provider/model`.
    pub fn from_monitor(monitor: &crate::monitor::Monitor) -> Vec<ModelStatusRow> {
        monitor
            .routed
            .recent(hub_core::ids::now_ms())
            .into_iter()
            .map(|(provider, model, h)| ModelStatusRow {
                model: format!("{provider}/{model}"),
                calls: h.calls,
                success: format!("{:.1} %", h.success_ratio * 100.0),
                p50: h.p50_ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms} ms")),
                available: h.available,
            })
            .collect()
    }
}

pub struct UsageRowView {
    pub time: String,
    pub request_id: String,
    pub key: String,
    pub project: String,
    pub model: String,
    pub status: i64,
    pub outcome: String,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub duration_ms: i64,
}

#[derive(Template)]
#[template(path = "usage.html")]
pub struct UsagePage {
    pub nav: Nav,
    pub rows: Vec<UsageRowView>,
}

pub fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| "—".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

pub fn format_optional_time(ms: Option<i64>) -> String {
    ms.map_or_else(|| "never".to_owned(), format_time)
}

#[derive(Template)]
#[template(path = "key.html")]
pub struct KeyPage {
    pub nav: Nav,
    pub kid: String,
    pub name: String,
    pub hint: String,
    pub status: &'static str,
    /// The Playground's key: no rotation (its secret is never shown).
    pub playground: bool,
    pub models: String,
    pub endpoints: String,
    pub ips: String,
    pub rpm: String,
    pub tpm: String,
    pub max_concurrency: String,
    pub expires: String,
    /// Credits per period (decimal), empty when none.
    pub budget: String,
    pub budget_period: &'static str,
    /// What the budget's period has consumed, for a key with a budget.
    pub budget_use: Option<String>,
    /// (time, action, actor, address, detail)
    pub audit: Vec<(String, String, String, String, String)>,
    pub new_key: Option<String>,
    pub grace_until: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub usage: super::dashboard::KeyUsage,
}
