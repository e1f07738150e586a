//! Google Gemini (the Gemini API's `generateContent`, `streamGenerateContent` and
//! `batchEmbedContents`), provider `google`.
//!
//! Endpoints are `{base}/v1beta/models/{model}:{method}` with `base` as an SDK writes it
//! (`https://generativelanguage.googleapis.com`; a base that already ends in `/v1beta` or `/v1`
//! is used as the version root). The API key travels only in the `x-goog-api-key` header, never
//! as the `?key=` query parameter Google also accepts, so no URL the hub handles or logs ever
//! holds it.
//!
//! This module sends and receives; the translation is pure code in [`translate`] (chat),
//! [`stream`] (the stateful stream translator), [`embeddings`] and [`errors`], over the serde
//! types in [`wire`].

pub mod embeddings;
pub mod errors;
pub mod images;
pub mod schema;
pub mod stream;
pub mod translate;
pub mod video;
pub mod wire;

use hub_core::wire::Chunk;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use hub_core::chat::ChatRequest;
use hub_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};

use crate::reply::{read_limited, retry_after};
use crate::adapter::{Adapter, ChatReply, StreamReply, Target};
use crate::client::{transport_error, HttpClient};
use crate::error::{ProviderError, TimeoutKind};

/// Upper bound on a non-streamed reply body; a larger one is a protocol error, not an OOM.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
/// Error bodies are read up to this size.
const MAX_ERROR_BYTES: usize = 64 * 1024;
const API_KEY_HEADER: &str = "x-goog-api-key";

pub struct GeminiAdapter {
    client: HttpClient,
}

impl GeminiAdapter {
    pub fn new(client: HttpClient) -> GeminiAdapter {
        GeminiAdapter { client }
    }

    async fn post(&self, target: &Target, url: String, body: Vec<u8>, stream: bool) -> Result<(reqwest::Response, Duration), ProviderError> {
        let mut builder = self
            .client
            .inner
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, if stream { "text/event-stream" } else { "application/json" })
            .body(body);
        if let Some(key) = &target.api_key {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| ProviderError::Config("the API key is not a valid header value".to_owned()))?;
            value.set_sensitive(true);
            builder = builder.header(API_KEY_HEADER, value);
        }
        let started = Instant::now();
        let response = tokio::time::timeout(self.client.timeouts.first_byte, builder.send())
            .await
            .map_err(|_| ProviderError::Timeout(TimeoutKind::FirstByte))?
            .map_err(transport_error)?;
        let ttfb = started.elapsed();
        if !response.status().is_success() {
            return Err(failure(target, response).await);
        }
        Ok((response, ttfb))
    }
}

async fn failure(target: &Target, response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = read_limited(response, MAX_ERROR_BYTES).await.unwrap_or_default();
    ProviderError::Upstream(errors::parse_failure(status, &body, retry_after, target.api_key.as_ref().map(|k| k.expose())))
}


/// `{root}/models/{model}:{method}`; `method` may carry a query (`streamGenerateContent?alt=sse`).
pub fn endpoint(base_url: &str, model: &str, method: &str) -> Result<String, ProviderError> {
    let root = version_root(base_url)?;
    Ok(format!("{root}/{}:{method}", model_path(model)?))
}

/// `models/{id}` (or a tuned model's `tunedModels/{id}`), refusing ids that could change the
/// URL's path or query.
fn model_path(model: &str) -> Result<String, ProviderError> {
    let (collection, id) = match model.strip_prefix("tunedModels/") {
        Some(id) => ("tunedModels", id),
        None => ("models", model.strip_prefix("models/").unwrap_or(model)),
    };
    let valid = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(ProviderError::Unsupported("model names other than letters, digits, '.', '-' and '_'"));
    }
    Ok(format!("{collection}/{id}"))
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(0)).unwrap_or(0)
}

/// Suffixes for ids Gemini does not give (`call_…`, `chatcmpl-…`).
fn new_id() -> String {
    hub_core::base62::random(&mut rand::rngs::OsRng, 24)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(value).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))
}

