//! Alert webhooks: the hub's one outbound call that is not to a model provider. A JSON body is
//! POSTed with `X-AIGNE-Hub-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
//! signed afresh on each attempt, retried with a doubling back-off on failure.

use std::time::Duration;

use bytes::Bytes;

use crate::error::ProviderError;

pub const SIGNATURE_HEADER: &str = "x-aigne-hub-signature";
const TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

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
        let unix = hub_core::ids::now_ms() / 1000;
        let signature = hub_core::alerts::webhook_signature(secret, unix, body);
        let res = self
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
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

    /// Up to `attempts` signed POSTs, waiting 1 s, 2 s, 4 s… between them.
    pub async fn deliver(&self, url: &str, secret: &[u8], body: &Bytes, attempts: u32) -> Result<u16, WebhookError> {
        let mut wait = FIRST_BACKOFF;
        let mut last = WebhookError::Unreachable("no attempt".into());
        for attempt in 1..=attempts.max(1) {
            match self.post(url, secret, body).await {
                Ok(status) => return Ok(status),
                Err(e) => last = e,
            }
            if attempt < attempts {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2);
            }
        }
        Err(last)
    }
}
