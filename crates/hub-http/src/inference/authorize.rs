//! Step 2: may this key do this? The key type alone decides which route families it may try
//! (checked right after parsing, before any lookup); finer scopes (models, endpoints, addresses)
//! are checked here as they are added.

use hub_core::KeyType;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteFamily {
    /// Model calls: chat, embeddings, images, models list.
    Inference,
    /// The admin API.
    Admin,
}

pub fn key_type(family: RouteFamily, key_type: KeyType) -> Result<(), ApiError> {
    let allowed = match family {
        RouteFamily::Inference => key_type == KeyType::Inference,
        RouteFamily::Admin => key_type == KeyType::Admin,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::WrongKeyType(key_type.as_str()))
    }
}
