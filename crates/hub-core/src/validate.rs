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
