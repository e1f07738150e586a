//! `POST /model/{modelId}/invoke` for embedding models, with deterministic vectors
//! ([`crate::text_embedding`]) of `dimensions` values (default 8, kept small for tests):
//!
//! - Amazon Titan (`amazon.titan-embed-*`): `{"inputText","dimensions"?,"normalize"?}` →
//!   `{"embedding":[…],"embeddingsByType":{"float":[…]},"inputTextTokenCount":n}`;
//! - Cohere (`cohere.embed-*`): `{"texts":[…],"input_type"}` →
//!   `{"embeddings":[[…]],"id","response_type":"embeddings_floats","texts":[…]}`.
//!
//! Token counts are words, also sent as `X-Amzn-Bedrock-Input-Token-Count`. Other models are
//! refused with a ValidationException: the simulator does not speak their native bodies.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE};
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use super::errors::{self, BedrockError};
use super::{authorize, model_id, request_id};
use crate::faults::{Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::openai::embeddings::{DEFAULT_DIMENSIONS, MAX_DIMENSIONS};
use crate::state::SharedState;
use crate::stats::{add, bump, InFlight};
use crate::text_embedding;
use crate::tokens::count_words;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest {
    input_text: Option<String>,
    #[serde(default)]
    dimensions: Option<u32>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanReply<'a> {
    embedding: &'a [f32],
    embeddings_by_type: ByType<'a>,
    input_text_token_count: u64,
}

#[derive(Serialize)]
struct ByType<'a> {
    float: &'a [f32],
}

#[derive(Deserialize)]
struct CohereRequest {
    texts: Option<Vec<String>>,
    input_type: Option<String>,
}

#[derive(Serialize)]
struct CohereReply<'a> {
    embeddings: Vec<Vec<f32>>,
    id: &'a str,
    response_type: &'static str,
    texts: &'a [String],
}

pub(crate) async fn invoke(State(state): State<SharedState>, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.embedding_requests);
    let rid = request_id(&state);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return BedrockError::validation("Input is too long for requested model.").into_response(&rid),
    };
    if let Err(e) = authorize(&state, &parts, &body) {
        return e.into_response(&rid);
    }
    let model = model_id(parts.uri.path());
    let reply = match plan(&model, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(&rid),
    };
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Embeddings, &mut applied);
    if applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    if applied.stall {
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + applied.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = applied.status {
        return errors::for_status(status, retry_after, &model).into_response(&rid);
    }
    add(&state.counters.total_embedding_tokens, reply.tokens);
    let body = match reply.kind {
        Kind::Titan { text, dims } => {
            let v = text_embedding(&text, dims);
            serde_json::to_vec(&TitanReply { embedding: &v, embeddings_by_type: ByType { float: &v }, input_text_token_count: reply.tokens })
        }
        Kind::Cohere { texts } => {
            let embeddings = texts.iter().map(|t| text_embedding(t, DEFAULT_DIMENSIONS)).collect();
            let id = state.ids.hex("", 32);
            serde_json::to_vec(&CohereReply { embeddings, id: &id, response_type: "embeddings_floats", texts: &texts })
        }
    }
    .unwrap_or_default();
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    h.insert(HeaderName::from_static("x-amzn-bedrock-input-token-count"), HeaderValue::from(reply.tokens));
    h.insert(HeaderName::from_static("x-amzn-bedrock-invocation-latency"), HeaderValue::from(u64::try_from(wait.as_millis()).unwrap_or(0)));
    resp
}

enum Kind {
    Titan { text: String, dims: u32 },
    Cohere { texts: Vec<String> },
}

struct Reply {
    kind: Kind,
    tokens: u64,
}

fn malformed() -> BedrockError {
    BedrockError::validation("Malformed input request, please reformat your input and try again.")
}

fn plan(model: &str, body: &[u8]) -> Result<Reply, BedrockError> {
    if model.contains("titan-embed") {
        let req: TitanRequest = serde_json::from_slice(body).map_err(|_| malformed())?;
        let text = req.input_text.filter(|t| !t.is_empty()).ok_or_else(malformed)?;
        let dims = req.dimensions.unwrap_or(DEFAULT_DIMENSIONS);
        if dims == 0 || dims > MAX_DIMENSIONS {
            return Err(malformed());
        }
        let tokens = count_words(&text);
        Ok(Reply { kind: Kind::Titan { text, dims }, tokens })
    } else if model.contains("cohere.embed") {
        let req: CohereRequest = serde_json::from_slice(body).map_err(|_| malformed())?;
        let texts = req.texts.filter(|t| !t.is_empty() && t.len() <= 96).ok_or_else(malformed)?;
        if req.input_type.is_none() {
            return Err(BedrockError::validation("Malformed input request: #: required key [input_type] not found, please reformat your input and try again."));
        }
        let tokens = texts.iter().map(|t| count_words(t)).sum();
        Ok(Reply { kind: Kind::Cohere { texts }, tokens })
    } else if model.starts_with("missing-") {
        Err(BedrockError::validation("The provided model identifier is invalid."))
    } else {
        Err(malformed())
    }
}
