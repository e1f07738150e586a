//! The AIGNE framework's wire shapes (`@aigne/aigne-hub`, the AIGNE CLI) and their translation to
//! and from the canonical types. Pure code, no I/O: `hub-http` parses a body into these types,
//! calls the translation, and runs the canonical request through the same path as every other
//! route.
//!
//! Every body the SDK posts is an envelope `{"input":{…},"agent":"…","options":{…}}`; the parts
//! the hub reads are [`Envelope::input`] and [`CallOptions::streaming`]. Fields are camelCase,
//! unknown fields are ignored (the SDK sends `userContext`, `memories`, `cacheControl`, …).
//!
//! - [`chat`]: `POST /api/v2/chat`: messages, tools, tool calls with JSON-object arguments, the
//!   reply object and the streamed `delta` events.
//! - [`media`]: `POST /api/v2/image` and `POST /api/v2/embeddings`.
//! - [`listing`]: the model list of `GET /api/ai/models`.
//! - [`legacy`]: the older `POST /api/v2/chat/completions` shape (no envelope, camelCase
//!   OpenAI fields) that older clients of the original hub still send.

pub mod chat;
pub mod legacy;
pub mod listing;
pub mod media;
pub mod video;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::validate::InvalidRequest;

/// A request body as the SDK's HTTP client posts it.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<I> {
    pub input: I,
    /// `$CHAT_MODEL`, `$IMAGE_MODEL`…: which kind of agent the client thinks it calls. The route
    /// already says it; kept for logs and future checks.
    #[serde(default)]
    pub agent: Option<String>,
    #[serde(default)]
    pub options: Option<CallOptions>,
}

impl<I> Envelope<I> {
    pub fn streaming(&self) -> bool {
        self.options.as_ref().and_then(|o| o.streaming).unwrap_or(false)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallOptions {
    #[serde(default)]
    pub streaming: Option<bool>,
}

/// Token usage as the AIGNE framework counts it. `creditPrefix` and `aigneHubCredits` are left
/// out while credit billing is not built (an empty prefix would break the SDK's schema).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

impl OutputUsage {
    pub fn from_canonical(u: &crate::chat::Usage) -> OutputUsage {
        let cached = u.cached_tokens();
        OutputUsage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens, cache_read_input_tokens: (cached > 0).then_some(cached) }
    }
}

fn invalid(param: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest { param, message: message.into() }
}

/// The model a request names, in `input.modelOptions.model` (or `input.model`). A leading
/// `aignehub/` stays: model-name parsing drops it, as for every other route.
fn required_model(model_options: Option<&str>, top_level: Option<&str>) -> Result<String, InvalidRequest> {
    match model_options.or(top_level).map(str::trim) {
        Some(m) if !m.is_empty() => Ok(m.to_owned()),
        _ => Err(invalid("input.modelOptions.model", "'input.modelOptions.model' is required: name the model, e.g. openai/gpt-4o-mini")),
    }
}
