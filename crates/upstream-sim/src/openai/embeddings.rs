//! `POST /v1/embeddings`: deterministic unit vectors derived from a hash of
//! each input, so equal inputs always embed equally.

use std::borrow::Cow;

use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::chat::{parse_error, MAX_BODY};
use super::errors::{self, ApiError};
use super::{json_response, ResponseMeta};
use crate::faults::{Applied, RequestKind};
use crate::ids::mix;
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight};
use crate::tokens::count_words;

/// Vector length when the request does not set `dimensions`.
pub const DEFAULT_DIMENSIONS: u32 = 8;
/// Largest `dimensions` accepted (text-embedding-3-large's size).
pub const MAX_DIMENSIONS: u32 = 3072;

#[derive(Deserialize)]
struct EmbeddingsRequest<'a> {
    #[serde(borrow, default)]
    model: Cow<'a, str>,
    #[serde(default)]
    input: Option<Input>,
    #[serde(default)]
    dimensions: Option<u32>,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// The four input shapes OpenAI accepts.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u64>),
    ManyTokens(Vec<Vec<u64>>),
}

/// One item to embed: its hash seed and its token count.
struct Item {
    seed: u64,
    tokens: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
    })
}

fn text_item(s: &str) -> Item {
    Item {
        seed: fnv1a(s.bytes()),
        tokens: count_words(s),
    }
}

fn token_item(t: &[u64]) -> Item {
    Item {
        seed: fnv1a(t.iter().flat_map(|x| x.to_le_bytes())),
        tokens: t.len() as u64,
    }
}

/// The vector the simulator returns for a text input of `dims` dimensions
/// (before any base64 encoding).
pub fn text_embedding(text: &str, dims: u32) -> Vec<f32> {
    vector(fnv1a(text.bytes()), dims)
}

/// A unit-length vector of `dims` values from `seed`.
fn vector(seed: u64, dims: u32) -> Vec<f32> {
    let raw: Vec<f64> = (0..u64::from(dims))
        .map(|j| {
            let x = mix(seed ^ j.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        })
        .collect();
    let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt();
    let norm = if norm > 0.0 { norm } else { 1.0 };
    raw.iter().map(|v| (v / norm) as f32).collect()
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<EmbeddingUsage>,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

struct Plan {
    model: String,
    items: Vec<Item>,
    dims: u32,
    base64: bool,
    applied: Applied,
}

fn plan(req: EmbeddingsRequest<'_>, state: &AppState) -> Result<Plan, ApiError> {
    if req.model.is_empty() {
        return Err(errors::missing_model());
    }
    let input = req
        .input
        .ok_or_else(|| errors::missing_parameter("input"))?;
    let items: Vec<Item> = match &input {
        Input::One(s) => vec![text_item(s)],
        Input::Many(v) => v.iter().map(|s| text_item(s)).collect(),
        Input::Tokens(t) => vec![token_item(t)],
        Input::ManyTokens(v) => v.iter().map(|t| token_item(t)).collect(),
    };
    if items.is_empty() {
        return Err(errors::empty_array("input"));
    }
    if matches!(&input, Input::One(s) if s.is_empty()) {
        return Err(errors::invalid_input());
    }
    let dims = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
    if dims == 0 {
        return Err(errors::below_minimum("dimensions", 1, 0));
    }
    if dims > MAX_DIMENSIONS {
        return Err(errors::above_maximum(
            "dimensions",
            u64::from(MAX_DIMENSIONS),
            u64::from(dims),
        ));
    }
    if req.model.starts_with("missing-") {
        return Err(errors::model_not_found(&req.model));
    }
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Embeddings, &mut applied);
    Ok(Plan {
        model: req.model.into_owned(),
        items,
        dims,
        base64: req.encoding_format.as_deref() == Some("base64"),
        applied,
    })
}

pub(crate) async fn embeddings(State(state): State<SharedState>, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.embedding_requests);
    let mut meta = ResponseMeta::new(&state);

    let (parts, body) = req.into_parts();
    if let Err(e) = state.authorize(&parts.headers) {
        return e.into_response(&meta);
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return errors::invalid_json().into_response(&meta),
    };
    let request: EmbeddingsRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return parse_error(&e).into_response(&meta),
    };
    let plan = match plan(request, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(&meta),
    };

    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    if plan.applied.stall {
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + plan.applied.delay;
    meta.processing_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = plan.applied.status {
        return errors::for_status(status, retry_after, &plan.model).into_response(&meta);
    }

    let prompt_tokens: u64 = plan.items.iter().map(|i| i.tokens).sum();
    add(&state.counters.total_embedding_tokens, prompt_tokens);
    let data = plan
        .items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let v = vector(item.seed, plan.dims);
            let embedding = if plan.base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Vector::Floats(v)
            };
            Embedding {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: &plan.model,
        usage: (!plan.applied.no_usage).then_some(EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        }),
    };
    let mut out = Vec::with_capacity(256 + plan.items.len() * plan.dims as usize * 12);
    let _ = serde_json::to_writer(&mut out, &list);
    json_response(StatusCode::OK, out, &meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_and_stable() {
        let a = vector(fnv1a("hello".bytes()), 16);
        assert_eq!(a, vector(fnv1a("hello".bytes()), 16));
        assert_ne!(a, vector(fnv1a("world".bytes()), 16));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
}
