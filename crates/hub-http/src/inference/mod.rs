//! The inference request path, one module per step:
//! route (`routes.rs`) → [`authenticate`] → [`authorize`] → [`admit`] (limits, and the credit
//! reservation of [`credit`]) → [`resolve`] →
//! [`relay`] (provider adapters in `hub-providers`, with retries and failover) →
//! [`stream_back`] → [`settle`].
//! [`chat`] composes the steps for `POST /v1/chat/completions`, [`embeddings`] for
//! `POST /v1/embeddings`, [`images`] for `POST /v1/images/generations`; [`models`] answers `GET /v1/models` from the built-in catalog.
//! [`aigne`] serves the AIGNE SDK's `POST /api/v2/chat`, `/embeddings` and `/image` through the
//! same steps; [`messages`] serves Anthropic clients' `POST /v1/messages` through them too.
//! Before any of them, [`idempotency`] lets a retry join or replay the call it repeats
//! ([`recording`] holds the one response every such client watches).

pub mod admit;
pub mod aigne;
pub mod authenticate;
pub mod authorize;
pub mod body;
pub mod chat;
pub mod credit;
pub mod embeddings;
pub mod idempotency;
pub mod images;
pub mod messages;
pub mod limits;
pub mod models;
pub mod recording;
pub mod relay;
pub mod resolve;
pub mod settle;
pub mod stream_back;
pub mod video;
pub mod video_jobs;
