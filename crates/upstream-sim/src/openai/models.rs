//! `GET /v1/models` and `GET /v1/models/{id}`.
//!
//! The list is fixed; looking up any other id succeeds too (chat accepts
//! any model name), except ids starting with `missing-`, which are 404 as
//! everywhere else in the simulator.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use super::errors::{self, ApiError};
use super::{json_response, ResponseMeta};
use crate::state::SharedState;
use crate::stats::{bump, InFlight};

/// `(id, created, owned_by)` of the listed models.
pub const MODELS: [(&str, u64, &str); 8] = [
    ("gpt-3.5-turbo", 1_677_610_602, "openai"),
    ("gpt-4o", 1_715_367_049, "system"),
    ("gpt-4o-mini", 1_721_172_741, "system"),
    ("gpt-4.1", 1_744_316_542, "system"),
    ("gpt-4.1-mini", 1_744_318_173, "system"),
    ("o3-mini", 1_737_146_383, "system"),
    ("text-embedding-3-small", 1_705_948_997, "system"),
    ("text-embedding-3-large", 1_705_953_180, "system"),
];

/// `created` reported for ids that are not in the list.
const UNLISTED_CREATED: u64 = 1_700_000_000;

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

fn model(id: &str) -> Model<'_> {
    match MODELS.iter().find(|(m, _, _)| *m == id) {
        Some(&(id, created, owned_by)) => Model {
            id,
            object: "model",
            created,
            owned_by,
        },
        None => Model {
            id,
            object: "model",
            created: UNLISTED_CREATED,
            owned_by: "system",
        },
    }
}

fn begin(state: &SharedState, req: &Request) -> (InFlight, ResponseMeta, Result<(), ApiError>) {
    let in_flight = InFlight::new(&state.counters);
    bump(&state.counters.models_requests);
    let meta = ResponseMeta::new(state);
    let auth = state.authorize_as(req.headers(), false);
    (in_flight, meta, auth)
}

pub(crate) async fn list(State(state): State<SharedState>, req: Request) -> Response {
    // Anthropic's Models API lives at the same path; its clients send `anthropic-version`.
    if req.headers().contains_key("anthropic-version") || req.headers().contains_key("x-api-key") {
        return crate::anthropic::list_models(&state, &req);
    }
    let (_in_flight, meta, auth) = begin(&state, &req);
    if let Err(e) = auth {
        return e.into_response(&meta);
    }
    let list = ModelList {
        object: "list",
        data: MODELS.iter().map(|(id, _, _)| model(id)).collect(),
    };
    let body = serde_json::to_vec(&list).unwrap_or_default();
    json_response(StatusCode::OK, body, &meta)
}

pub(crate) async fn get(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let (_in_flight, meta, auth) = begin(&state, &req);
    if let Err(e) = auth {
        return e.into_response(&meta);
    }
    if id.starts_with("missing-") {
        return errors::model_not_found(&id).into_response(&meta);
    }
    let body = serde_json::to_vec(&model(&id)).unwrap_or_default();
    json_response(StatusCode::OK, body, &meta)
}
