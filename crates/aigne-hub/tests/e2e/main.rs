#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: the real `aigne-hub` binary, driven through its CLI and HTTP API, in front
//! of an in-process upstream simulator. Every test starts its own hub (own data directory,
//! ephemeral port) and its own simulator, so tests run in parallel.

mod limits;
mod money;
mod support;
mod ui_client;

mod aigne_legacy;
mod aigne_sdk;
mod aliases;
mod alerts;
mod analytics;
mod anthropic_messages;
mod auth_errors;
mod bad_input;
mod cli;
mod connection_test;
mod embeddings_and_models;
mod failover;
mod grant_expiry;
mod idempotency;
mod images;
mod images_google;
mod metrics;
mod model_status;
mod playground;
mod price_options;
mod provider_anthropic;
mod provider_bedrock;
mod provider_google;
mod provider_ideogram;
mod rate_limits;
mod recheck;
mod rotation;
mod scopes;
mod secrets_hygiene;
mod server_timing;
mod seed_flow;
mod shutdown;
mod streaming;
mod two_instances;
mod upstream_errors;
mod usage_records;
mod users;
mod video;
