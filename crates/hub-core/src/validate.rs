//! Request rules that do not depend on a provider: what makes a chat request acceptable.

use crate::chat::{ChatRequest, Content};

/// A rule a request broke, naming the offending parameter as OpenAI errors do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    pub param: &'static str,
    pub message: String,
}

fn invalid(param: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest { param, message: message.into() }
}

pub const MAX_MESSAGES: usize = 10_000;
pub const MAX_N: u32 = 128;

pub fn chat_request(req: &ChatRequest) -> Result<(), InvalidRequest> {
    if req.model.trim().is_empty() {
        return Err(invalid("model", "you must provide a model parameter"));
    }
    if req.messages.is_empty() {
        return Err(invalid("messages", "'messages' must contain at least one message"));
    }
    if req.messages.len() > MAX_MESSAGES {
        return Err(invalid("messages", format!("'messages' holds more than {MAX_MESSAGES} messages")));
    }
    if let Some(n) = req.n {
        if n == 0 || n > MAX_N {
            return Err(invalid("n", format!("'n' must be between 1 and {MAX_N}")));
        }
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(invalid("temperature", "'temperature' must be between 0 and 2"));
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid("top_p", "'top_p' must be between 0 and 1"));
        }
    }
    if req.output_limit() == Some(0) {
        return Err(invalid("max_tokens", "'max_tokens' must be at least 1"));
    }
    if req.stream_options.is_some() && !req.is_stream() {
        return Err(invalid("stream_options", "'stream_options' is only allowed when 'stream' is true"));
    }
    Ok(())
}

/// Total text bytes and message count, for token estimates.
pub fn text_size(req: &ChatRequest) -> (usize, usize) {
    let bytes = req.messages.iter().map(|m| m.content.as_ref().map_or(0, Content::text_len)).sum();
    (bytes, req.messages.len())
}

/// Most inputs one embeddings request may carry (OpenAI's limit).
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// What makes an embeddings request acceptable, whatever the provider. Token-array inputs are
/// checked against the provider once it is known (only OpenAI-protocol upstreams take them).
pub fn embeddings_request(req: &crate::embeddings::EmbeddingsRequest) -> Result<(), InvalidRequest> {
    use crate::embeddings::EmbeddingInput;
    if req.model.trim().is_empty() {
        return Err(invalid("model", "you must provide a model parameter"));
    }
    let empty_text = match &req.input {
        EmbeddingInput::One(s) => s.is_empty(),
        EmbeddingInput::Many(v) => v.iter().any(String::is_empty),
        EmbeddingInput::Tokens(t) => t.is_empty(),
        EmbeddingInput::ManyTokens(v) => v.iter().any(Vec::is_empty),
    };
    if req.input.is_empty() {
        return Err(invalid("input", "'input' must not be empty"));
    }
    if empty_text {
        return Err(invalid("input", "'input' must not contain an empty string or an empty token array"));
    }
    if req.input.len() > MAX_EMBEDDING_INPUTS {
        return Err(invalid("input", format!("'input' holds more than {MAX_EMBEDDING_INPUTS} items")));
    }
    if let Some(f) = req.encoding_format.as_deref() {
        if f != "float" && f != "base64" {
            return Err(invalid("encoding_format", "'encoding_format' must be 'float' or 'base64'"));
        }
    }
    if req.dimensions == Some(0) {
        return Err(invalid("dimensions", "'dimensions' must be at least 1"));
    }
    Ok(())
}

#[cfg(test)]
mod embeddings_tests {
    use super::*;
    use crate::embeddings::EmbeddingsRequest;

    fn req(v: serde_json::Value) -> EmbeddingsRequest {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn embeddings_requests_are_checked() {
        assert_eq!(embeddings_request(&req(serde_json::json!({"model": "m", "input": "hi"}))), Ok(()));
        assert_eq!(embeddings_request(&req(serde_json::json!({"model": "m", "input": [[1, 2], [3]]}))), Ok(()));
        let param = |v| embeddings_request(&req(v)).err().map(|e| e.param);
        assert_eq!(param(serde_json::json!({"model": " ", "input": "hi"})), Some("model"));
        assert_eq!(param(serde_json::json!({"model": "m", "input": ""})), Some("input"));
        assert_eq!(param(serde_json::json!({"model": "m", "input": []})), Some("input"));
        assert_eq!(param(serde_json::json!({"model": "m", "input": ["a", ""]})), Some("input"));
        assert_eq!(param(serde_json::json!({"model": "m", "input": "a", "encoding_format": "int8"})), Some("encoding_format"));
        assert_eq!(param(serde_json::json!({"model": "m", "input": "a", "dimensions": 0})), Some("dimensions"));
    }
}
