//! `:batchEmbedContents`: one deterministic unit vector per request, the same vector the
//! OpenAI side gives the same text ([`crate::text_embedding`]).

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::errors::{self, GoogleError};
use super::request::{get, snake};
use super::{authorize, json_response, pretty, Query};
use crate::faults::{Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::openai::embeddings::{text_embedding, DEFAULT_DIMENSIONS, MAX_DIMENSIONS};
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight};
use crate::tokens::count_words;

const REQUEST: &[&str] = &["model", "content", "task_type", "title", "output_dimensionality"];

#[derive(Serialize)]
struct Reply {
    embeddings: Vec<Values>,
}

#[derive(Serialize)]
struct Values {
    values: Vec<f32>,
}

struct Plan {
    texts: Vec<String>,
    dims: Vec<u32>,
    applied: Applied,
}

pub(crate) async fn handle(state: SharedState, model: String, q: Query, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.embedding_requests);
    let (parts, body) = req.into_parts();
    if let Err(e) = authorize(&state, &parts.headers, &q) {
        return e.into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return errors::invalid_json().into_response();
    };
    let plan = match plan(&body, &model, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    if plan.applied.stall {
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + plan.applied.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = plan.applied.status {
        return errors::for_status(status, retry_after, &model, "batchEmbedContents").into_response();
    }
    let words: u64 = plan.texts.iter().map(|t| count_words(t)).sum();
    add(&state.counters.total_embedding_tokens, words);
    let embeddings = plan.texts.iter().zip(&plan.dims).map(|(t, d)| Values { values: text_embedding(t, *d) }).collect();
    json_response(StatusCode::OK, pretty(&Reply { embeddings }))
}

fn plan(body: &[u8], model: &str, state: &AppState) -> Result<Plan, GoogleError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| errors::invalid_json())?;
    let top = value.as_object().ok_or_else(errors::invalid_json)?;
    if let Some(k) = top.keys().find(|k| k.as_str() != "requests") {
        return Err(errors::unknown_field(k, ""));
    }
    let requests = get(top, "requests").and_then(Value::as_array).filter(|r| !r.is_empty());
    let Some(requests) = requests else {
        return Err(errors::invalid_argument("* BatchEmbedContentsRequest.requests: requests is not specified\n"));
    };
    let expected = format!("models/{model}");
    let mut texts = Vec::with_capacity(requests.len());
    let mut dims = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let at = format!("requests[{i}]");
        let r = r.as_object().ok_or_else(|| errors::invalid_value(&at, &format!("{r}")))?;
        if let Some(k) = r.keys().find(|k| !REQUEST.contains(&snake(k).as_str())) {
            return Err(errors::unknown_field(k, &at));
        }
        let named = get(r, "model").and_then(Value::as_str).unwrap_or("");
        if named != expected {
            return Err(errors::invalid_argument(format!(
                "* BatchEmbedContentsRequest.{at}.model: Model names in the batch ({named:?}) must match the model in the URL ({expected:?}).\n"
            )));
        }
        let text: Vec<&str> = get(r, "content")
            .and_then(Value::as_object)
            .and_then(|c| get(c, "parts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        if text.is_empty() {
            return Err(errors::invalid_argument(format!("* BatchEmbedContentsRequest.{at}.content.parts: contents.parts must not be empty.\n")));
        }
        let d = match get(r, "output_dimensionality").and_then(Value::as_u64) {
            None | Some(0) => DEFAULT_DIMENSIONS,
            Some(d) if d > u64::from(MAX_DIMENSIONS) => {
                return Err(errors::invalid_argument(format!(
                    "* BatchEmbedContentsRequest.{at}.output_dimensionality: must be at most {MAX_DIMENSIONS}.\n"
                )))
            }
            Some(d) => u32::try_from(d).unwrap_or(DEFAULT_DIMENSIONS),
        };
        texts.push(text.join(" "));
        dims.push(d);
    }
    if model.starts_with("missing-") {
        return Err(errors::model_not_found(model, "batchEmbedContents"));
    }
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Embeddings, &mut applied);
    Ok(Plan { texts, dims, applied })
}
