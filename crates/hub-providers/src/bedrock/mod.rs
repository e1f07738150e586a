//! Amazon Bedrock: chat through the Converse API (`POST /model/{modelId}/converse` and
//! `/converse-stream`), embeddings through InvokeModel (`/model/{modelId}/invoke`), every
//! request signed with AWS Signature Version 4 (service `bedrock`).
//!
//! The provider's base URL is the regional endpoint
//! (`https://bedrock-runtime.us-east-1.amazonaws.com`; there is no default) and its credential
//! `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`, or a Bedrock API key; [`signing`] says how
//! the signing region is chosen. Streams arrive as `application/vnd.amazon.eventstream`
//! ([`eventstream`]) and are translated by [`stream`]; requests and replies by [`translate`].

pub mod embeddings;
pub mod errors;
pub mod eventstream;
pub mod signing;
pub mod stream;
pub mod translate;
pub mod wire;

use hub_core::wire::Chunk;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use hub_core::chat::ChatRequest;
use hub_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};

use crate::reply::{read_limited, retry_after};
use crate::adapter::{Adapter, ChatReply, StreamReply, Target};
use crate::client::{transport_error, HttpClient};
use crate::error::{ProviderError, TimeoutKind};

use self::signing::Credential;
use self::stream::StreamTranslator;
use self::wire::ConverseResponse;

/// Upper bound on a non-streamed reply body; a larger one is a protocol error, not an OOM.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
/// Upper bound on an error body read for its message.
const MAX_ERROR_BYTES: usize = 64 * 1024;

pub struct BedrockAdapter {
    client: HttpClient,
    /// The region signed for when the base URL's host names none.
    default_region: String,
}

impl BedrockAdapter {
    /// Reads the default region from the environment once (see [`signing`]).
    pub fn new(client: HttpClient) -> BedrockAdapter {
        BedrockAdapter::with_default_region(client, signing::default_region_from_env())
    }

    pub fn with_default_region(client: HttpClient, default_region: String) -> BedrockAdapter {
        BedrockAdapter { client, default_region }
    }

    /// Signs and sends one POST; a non-2xx answer becomes its classified failure.
    async fn send(&self, target: &Target, action: &str, body: Vec<u8>, accept: &str) -> Result<Sent, ProviderError> {
        let secret = target.api_key.as_ref().ok_or_else(|| ProviderError::Config("Amazon Bedrock needs an access key".to_owned()))?;
        let creds = Credential::parse(secret.expose())?;
        let url = signing::endpoint(&target.base_url, &target.model, action);
        let region = signing::region_from_url(&target.base_url).unwrap_or_else(|| self.default_region.clone());
        let content_type = "application/json";
        let signed = creds.auth_headers("POST", &url, &[("content-type", content_type)], &body, &region, SystemTime::now())?;
        let mut builder = self
            .client
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .header(reqwest::header::ACCEPT, accept)
            .body(body);
        for (name, value) in signed {
            builder = builder.header(name, value);
        }
        let started = Instant::now();
        let response = tokio::time::timeout(self.client.timeouts.first_byte, builder.send())
            .await
            .map_err(|_| ProviderError::Timeout(TimeoutKind::FirstByte))?
            .map_err(transport_error)?;
        let ttfb = started.elapsed();
        let secrets = creds.parts();
        if !response.status().is_success() {
            return Err(failure(response, &secrets).await);
        }
        let request_id = header(&response, "x-amzn-requestid");
        Ok(Sent { response, ttfb, request_id, secrets })
    }
}

struct Sent {
    response: reqwest::Response,
    ttfb: Duration,
    request_id: Option<String>,
    secrets: Vec<String>,
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

async fn failure(response: reqwest::Response, secrets: &[String]) -> ProviderError {
    let status = response.status().as_u16();
    let error_type = header(&response, "x-amzn-errortype");
    let retry_after = retry_after(response.headers());
    let body = read_limited(response, MAX_ERROR_BYTES).await.unwrap_or_default();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    ProviderError::Upstream(errors::parse_failure(status, error_type.as_deref(), &body, retry_after, &secrets))
}


/// A completion id from the upstream's request id, or a fresh one.
fn completion_id(request_id: Option<&str>) -> String {
    match request_id.filter(|r| !r.is_empty() && r.len() <= 64 && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
        Some(r) => format!("chatcmpl-{r}"),
        None => format!("chatcmpl-{:032x}", rand::random::<u128>()),
    }
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(value).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))
}

