//! Reading and parsing a JSON body exactly once, with a size limit and errors in the route's
//! envelope (never axum's plain-text rejections).

use axum::body::Body;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub async fn read_limited(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // A length-limit error is the only kind to_bytes reports for a well-formed stream.
        let text = e.to_string();
        if text.contains("length limit") || std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit")) {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request(None, "the request body could not be read")
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_json_naming(bytes, &["model", "messages"])
}

/// Parses a JSON body once; a failure names the first of `params` serde's message mentions, as
/// OpenAI errors name the parameter at fault.
pub fn parse_json_naming<T: DeserializeOwned>(bytes: &[u8], params: &[&'static str]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(None, "the request body is empty; send a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        let param = params.iter().copied().find(|p| text.contains(&format!("`{p}`")));
        ApiError::bad_request(param, format!("invalid JSON body: {e}"))
    })
}
