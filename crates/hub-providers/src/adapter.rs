//! The one trait every provider adapter implements, and what it is given.

use std::pin::Pin;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::Stream;
use hub_core::chat::ChatRequest;
use hub_core::wire::{Chunk, Completion};
use hub_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use hub_core::images::{ImageRequest, ImageResponse};
use hub_core::video::{VideoRequest, VideoResult};
use hub_core::{ProviderKind, Secret};

use crate::error::ProviderError;

/// Where one attempt goes: a provider, one of its credentials, and the upstream model id.
#[derive(Debug, Clone)]
pub struct Target {
    /// The provider's name in model references: `openai`, `custom:lab`, …
    pub provider: String,
    pub kind: ProviderKind,
    /// Base URL as an SDK's `base_url` is written (`https://api.openai.com/v1`).
    pub base_url: String,
    pub credential_id: Option<String>,
    pub api_key: Option<Secret>,
    /// The model id the upstream expects.
    pub model: String,
}

/// Streamed chunks, typed or still in the OpenAI wire form (see `hub_core::wire`).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, ProviderError>> + Send>>;

/// A complete, non-streamed reply.
#[derive(Debug)]
pub struct ChatReply {
    /// Typed, or the upstream's OpenAI JSON when it already is in the client's format.
    pub completion: Completion,
    /// Time from sending the request to the upstream's response headers.
    pub upstream_ttfb: Duration,
}

/// A streamed reply whose headers arrived with a success status.
pub struct StreamReply {
    pub chunks: ChunkStream,
    pub upstream_ttfb: Duration,
}

pub trait Adapter: Send + Sync {
    /// A non-streamed chat completion.
    fn chat<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>>;

    /// A streamed chat completion. The stream always ends with usage when the upstream reports
    /// it (the adapter asks for it), whatever the client asked.
    fn chat_stream<'a>(
        &'a self,
        target: &'a Target,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<StreamReply, ProviderError>>;

    /// Embeddings, for providers that offer them.
    fn embeddings<'a>(&'a self, _target: &'a Target, _req: &'a EmbeddingsRequest) -> BoxFuture<'a, Result<EmbeddingsResponse, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("embeddings")) })
    }

    /// Image generation, for providers that offer it. Images come back as the provider gives
    /// them (URLs or base64); the HTTP layer turns them into what the client asked for.
    fn images<'a>(&'a self, _target: &'a Target, _req: &'a ImageRequest) -> BoxFuture<'a, Result<ImageResponse, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("image generation")) })
    }

    /// The cheapest request that proves the provider accepts the credential (mostly listing
    /// models): `Ok` when it did. "Test connection" and the background re-check of set-aside
    /// credentials use it; no user's call is ever spent on a credential known to be bad.
    fn probe<'a>(&'a self, _target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("connection tests")) })
    }

    /// Video generation, for providers that offer it: submits the job, polls it as `polling`
    /// says, and downloads the finished file.
    fn video<'a>(&'a self, _target: &'a Target, _req: &'a VideoRequest, _polling: &'a crate::video::VideoPolling) -> BoxFuture<'a, Result<VideoResult, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("video generation")) })
    }
}
