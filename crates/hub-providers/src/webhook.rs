//! Alert webhooks: the hub's one outbound call that is not to a model provider. A JSON body is
//! POSTed with `X-AIGNE-Hub-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! signed afresh on each attempt. Alert deliveries also carry the alert's id and the attempt's
//! number (`X-AIGNE-Hub-Alert-Id`, `X-AIGNE-Hub-Delivery-Attempt`): the hub's outbox retries
//! until a 2xx, so a receiver may see an alert more than once and dedupes on its id.

use std::time::Duration;

use bytes::Bytes;

use crate::error::ProviderError;

pub const SIGNATURE_HEADER: &str = "x-aigne-hub-signature";
pub const ALERT_ID_HEADER: &str = "x-aigne-hub-alert-id";
pub const ATTEMPT_HEADER: &str = "x-aigne-hub-delivery-attempt";
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook answered {0}")]
    Status(u16),
    #[error("the webhook could not be reached: {0}")]
    Unreachable(String),
}

#[derive(Clone)]
pub struct WebhookClient {
    inner: reqwest::Client,
}

impl WebhookClient {
    pub fn new() -> Result<WebhookClient, ProviderError> {
        let inner = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .tcp_nodelay(true)
            // The URL an admin set is the only place a webhook goes.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aigne-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(format!("webhook client: {e}")))?;
        Ok(WebhookClient { inner })
    }

    /// One signed POST; a 2xx answer is success.
    pub async fn post(&self, url: &str, secret: &[u8], body: &Bytes) -> Result<u16, WebhookError> {
        self.send(url, secret, body, None).await
    }

    /// One signed POST of an alert's delivery, naming the alert and the attempt's number.
    pub async fn post_attempt(&self, url: &str, secret: &[u8], body: &Bytes, alert_id: &str, attempt: u64) -> Result<u16, WebhookError> {
        self.send(url, secret, body, Some((alert_id, attempt))).await
    }

    async fn send(&self, url: &str, secret: &[u8], body: &Bytes, attempt: Option<(&str, u64)>) -> Result<u16, WebhookError> {
        let unix = hub_core::ids::now_ms() / 1000;
        let signature = hub_core::alerts::webhook_signature(secret, unix, body);
        let mut req = self
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature);
        if let Some((id, n)) = attempt {
            req = req.header(ALERT_ID_HEADER, id).header(ATTEMPT_HEADER, n.to_string());
        }
        let res = req
            .body(body.clone())
            .send()
            .await
            // Only the error's kind: its text can quote the URL, which may hold a token.
            .map_err(|e| WebhookError::Unreachable(if e.is_timeout() { "timed out".into() } else if e.is_connect() { "connection failed".into() } else { "request failed".into() }))?;
        let status = res.status().as_u16();
        if res.status().is_success() {
            Ok(status)
        } else {
            Err(WebhookError::Status(status))
        }
    }
}
