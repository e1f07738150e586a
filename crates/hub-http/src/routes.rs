//! The one route table: paths → handlers, and the middleware order.
//!
//! Middleware, outermost first (each request passes them in this order):
//! 1. `context::request_context`: request id, start instant, client address → extensions;
//!    `x-request-id` and the security headers (nosniff, frame denial, CSP on HTML) on the
//!    response; the access log line.
//!
//! Route-specific authentication happens in the handlers' first step (inference: bearer key;
//! admin API: session cookie + CSRF header, or an admin key; UI: session cookie + CSRF field).

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;
use crate::{admin, aigne, context, inference, ops, ui};

pub fn router(state: AppState) -> Router {
    let inference = Router::new()
        .route("/chat/completions", post(inference::chat::chat_completions))
        .route("/embeddings", post(inference::embeddings::embeddings))
        .route("/images/generations", post(inference::images::generations))
        .route("/models", get(inference::models::list))
        // Ids hold a `/` (`openai/gpt-4o-mini`), hence the wildcard.
        .route("/models/{*id}", get(inference::models::retrieve));
    // The AIGNE SDK (`@aigne/aigne-hub`): discovery at the origin, then its own API family.
    let aigne_v2 = Router::new()
        .route("/chat", post(inference::aigne::chat))
        .route("/embeddings", post(inference::aigne::embeddings))
        .route("/image", post(inference::aigne::image))
        .route("/status", get(aigne::status));
    Router::new()
        .nest("/v1", inference.clone())
        .nest("/api/v1", inference)
        .nest("/api/v2", aigne_v2)
        .route("/__blocklet__.js", get(aigne::blocklet))
        .route("/api/ai/models", get(aigne::models))
        .route("/api/user/info", get(aigne::user_info))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/files/{id}", get(crate::files::serve))
        .merge(admin::router())
        .merge(ui::router())
        .fallback(admin::not_found)
        .method_not_allowed_fallback(admin::method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(context::request_context))
}
