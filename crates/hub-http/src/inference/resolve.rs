//! Step 4: which provider, credentials and upstream model serve the requested model name.
//! `provider/model` goes to that provider; a leading `aignehub/` is dropped; a bare name goes to
//! the provider its well-known pattern names (`gpt-*` → openai, `claude-*` → anthropic, …).
//! The result is a [`Plan`]: the adapter and the ordered attempts the relay may make.

use std::sync::Arc;

use hub_core::{ModelRef, ProviderKind};
use hub_providers::{Adapter, Target};
use hub_store::provider_directory::ProviderEntry;

use crate::error::ApiError;
use crate::state::AppState;

const HOW_TO_NAME: &str = "Name a model as provider/model (for example openai/gpt-4o-mini or custom:<label>/<model>), \
     or use a bare name this hub routes by pattern (gpt-*, o1*, o3*, claude-*, gemini-*, deepseek-*, grok-*, doubao-*)";

/// Where a call may go: the adapter for the provider's protocol and the targets to try, in
/// order (one per credential, preferred first).
pub struct Plan<'a> {
    pub adapter: &'a dyn Adapter,
    pub targets: Vec<Target>,
}

impl Plan<'_> {
    /// The first choice, which the call's hold names before any attempt.
    pub fn preferred(&self) -> Option<&Target> {
        self.targets.first()
    }
}

pub fn plan<'a>(state: &'a AppState, requested: &str) -> Result<Plan<'a>, ApiError> {
    plan_for(state, requested, "chat completions")
}

/// [`plan`] for another operation (`"embeddings"`, …), named in the error when the provider's
/// protocol has no adapter in this build.
pub fn plan_for<'a>(state: &'a AppState, requested: &str, operation: &str) -> Result<Plan<'a>, ApiError> {
    let parsed = ModelRef::parse(requested, |p| state.providers.is_provider_name(p))
        .map_err(|e| ApiError::bad_request(Some("model"), e.to_string()))?;
    let entry = match &parsed.provider {
        Some(name) => {
            let canonical = ProviderKind::parse(name).filter(|k| *k != ProviderKind::Custom).map_or(name.clone(), |k| k.name().to_owned());
            state.providers.get(&canonical).ok_or_else(|| {
                ApiError::ModelNotFound(format!(
                    "The model '{requested}' names provider '{name}', which is not configured on this hub. Configured providers: {}.",
                    configured(state)
                ))
            })?
        }
        None => bare_model_provider(state, &parsed.model).ok_or_else(|| {
            ApiError::ModelNotFound(format!(
                "The model '{requested}' does not exist or no configured provider serves it. {HOW_TO_NAME}. Configured providers: {}.",
                configured(state)
            ))
        })?,
    };
    let adapter = state.adapters.for_protocol(entry.kind.protocol()).ok_or_else(|| {
        ApiError::ModelNotFound(format!("Provider '{}' does not serve {operation} through this hub yet.", entry.name))
    })?;
    if !entry.usable() {
        return Err(ApiError::ModelNotFound(format!("Provider '{}' has no credential configured.", entry.name)));
    }
    let target = |credential: Option<&hub_store::providers::OpenCredential>| Target {
        provider: entry.name.clone(),
        kind: entry.kind,
        base_url: entry.base_url.clone(),
        credential_id: credential.map(|c| c.id.clone()),
        api_key: credential.map(|c| c.secret.clone()),
        model: parsed.model.clone(),
    };
    let order = entry.credential_order();
    let targets = if order.is_empty() { vec![target(None)] } else { order.into_iter().map(|c| target(Some(c))).collect() };
    Ok(Plan { adapter, targets })
}

fn bare_model_provider(state: &AppState, model: &str) -> Option<Arc<ProviderEntry>> {
    let kind = ProviderKind::for_bare_model(model)?;
    state.providers.get(kind.name())
}

fn configured(state: &AppState) -> String {
    let snapshot = state.providers.snapshot();
    let mut names: Vec<&str> = snapshot.keys().map(String::as_str).collect();
    names.sort_unstable();
    if names.is_empty() {
        "none (add one with `aigne-hub provider add`)".to_owned()
    } else {
        names.join(", ")
    }
}