impl Adapter for BedrockAdapter {
    fn chat<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>> {
        Box::pin(async move {
            let prepared = translate::converse_request(req)?;
            let body = encode(&prepared.request)?;
            let work = async {
                let sent = self.send(target, "converse", body, "application/json").await?;
                let bytes = read_limited(sent.response, MAX_REPLY_BYTES).await?;
                let reply: ConverseResponse =
                    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol(format!("Converse reply: {e}")))?;
                let id = completion_id(sent.request_id.as_deref());
                let completion = translate::completion(reply, prepared.json_tool.as_deref(), id, &target.model, unix_now());
                Ok(ChatReply { completion: completion.into(), upstream_ttfb: sent.ttfb })
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    fn chat_stream<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<StreamReply, ProviderError>> {
        Box::pin(async move {
            let prepared = translate::converse_request(req)?;
            let body = encode(&prepared.request)?;
            let sent = self.send(target, "converse-stream", body, "application/vnd.amazon.eventstream").await?;
            let translator = StreamTranslator::new(
                completion_id(sent.request_id.as_deref()),
                unix_now(),
                target.model.clone(),
                prepared.json_tool,
                sent.secrets,
            );
            let chunks = stream::decode_stream(sent.response.bytes_stream(), self.client.timeouts.idle, translator);
            Ok(StreamReply { chunks: Box::pin(futures::StreamExt::map(chunks, |c| c.map(Chunk::Typed))), upstream_ttfb: sent.ttfb })
        })
    }

    fn embeddings<'a>(&'a self, target: &'a Target, req: &'a EmbeddingsRequest) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let family = embeddings::family(&target.model);
            let texts = embeddings::texts(req)?;
            let bodies = embeddings::request_bodies(req, &texts)?;
            let work = async {
                let mut vectors = Vec::with_capacity(texts.len());
                let mut tokens = 0u64;
                // One call per body, in order: Titan embeds one string per call.
                for body in bodies {
                    let sent = self.send(target, "invoke", body, "application/json").await?;
                    let header_tokens = header(&sent.response, "x-amzn-bedrock-input-token-count").and_then(|v| v.trim().parse().ok());
                    let bytes = read_limited(sent.response, MAX_REPLY_BYTES).await?;
                    let (v, t) = embeddings::parse_reply(family, &bytes, header_tokens)?;
                    vectors.extend(v);
                    tokens += t;
                }
                if vectors.len() != texts.len() {
                    return Err(ProviderError::Protocol(format!("{} embeddings for {} inputs", vectors.len(), texts.len())));
                }
                Ok(embeddings::response(req, vectors, tokens))
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    /// A signed `GET /foundation-models` (ListFoundationModels) on the control-plane endpoint
    /// of the runtime's region (`bedrock-runtime.R.amazonaws.com` → `bedrock.R.amazonaws.com`;
    /// other hosts, such as a proxy or a simulator, are asked at their own root). Free, and it
    /// needs the same signature every call does.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let secret = target.api_key.as_ref().ok_or_else(|| ProviderError::Config("Amazon Bedrock needs an access key".to_owned()))?;
            let creds = Credential::parse(secret.expose())?;
            let url = format!("{}/foundation-models", control_plane(&target.base_url));
            let region = signing::region_from_url(&target.base_url).unwrap_or_else(|| self.default_region.clone());
            let signed = creds.auth_headers("GET", &url, &[], b"", &region, SystemTime::now())?;
            let mut builder = self.client.inner.get(url).header(reqwest::header::ACCEPT, "application/json");
            for (name, value) in signed {
                builder = builder.header(name, value);
            }
            let secrets = creds.parts();
            let work = async {
                let response = builder.send().await.map_err(transport_error)?;
                if !response.status().is_success() {
                    return Err(failure(response, &secrets).await);
                }
                Ok(())
            };
            tokio::time::timeout(crate::probe::PROBE_TIMEOUT, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }
}

/// The control-plane base of a runtime endpoint: `bedrock-runtime[-fips].` becomes
/// `bedrock[-fips].` on AWS hosts; any other base is kept.
pub fn control_plane(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if signing::region_from_url(base).is_none() {
        return base.to_owned();
    }
    base.replacen("://bedrock-runtime-fips.", "://bedrock-fips.", 1).replacen("://bedrock-runtime.", "://bedrock.", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_go_to_the_control_plane_of_the_same_region() {
        assert_eq!(control_plane("https://bedrock-runtime.us-east-1.amazonaws.com"), "https://bedrock.us-east-1.amazonaws.com");
        assert_eq!(control_plane("https://bedrock-runtime-fips.us-west-2.amazonaws.com/"), "https://bedrock-fips.us-west-2.amazonaws.com");
        assert_eq!(control_plane("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn completion_ids_come_from_request_ids() {
        assert_eq!(completion_id(Some("5d2f1e0e-1c5a-4a8e-9d1e-3f2b1c0d9e8f")), "chatcmpl-5d2f1e0e-1c5a-4a8e-9d1e-3f2b1c0d9e8f");
        assert!(completion_id(Some("bad id\n")).starts_with("chatcmpl-"));
        assert_eq!(completion_id(None).len(), "chatcmpl-".len() + 32);
    }
}
