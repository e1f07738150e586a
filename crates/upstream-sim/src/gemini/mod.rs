//! The Gemini API under `/v1beta/models/{model}:{method}`, as
//! `generativelanguage.googleapis.com` answers it.
//!
//! - `:generateContent` — one pretty-printed `GenerateContentResponse`.
//! - `:streamGenerateContent?alt=sse` — `data: {…}` events separated by `\r\n\r\n`, one per
//!   reply word, with cumulative `usageMetadata` on each and `finishReason` on the last; no
//!   `[DONE]`: the body simply ends. Without `alt=sse` Google streams one JSON array whose
//!   elements are the same responses pretty-printed and separated by `,\r\n`; the simulator
//!   sends that form too, paced and faulted like the SSE form.
//! - `:batchEmbedContents` — `{"embeddings":[{"values":[…]}]}`, vectors from
//!   [`crate::text_embedding`] (`outputDimensionality` long, default 8). Gemini reports no
//!   usage for embeddings, and neither does the simulator.
//!
//! Authentication is Google's: the key comes in `x-goog-api-key` (or the `key` query
//! parameter). With [`crate::SimConfig::api_key`] set, a missing key gets `403
//! PERMISSION_DENIED` and a wrong one `400 INVALID_ARGUMENT` with reason `API_KEY_INVALID`,
//! byte for byte as Google sends them.
//!
//! Requests are checked like Google checks them, so a gateway's translation is tested against
//! the real rules: unknown field names (top level, `generationConfig`, contents, parts, tools,
//! function declarations, tool config, and every `Schema`) are refused with `Invalid JSON
//! payload received. Unknown name …`; roles must be `user` or `model`; parts must not be empty
//! and hold exactly one kind of data; `inlineData.data` must be base64; function-calling modes
//! must be one of Google's names; function parameters must not be an object without
//! properties; `properties` only on objects, `items` only on arrays.
//!
//! Replies, usage, tool calls and faults follow the same deterministic rules as the OpenAI
//! side (see the crate docs), with Gemini's names: the reply length is
//! `generationConfig.maxOutputTokens` (else the default), `candidateCount` candidates; prompt
//! tokens are Σ over `contents` and the `systemInstruction` of (3 + words of its text parts) +
//! 3 (function calls and responses count no words). A tool call is made when tools are offered
//! and `functionCallingConfig.mode` is `ANY` (the first allowed name, else the first
//! declaration), or the last `user` turn holds `[[sim:tool]]` and the mode is not `NONE`; it is
//! a `functionCall` with `args` `{"sim": true}` and `finishReason` `STOP`. Status faults answer
//! with Google's error body for the status; a 429's `retry_after` becomes a `RetryInfo`
//! `retryDelay` detail (Google sends no `Retry-After` header).
//!
//! Gemini requests count in the same [`crate::Stats`] as the OpenAI side: `chat_requests`
//! (both generate methods), `stream_requests` (`:streamGenerateContent`), `embedding_requests`,
//! `unauthorized`, the token totals, and `last_chat_body` (the Gemini request as received).

pub mod embed;
pub mod errors;
pub mod generate;
pub mod images;
pub(crate) mod request;
pub(crate) mod schema;
pub(crate) mod stream;
pub mod video;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use crate::state::{AppState, SharedState};
use crate::stats::bump;
use errors::GoogleError;

pub(crate) const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");
pub(crate) const EVENT_STREAM: HeaderValue = HeaderValue::from_static("text/event-stream");

/// Headers Google's front end puts on every Gemini API response.
pub(crate) fn add_google_headers(headers: &mut HeaderMap) {
    const STATIC: [(&str, &str); 5] = [
        ("server", "scaffolding on HTTPServer2"),
        ("server-timing", "gfet4t7; dur=1"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN"),
        ("x-xss-protection", "0"),
    ];
    for (name, value) in STATIC {
        headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    for value in ["Origin", "X-Origin", "Referer"] {
        headers.append(http::header::VARY, HeaderValue::from_static(value));
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON_UTF8);
    add_google_headers(resp.headers_mut());
    resp
}

/// Google's pretty printing: two-space indent, `": "`, and a final newline.
pub(crate) fn pretty<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Google's stream events: one line, `": "` after keys, bare commas between items
/// (`{"candidates": [{"content": {"parts": [{"text": "Hi"}],"role": "model"},"index": 0}]}`).
pub(crate) fn stream_json<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    let mut ser = serde_json::Serializer::with_formatter(out, StreamFormatter);
    let _ = value.serialize(&mut ser);
}

struct StreamFormatter;

impl serde_json::ser::Formatter for StreamFormatter {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }
}

