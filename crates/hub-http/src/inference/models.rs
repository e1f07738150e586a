//! `GET /v1/models` and `GET /v1/models/{id}` (also under `/api/v1`): the models a key may call
//! through this hub, in OpenAI's list shape. The source is the built-in catalog
//! (`hub_core::catalog`) filtered to the providers configured and callable here; ids are
//! `provider/model`, as chat and embeddings calls name them. Same bearer authentication as
//! the model calls; no usage is recorded (no model is called). Model aliases an admin set are
//! listed too, under their own names.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use hub_core::catalog::{self, CatalogModel};
use hub_core::{ModelRef, ProviderKind};
use serde::Serialize;

use axum::Extension;
use hub_core::scopes::{Endpoint, KeyPolicy};

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::{authenticate, authorize};
use crate::inference::authorize::RouteFamily;
use crate::state::AppState;

#[derive(Serialize)]
struct ModelObject {
    id: String,
    object: &'static str,
    created: i64,
    owned_by: String,
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}

pub async fn list(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap) -> Response {
    match run_list(&state, &ctx, &headers).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

pub async fn retrieve(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match run_retrieve(&state, &ctx, &headers, &id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The caller, once its address and endpoint scopes allow listing models.
async fn caller(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap) -> Result<authenticate::Caller, ApiError> {
    let caller = authenticate::from_headers(state, headers, RouteFamily::Inference).await?;
    authorize::scopes(&caller.secret.policy, Endpoint::Models, ctx.client_ip)?;
    Ok(caller)
}

/// Whether the key's model scope lets it call this catalog model.
fn callable(p: &KeyPolicy, provider: &str, m: &CatalogModel) -> bool {
    p.models.is_empty() || p.model_allowed(m.id, provider, m.id)
}

async fn run_list(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = caller(state, ctx, headers).await?;
    Ok(json(&ModelList { object: "list", data: callable_objects(state, &caller.secret.policy) }))
}

/// The models and aliases a key with this policy may call, as `GET /v1/models` lists them.
fn callable_objects(state: &AppState, p: &KeyPolicy) -> Vec<ModelObject> {
    let mut data: Vec<ModelObject> = available(state).into_iter().filter(|(provider, m)| callable(p, provider, m)).map(|(provider, m)| object(&provider, m)).collect();
    data.extend(state.providers.aliases().into_iter().filter(|(name, chain)| alias_callable(p, name, chain)).map(|(name, _)| alias_object(name)));
    data
}

/// The ids `GET /v1/models` lists for a key with this policy (the Playground's model picker).
pub(crate) fn callable_ids(state: &AppState, p: &KeyPolicy) -> Vec<String> {
    callable_objects(state, p).into_iter().map(|m| m.id).collect()
}

async fn run_retrieve(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap, id: &str) -> Result<Response, ApiError> {
    let caller = caller(state, ctx, headers).await?;
    if state.providers.alias(id).is_some_and(|chain| alias_callable(&caller.secret.policy, id, &chain)) {
        return Ok(json(&alias_object(id.to_owned())));
    }
    let found = ModelRef::parse(id, |p| state.providers.is_provider_name(p)).ok().and_then(|r| {
        let name = r.provider?;
        let canonical = ProviderKind::parse(&name).filter(|k| *k != ProviderKind::Custom).map_or(name, |k| k.name().to_owned());
        available(state).into_iter().find(|(provider, m)| *provider == canonical && m.id == r.model && callable(&caller.secret.policy, provider, m))
    });
    match found {
        Some((provider, m)) => Ok(json(&object(&provider, m))),
        None => Err(ApiError::ModelNotFound(format!(
            "The model '{}' does not exist or is not available through this hub. List the available models with GET /v1/models.",
            id.chars().filter(|c| !c.is_control()).take(hub_core::model_name::MAX_MODEL_LEN).collect::<String>()
        ))),
    }
}

/// Catalog models of every configured, callable provider, ordered by provider name then
/// catalog order.
pub(crate) fn available(state: &AppState) -> Vec<(String, &'static CatalogModel)> {
    let snapshot = state.providers.snapshot();
    let mut entries: Vec<_> = snapshot.values().filter(|e| e.usable() && state.adapters.for_protocol(e.kind.protocol()).is_some()).collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.into_iter().flat_map(|e| catalog::for_kind(e.kind).map(move |m| (e.name.clone(), m))).collect()
}

fn object(provider: &str, m: &CatalogModel) -> ModelObject {
    ModelObject { id: format!("{provider}/{}", m.id), object: "model", created: m.created, owned_by: provider.to_owned() }
}

/// An alias is listed when the key may call its name or any model of its chain.
fn alias_callable(p: &KeyPolicy, name: &str, chain: &[String]) -> bool {
    p.models.is_empty()
        || p.model_allowed(name, "", "")
        || chain.iter().any(|t| t.split_once('/').is_some_and(|(provider, model)| p.model_allowed(t, provider, model)))
}

/// Aliases are the hub's own names: `owned_by` says so.
fn alias_object(name: String) -> ModelObject {
    ModelObject { id: name, object: "model", created: 0, owned_by: "aignehub".to_owned() }
}

fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}
