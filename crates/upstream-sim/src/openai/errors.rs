//! OpenAI's error bodies: `{"error":{"message","type","param","code"}}`,
//! worded as api.openai.com words them so that a gateway's error mapping
//! is exercised against the real thing.

use axum::response::Response;
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::{json_response, ResponseMeta};

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// One OpenAI error, ready to be sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>, kind: &'static str) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    fn param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn into_response(self, meta: &ResponseMeta) -> Response {
        let body = serde_json::to_vec(&Envelope {
            error: ErrorBody {
                message: &self.message,
                kind: self.kind,
                param: self.param,
                code: self.code,
            },
        })
        .unwrap_or_default();
        let mut resp = json_response(self.status, body, meta);
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Masks a presented key the way OpenAI echoes it back: the first six and
/// last four characters around `***`. Short keys are hidden entirely.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 11 {
        return "***".to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

pub fn missing_api_key() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompting for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
    )
}

pub fn invalid_api_key(presented: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        format!(
            "Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.",
            mask_key(presented)
        ),
        "invalid_request_error",
    )
    .code("invalid_api_key")
}

pub fn invalid_json() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        "invalid_request_error",
    )
}

/// A body that is JSON but not the shape the endpoint expects.
pub fn invalid_body(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("Invalid request body: {detail}"),
        "invalid_request_error",
    )
}

pub fn missing_model() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "you must provide a model parameter",
        "invalid_request_error",
    )
}

pub fn missing_parameter(param: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!("Missing required parameter: '{param}'."),
        "invalid_request_error",
    )
    .param(param)
    .code("missing_required_parameter")
}

pub fn empty_array(param: &'static str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."
        ),
        "invalid_request_error",
    )
    .param(param)
    .code("empty_array")
}

pub fn below_minimum(param: &'static str, min: u64, got: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got {got} instead."
        ),
        "invalid_request_error",
    )
    .param(param)
    .code("integer_below_min_value")
}

pub fn above_maximum(param: &'static str, max: u64, got: u64) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "Invalid '{param}': integer above maximum value. Expected a value <= {max}, but got {got} instead."
        ),
        "invalid_request_error",
    )
    .param(param)
    .code("integer_above_max_value")
}

pub fn stream_options_without_stream() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "invalid_request_error",
    )
    .param("stream_options")
}

/// OpenAI's answer to an empty embeddings input.
pub fn invalid_input() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        "invalid_request_error",
    )
}

pub fn model_not_found(model: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("The model `{model}` does not exist or you do not have access to it."),
        "invalid_request_error",
    )
    .code("model_not_found")
}

pub fn invalid_url(method: &str, path: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("Invalid URL ({method} {path})"),
        "invalid_request_error",
    )
}

/// A request-level error with OpenAI's `invalid_request_error` type and this message.
pub fn invalid_url_message(status: StatusCode, message: String) -> ApiError {
    ApiError::new(status, message, "invalid_request_error")
}

/// The body OpenAI sends for `status`, used by status faults.
pub fn for_status(status: u16, retry_after: Option<u64>, model: &str) -> ApiError {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut err = match code.as_u16() {
        400 => ApiError::new(
            code,
            "The request was invalid (simulated).",
            "invalid_request_error",
        ),
        401 => invalid_api_key("sk-simulated-key-0000"),
        403 => ApiError::new(
            code,
            "Country, region, or territory not supported",
            "request_forbidden",
        )
        .code("unsupported_country_region_territory"),
        404 => model_not_found(model),
        429 => {
            let wait = retry_after.unwrap_or(20);
            ApiError::new(
                code,
                format!(
                    "Rate limit reached for {model} in organization org-simulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in {wait}s. Visit https://platform.openai.com/account/rate-limits to learn more."
                ),
                "requests",
            )
            .code("rate_limit_exceeded")
        }
        500 => ApiError::new(
            code,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
        ),
        503 => ApiError::new(
            code,
            "The engine is currently overloaded, please try again later",
            "server_error",
        ),
        n if n >= 500 => ApiError::new(
            code,
            format!("The upstream returned status {n} (simulated)."),
            "server_error",
        ),
        n => ApiError::new(
            code,
            format!("The request failed with status {n} (simulated)."),
            "invalid_request_error",
        ),
    };
    err.retry_after = retry_after;
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_openai() {
        assert_eq!(mask_key("sk-abcdef0123456789wxyz"), "sk-abc***wxyz");
        assert_eq!(mask_key("short"), "***");
    }
}