/// The methods served under a model, from the path segment `{model}:{method}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Generate,
    Stream,
    BatchEmbed,
    PredictLongRunning,
    Predict,
}

impl Method {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Generate => "generateContent",
            Method::Stream => "streamGenerateContent",
            Method::BatchEmbed => "batchEmbedContents",
            Method::PredictLongRunning => "predictLongRunning",
            Method::Predict => "predict",
        }
    }
}

/// What the query string says: `alt=sse` and a `key`.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub sse: bool,
    pub key: Option<String>,
}

pub(crate) fn query(uri: &http::Uri) -> Query {
    let mut q = Query::default();
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("alt", v)) => q.sse = v == "sse",
            Some(("key", v)) => q.key = Some(v.to_owned()),
            _ => {}
        }
    }
    q
}

/// `POST /v1beta/models/{model}:{method}`.
pub(crate) async fn dispatch(State(state): State<SharedState>, Path(target): Path<String>, req: Request) -> Response {
    let parsed = target.rsplit_once(':').and_then(|(model, name)| {
        let method = match name {
            "generateContent" => Method::Generate,
            "streamGenerateContent" => Method::Stream,
            "batchEmbedContents" => Method::BatchEmbed,
            "predictLongRunning" => Method::PredictLongRunning,
            "predict" => Method::Predict,
            _ => return None,
        };
        (!model.is_empty()).then(|| (model.to_owned(), method))
    });
    let Some((model, method)) = parsed else {
        return errors::method_not_found(req.uri().path()).into_response();
    };
    let q = query(req.uri());
    match method {
        Method::Generate | Method::Stream => generate::handle(state, model, method, q, req).await,
        Method::BatchEmbed => embed::handle(state, model, q, req).await,
        Method::PredictLongRunning => video::submit(state, model, q, req).await,
        Method::Predict => images::predict(state, model, q, req).await,
    }
}

/// Models `GET /v1beta/models` lists: `(id, display name, methods)`.
const LISTED: [(&str, &str, &[&str]); 4] = [
    ("gemini-2.5-flash", "Gemini 2.5 Flash", &["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]),
    ("gemini-2.5-flash-image", "Nano Banana", &["generateContent", "countTokens", "batchGenerateContent"]),
    ("imagen-4.0-generate-001", "Imagen 4", &["predict"]),
    ("gemini-embedding-001", "Gemini Embedding 001", &["embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"]),
];

/// `GET /v1beta/models` (`?pageSize=N`): the model list, with Google's key check. Counted in
/// `models_requests`, not as a call of the key.
pub(crate) async fn list_models(State(state): State<SharedState>, req: Request) -> Response {
    bump(&state.counters.models_requests);
    let q = query(req.uri());
    if let Err(e) = authorize_as(&state, req.headers(), &q, false) {
        return e.into_response();
    }
    let page_size = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("pageSize="))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(50);
    let models: Vec<serde_json::Value> = LISTED
        .iter()
        .take(page_size)
        .map(|(id, display, methods)| {
            serde_json::json!({
                "name": format!("models/{id}"),
                "version": "001",
                "displayName": display,
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": methods,
            })
        })
        .collect();
    let mut body = serde_json::json!({"models": models});
    if page_size < LISTED.len() {
        body["nextPageToken"] = serde_json::json!("Ch9tb2RlbHMvZ2VtaW5pLTIuNS1mbGFzaA==");
    }
    json_response(StatusCode::OK, pretty(&body))
}

/// Checks the key Google's way and counts a refusal.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, q: &Query) -> Result<(), GoogleError> {
    authorize_as(state, headers, q, true)
}

/// [`authorize`]; `call` says whether the request counts as a model call of its key.
pub(crate) fn authorize_as(state: &AppState, headers: &HeaderMap, q: &Query, call: bool) -> Result<(), GoogleError> {
    state.counters.record_authorization(headers.get(http::header::AUTHORIZATION));
    let presented = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| q.key.clone());
    if let (true, Some(k)) = (call, presented.as_deref()) {
        state.count_call(k.trim());
    }
    if state.api_key.is_none() {
        return Ok(());
    }
    match presented {
        Some(k) if state.accepts(k.trim()) => Ok(()),
        Some(_) => {
            bump(&state.counters.unauthorized);
            Err(errors::api_key_invalid())
        }
        None => {
            bump(&state.counters.unauthorized);
            Err(errors::unregistered_caller())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_json_spacing_matches_google() {
        let mut out = Vec::new();
        stream_json(&json!({"a": [{"b": 1}, {"c": "x"}], "d": true}), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a": [{"b": 1},{"c": "x"}],"d": true}"#);
    }
}