impl Adapter for GeminiAdapter {
    fn chat<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>> {
        Box::pin(async move {
            let url = endpoint(&target.base_url, &target.model, "generateContent")?;
            let body = encode(&translate::request(req)?)?;
            let work = async {
                let (response, upstream_ttfb) = self.post(target, url, body, false).await?;
                let bytes = read_limited(response, MAX_REPLY_BYTES).await?;
                let reply: wire::GenerateContentResponse =
                    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol(format!("generateContent reply: {e}")))?;
                let completion = translate::completion(&reply, &target.model, unix_now(), &mut new_id);
                Ok(ChatReply { completion: completion.into(), upstream_ttfb })
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    fn chat_stream<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<StreamReply, ProviderError>> {
        Box::pin(async move {
            let url = endpoint(&target.base_url, &target.model, "streamGenerateContent?alt=sse")?;
            let body = encode(&translate::request(req)?)?;
            let (response, upstream_ttfb) = self.post(target, url, body, true).await?;
            let credential = target.api_key.as_ref().map(|k| k.expose().to_owned());
            let chunks = stream::decode_stream(response.bytes_stream(), &target.model, unix_now(), self.client.timeouts.idle, credential, Box::new(new_id));
            Ok(StreamReply { chunks: Box::pin(futures::StreamExt::map(chunks, |c| c.map(Chunk::Typed))), upstream_ttfb })
        })
    }

    fn embeddings<'a>(&'a self, target: &'a Target, req: &'a EmbeddingsRequest) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async move {
            let url = endpoint(&target.base_url, &target.model, "batchEmbedContents")?;
            let model = model_path(&target.model)?;
            let bare = model.split_once('/').map_or(model.as_str(), |(_, id)| id);
            let body = encode(&embeddings::request(req, bare)?)?;
            let work = async {
                let (response, _) = self.post(target, url, body, false).await?;
                let bytes = read_limited(response, MAX_REPLY_BYTES).await?;
                let reply: wire::BatchEmbedResponse =
                    serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol(format!("batchEmbedContents reply: {e}")))?;
                embeddings::response(req, reply, &target.model)
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    fn images<'a>(&'a self, target: &'a Target, req: &'a hub_core::images::ImageRequest) -> BoxFuture<'a, Result<hub_core::images::ImageResponse, ProviderError>> {
        Box::pin(async move {
            let work = async {
                match images::flavour(&target.model) {
                    images::Flavour::Imagen => {
                        let url = endpoint(&target.base_url, &target.model, "predict")?;
                        let body = encode(&images::imagen_body(req)?)?;
                        let (response, _) = self.post(target, url, body, false).await?;
                        images::imagen_reply(&read_limited(response, MAX_REPLY_BYTES).await?, unix_now())
                    }
                    images::Flavour::Gemini => {
                        let url = endpoint(&target.base_url, &target.model, "generateContent")?;
                        let body = encode(&images::gemini_body(req)?)?;
                        let calls = (0..req.n.unwrap_or(1).max(1)).map(|_| async {
                            let (response, _) = self.post(target, url.clone(), body.clone(), false).await?;
                            read_limited(response, MAX_REPLY_BYTES).await
                        });
                        let replies = futures::future::try_join_all(calls).await?;
                        let bodies: Vec<&[u8]> = replies.iter().map(Vec::as_slice).collect();
                        images::gemini_reply(&bodies, unix_now())
                    }
                }
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    fn video<'a>(
        &'a self,
        target: &'a Target,
        req: &'a hub_core::video::VideoRequest,
        polling: &'a crate::video::VideoPolling,
    ) -> BoxFuture<'a, Result<hub_core::video::VideoResult, ProviderError>> {
        Box::pin(video::video(&self.client, target, req, polling))
    }

    /// `GET {root}/models?pageSize=1`: listing models needs a valid key and costs nothing. The key
    /// goes in `x-goog-api-key`, never in the URL.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = format!("{}/models?pageSize=1", version_root(&target.base_url)?);
            let builder = self.client.inner.get(url).header(ACCEPT, "application/json");
            crate::probe::send(&self.client, target, builder, crate::video::Auth::GoogApiKey, errors::parse_failure).await
        })
    }
}

/// `{base}/v1beta`, or the base itself when it already names a version.
fn version_root(base_url: &str) -> Result<String, ProviderError> {
    let base = base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return Err(ProviderError::Config("the provider has no base URL".to_owned()));
    }
    Ok(if base.ends_with("/v1beta") || base.ends_with("/v1") { base.to_owned() } else { format!("{base}/v1beta") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_never_carry_the_key_and_tolerate_version_suffixes() {
        let ok = |base: &str, model: &str, method: &str| endpoint(base, model, method).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok("https://generativelanguage.googleapis.com", "gemini-2.0-flash", "generateContent"),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(
            ok("https://generativelanguage.googleapis.com/v1beta/", "models/gemini-2.5-pro", "streamGenerateContent?alt=sse"),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
        assert_eq!(ok("http://127.0.0.1:9/v1", "tunedModels/my-model-1", "generateContent"), "http://127.0.0.1:9/v1/tunedModels/my-model-1:generateContent");
        for url in [ok("http://h", "m", "generateContent"), ok("http://h", "m", "streamGenerateContent?alt=sse")] {
            assert!(!url.contains("key="), "{url}");
        }
        for bad in ["", "../files", "m?key=1", "m#x", "a/b", "m:x"] {
            assert!(endpoint("http://h", bad, "generateContent").is_err(), "{bad}");
        }
        assert!(endpoint(" ", "m", "generateContent").is_err());
    }
}
