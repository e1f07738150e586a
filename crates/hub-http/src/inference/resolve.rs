//! Step 4: which provider, credentials and upstream model serve the requested model name.
//! `provider/model` goes to that provider; a leading `aignehub/` is dropped; a bare name goes to
//! the provider its well-known pattern names (`gpt-*` → openai, `claude-*` → anthropic, …).
//! A bare name an admin made an alias expands to the alias's fallback chain.
//! The result is a [`Plan`]: the ordered attempts the relay may make, each with its adapter.

use std::sync::Arc;

use hub_core::{ModelRef, ProviderKind};
use hub_providers::{Adapter, Target};
use hub_store::provider_directory::ProviderEntry;

use crate::error::ApiError;
use crate::state::AppState;

const HOW_TO_NAME: &str = "Name a model as provider/model (for example openai/gpt-4o-mini or custom:<label>/<model>), \
     or use a bare name this hub routes by pattern (gpt-*, o1*, o3*, claude-*, gemini-*, deepseek-*, grok-*, doubao-*)";

/// Where a call may go: the targets to try, in order (one per credential, preferred first; for
/// an alias, every credential of its first model, then of the next…), each with the adapter of
/// its provider's protocol.
pub struct Plan<'a> {
    pub candidates: Vec<Candidate<'a>>,
}

pub struct Candidate<'a> {
    pub target: Target,
    pub adapter: &'a dyn Adapter,
}

impl Plan<'_> {
    /// The first choice, which the call's hold names before any attempt.
    pub fn preferred(&self) -> Option<&Target> {
        self.candidates.first().map(|c| &c.target)
    }
}

pub fn plan<'a>(state: &'a AppState, requested: &str) -> Result<Plan<'a>, ApiError> {
    plan_for(state, requested, "chat completions")
}

/// [`plan`] for another operation (`"embeddings"`, …), named in the error when the provider's
/// protocol has no adapter in this build. An alias expands to its fallback chain; a link of the
/// chain that cannot be called here (provider gone, no credential) is skipped, and only when
/// none is left does the call fail, with the first link's reason.
pub fn plan_for<'a>(state: &'a AppState, requested: &str, operation: &str) -> Result<Plan<'a>, ApiError> {
    let parsed = ModelRef::parse(requested, |p| state.providers.is_provider_name(p))
        .map_err(|e| ApiError::bad_request(Some("model"), e.to_string()))?;
    let chain = match parsed.provider {
        None => state.providers.alias(&parsed.model),
        Some(_) => None,
    };
    let Some(chain) = chain else {
        return Ok(Plan { candidates: candidates(state, requested, &parsed, operation)? });
    };
    let mut plan = Plan { candidates: Vec::new() };
    let mut first_error = None;
    for link in chain.iter() {
        let found = ModelRef::parse(link, |p| state.providers.is_provider_name(p))
            .map_err(|e| ApiError::bad_request(Some("model"), e.to_string()))
            .and_then(|r| candidates(state, link, &r, operation));
        match found {
            Ok(mut c) => plan.candidates.append(&mut c),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if plan.candidates.is_empty() => Err(e),
        _ => Ok(plan),
    }
}

/// The attempts for one `provider/model` (or bare name): one per credential, preferred first.
fn candidates<'a>(state: &'a AppState, requested: &str, parsed: &ModelRef, operation: &str) -> Result<Vec<Candidate<'a>>, ApiError> {
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
    let candidate = |credential: Option<&hub_store::providers::OpenCredential>| Candidate {
        target: Target {
            provider: entry.name.clone(),
            kind: entry.kind,
            base_url: entry.base_url.clone(),
            credential_id: credential.map(|c| c.id.clone()),
            api_key: credential.map(|c| c.secret.clone()),
            model: parsed.model.clone(),
        },
        adapter,
    };
    let order = entry.credential_order();
    Ok(if order.is_empty() { vec![candidate(None)] } else { order.into_iter().map(|c| candidate(Some(c))).collect() })
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
