//! The inference request path, one module per step:
//! route (`routes.rs`) → [`authenticate`] → [`authorize`] → [`admit`] → [`resolve`] →
//! [`relay`] (provider adapters in `hub-providers`, with retries and failover) →
//! [`stream_back`] → [`settle`].
//! [`chat`] composes the steps for `POST /v1/chat/completions`.

pub mod admit;
pub mod authenticate;
pub mod authorize;
pub mod body;
pub mod chat;
pub mod relay;
pub mod resolve;
pub mod settle;
pub mod stream_back;
