//! Step 2: may this key do this? The key type alone decides which route families it may try
//! (checked right after parsing, before any lookup); the key's scopes (address, endpoint,
//! model) are checked by [`scopes`] from the policy held in memory with the key.

use std::net::IpAddr;

use hub_core::scopes::{Endpoint, KeyPolicy};
use hub_core::KeyType;

use crate::error::{ApiError, Scope};
use crate::inference::resolve::Candidate;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFamily {
    /// Model calls: chat, embeddings, images, video, models list.
    Inference,
    /// The admin API.
    Admin,
    /// The read-only usage API (`/api/analytics/…`).
    Analytics,
}

pub fn key_type(family: RouteFamily, key_type: KeyType) -> Result<(), ApiError> {
    let allowed = match family {
        RouteFamily::Inference => key_type == KeyType::Inference,
        RouteFamily::Admin => key_type == KeyType::Admin,
        RouteFamily::Analytics => key_type == KeyType::Analytics,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::WrongKeyType(key_type.as_str()))
    }
}

/// The key's address and endpoint scopes for one call. Checked before the call's hold is
/// journaled, so a refused call never reaches an upstream; the model scope needs the resolved
/// plan and is checked by [`models`].
pub fn scopes(policy: &KeyPolicy, endpoint: Endpoint, client: Option<IpAddr>) -> Result<(), ApiError> {
    address(policy, client)?;
    if !policy.endpoint_allowed(endpoint) {
        return Err(ApiError::ScopeDenied {
            scope: Scope::Endpoint,
            message: format!("endpoint \"{}\" is not allowed for this key (allowed: {})", endpoint.as_str(), policy.endpoints_text()),
        });
    }
    Ok(())
}

/// The model scope over a resolved plan: keeps the candidates the key may call (all of them
/// when the name the client sent is allowed, such as an alias the key was granted; otherwise
/// those whose `provider/model` is), and refuses the call when none is left.
pub fn models(policy: &KeyPolicy, sent: &str, candidates: &mut Vec<Candidate<'_>>) -> Result<(), ApiError> {
    if policy.models.is_empty() {
        return Ok(());
    }
    candidates.retain(|c| policy.model_allowed(sent, &c.target.provider, &c.target.model));
    if candidates.is_empty() {
        return Err(ApiError::ScopeDenied {
            scope: Scope::Model,
            message: format!("model \"{sent}\" is not allowed for this key (allowed: {})", policy.models_text()),
        });
    }
    Ok(())
}

/// The key's address allow-list (also for keys that never call a model).
pub fn address(policy: &KeyPolicy, client: Option<IpAddr>) -> Result<(), ApiError> {
    if !policy.address_allowed(client) {
        let who = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_canonical().to_string());
        return Err(ApiError::ScopeDenied { scope: Scope::Address, message: format!("address {who} is not allowed for this key") });
    }
    Ok(())
}
