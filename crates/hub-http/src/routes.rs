//! The one route table: paths → handlers, and the middleware order.
//!
//! Middleware, outermost first (each request passes them in this order):
//! 1. `context::layer`: request id, start instant, client address (the peer, or the
//!    right-most untrusted `X-Forwarded-For` hop behind a trusted proxy) → extensions;
//!    `x-request-id` and the security headers (nosniff, frame denial, CSP on HTML) on the
//!    response; the access log line.
//!
//! Route-specific authentication happens in the handlers' first step (inference: bearer key;
//! admin API: session cookie + CSRF header, or an admin key; UI: session cookie + CSRF field, and
//! for the Playground's `POST /playground/chat` the CSRF header, the call then running as the
//! user's hub-managed Playground key).

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;
use crate::{admin, aigne, context, inference, ops, ui};

pub fn router(state: AppState) -> Router {
    // Every model-calling POST: a retry under the same `Idempotency-Key` (or, on the AIGNE
    // routes, an identical retry) joins or replays the call instead of making another.
    let once = || inference::idempotency::layer(state.clone());
    let mut router = Router::new();
    // The OpenAI family is mounted twice: `/v1` for OpenAI SDKs, `/api/v1` as the seed documents.
    // Full paths rather than `nest`: a nested router rewrites every request's URI.
    for prefix in ["/v1", "/api/v1"] {
        router = router
            .route(&format!("{prefix}/chat/completions"), post(inference::chat::chat_completions).layer(once()))
            // Anthropic clients (Claude-style tools, the `anthropic` SDKs).
            .route(&format!("{prefix}/messages"), post(inference::messages::messages).layer(once()))
            .route(&format!("{prefix}/embeddings"), post(inference::embeddings::embeddings).layer(once()))
            .route(&format!("{prefix}/images/generations"), post(inference::images::generations).layer(once()))
            .route(&format!("{prefix}/videos"), post(inference::video_jobs::create).layer(once()))
            .route(&format!("{prefix}/videos/{{id}}"), get(inference::video_jobs::retrieve))
            .route(&format!("{prefix}/videos/{{id}}/content"), get(inference::video_jobs::content))
            .route(&format!("{prefix}/models"), get(inference::models::list))
            // Ids hold a `/` (`openai/gpt-4o-mini`), hence the wildcard.
            .route(&format!("{prefix}/models/{{*id}}"), get(inference::models::retrieve));
    }
    router
        // The AIGNE SDK (`@aigne/aigne-hub`): discovery at the origin, then its own API family.
        .route("/api/v2/chat", post(inference::aigne::chat).layer(once()))
        .route("/api/v2/embeddings", post(inference::aigne::embeddings).layer(once()))
        .route("/api/v2/image", post(inference::aigne::image).layer(once()))
        // The original hub's older shapes, for older clients.
        .route("/api/v2/chat/completions", post(inference::aigne::legacy_chat).layer(once()))
        .route("/api/v2/completions", post(inference::aigne::legacy_chat).layer(once()))
        .route("/api/v2/image/generations", post(inference::aigne::legacy_image).layer(once()))
        .route("/api/v2/video", post(inference::aigne::video).layer(once()))
        .route("/api/v2/status", get(aigne::status))
        .route("/__blocklet__.js", get(aigne::blocklet))
        .route("/api/ai/models", get(aigne::models))
        .route("/api/user/info", get(aigne::user_info))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/files/{id}", get(crate::files::serve))
        .merge(admin::router())
        .merge(ui::router())
        .fallback(admin::not_found)
        .method_not_allowed_fallback(admin::method_not_allowed)
        .with_state(state.clone())
        .layer(context::layer(state))
}
