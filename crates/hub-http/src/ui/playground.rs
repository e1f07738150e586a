//! The Playground (every signed-in user): pick a model the user may call, write a system prompt
//! and a conversation (kept in the page), send, and watch the answer stream in, then see its
//! tokens, time to first token, duration and cost.
//!
//! The page never holds a key. `POST /playground/chat` (session cookie + `x-csrf-token`) runs
//! the call as the user's hub-managed Playground key (`Store::playground_key`: created on first
//! use, an ordinary inference key limited to chat whose secret nobody ever saw) through the same
//! steps as `POST /v1/chat/completions` (`inference::chat::run_as`): authorize, admit (limits,
//! budget, credit), resolve, relay, settle and record. So budgets, limits and credit apply, and
//! the call appears in usage and analytics under that key, the user and the project
//! `playground`. The reply is the OpenAI chat stream with the usage chunk; errors are the API's
//! envelope and status. `GET /playground/calls/{request_id}` answers the call's record (the
//! user's own calls only) for the cost line.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hub_core::NanoCredits;
use hub_store::sessions::Session;
use serde::Deserialize;
use serde_json::{json, Value};

use super::pages::{nav, no_store, render, require_session, storage_failure, PageResult};
use super::session;
use super::views::Nav;
use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::chat::{self, Dialect};
use crate::inference::{authenticate, body, models};
use crate::state::AppState;

/// The project the Playground's calls are recorded under.
pub const PROJECT: &str = "playground";
const MAX_TURNS: usize = 200;

#[derive(Template)]
#[template(path = "playground.html")]
pub struct PlaygroundPage {
    pub nav: Nav,
    pub models: Vec<String>,
    /// The Playground key's kid, once it exists.
    pub key_kid: Option<String>,
    pub billing_enabled: bool,
}

pub async fn playground_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let key = state.store.find_playground_key(&s.user.id).await.map_err(storage_failure)?;
    // A key not made yet will have the default Playground policy: every model.
    let policy = key.as_ref().map(|k| k.policy.clone()).unwrap_or_default();
    let page = PlaygroundPage {
        nav: nav(&state, &s, "playground"),
        models: models::callable_ids(&state, &policy),
        key_kid: key.map(|k| k.kid),
        billing_enabled: state.credit.billing_enabled(),
    };
    Ok(no_store(render(&page, StatusCode::OK)))
}

/// What the page sends: the conversation so far and the settings.
#[derive(Deserialize)]
pub struct PlaygroundChat {
    model: String,
    #[serde(default)]
    system: String,
    messages: Vec<Turn>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    content: String,
}

/// An error in the API's envelope (the page shows its message).
fn refused(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message, "type": kind, "param": null, "code": kind}}))).into_response()
}

/// The session, and the CSRF token in `x-csrf-token` for a state-changing call.
async fn session_of(state: &AppState, headers: &HeaderMap, csrf: bool) -> Result<Session, Response> {
    let s = match session::current(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(refused(StatusCode::UNAUTHORIZED, "unauthorized", "Your session has ended; log in again.")),
        Err(e) => return Err(ApiError::Storage(e).into_response()),
    };
    if csrf {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !session::tokens_match(sent, &s.csrf_token) {
            return Err(refused(StatusCode::FORBIDDEN, "csrf", "The page's security token did not match; reload the page."));
        }
    }
    Ok(s)
}

/// The OpenAI request the page's conversation stands for: streamed, with the usage chunk.
fn to_request(c: PlaygroundChat) -> Result<Value, ApiError> {
    if c.messages.is_empty() || c.messages.len() > MAX_TURNS {
        return Err(ApiError::bad_request(Some("messages"), format!("the conversation needs 1 to {MAX_TURNS} messages")));
    }
    let mut messages = Vec::with_capacity(c.messages.len() + 1);
    if !c.system.trim().is_empty() {
        messages.push(json!({"role": "system", "content": c.system}));
    }
    for t in c.messages {
        if t.role != "user" && t.role != "assistant" {
            return Err(ApiError::bad_request(Some("messages"), "conversation messages are from the user or the assistant"));
        }
        messages.push(json!({"role": t.role, "content": t.content}));
    }
    let mut req = json!({"model": c.model, "messages": messages, "stream": true, "stream_options": {"include_usage": true}});
    if let Some(t) = c.temperature {
        req["temperature"] = json!(t);
    }
    if let Some(m) = c.max_tokens {
        req["max_tokens"] = json!(m);
    }
    Ok(req)
}

pub async fn playground_chat(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, raw: Body) -> Response {
    let s = match session_of(&state, &headers, true).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match run(&state, &ctx, &s, raw).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, ctx: &RequestCtx, s: &Session, raw: Body) -> Result<Response, ApiError> {
    let bytes = body::read_limited(raw, state.config.max_body_bytes).await?;
    let asked: PlaygroundChat = body::parse_json(&bytes)?;
    let req = serde_json::to_vec(&to_request(asked)?).map_err(|e| ApiError::bad_request(None, e.to_string()))?;
    let key = state.store.playground_key(state.keys.pepper(), &s.user.id).await?;
    let caller = authenticate::managed(state, &key.id).await?;
    chat::run_as(state, ctx, &caller, Some(PROJECT.to_owned()), &req, Dialect::OpenAi).await
}

/// The record of one of the user's own calls (404 until the usage writer stored it).
pub async fn playground_call(State(state): State<AppState>, headers: HeaderMap, Path(request_id): Path<String>) -> Response {
    let s = match session_of(&state, &headers, false).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match state.store.usage_call(&request_id, Some(&s.user.id)).await {
        Ok(Some(r)) => no_store(
            Json(json!({
                "request_id": r.request_id,
                "kid": r.kid,
                "model": r.model,
                "provider": r.provider,
                "status": r.status,
                "tokens_in": r.tokens_in,
                "tokens_out": r.tokens_out,
                "credits": NanoCredits(r.credits).to_string(),
                "billed": r.billed,
                "estimated": r.estimated,
                "duration_ms": r.duration_ms,
                "ttfb_ms": r.ttfb_ms,
            }))
            .into_response(),
        ),
        Ok(None) => refused(StatusCode::NOT_FOUND, "not_found", "no such call yet"),
        Err(e) => ApiError::Storage(e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(v: Value) -> PlaygroundChat {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_conversation_becomes_a_streamed_openai_request_with_usage() {
        let req = to_request(chat(json!({"model": "openai/gpt-4o-mini", "system": "Be brief", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again"}], "temperature": 0.2, "max_tokens": 50}))).unwrap();
        assert_eq!(req["stream"], true);
        assert_eq!(req["stream_options"]["include_usage"], true);
        assert_eq!(req["messages"][0], json!({"role": "system", "content": "Be brief"}));
        assert_eq!(req["messages"].as_array().unwrap().len(), 4);
        assert_eq!(req["max_tokens"], 50);
        let no_system = to_request(chat(json!({"model": "m", "system": "  ", "messages": [{"role": "user", "content": "hi"}]}))).unwrap();
        assert_eq!(no_system["messages"].as_array().unwrap().len(), 1);
        assert!(no_system.get("temperature").is_none());
    }

    #[test]
    fn only_user_and_assistant_turns_and_never_an_empty_conversation() {
        assert!(to_request(chat(json!({"model": "m", "messages": []}))).is_err());
        assert!(to_request(chat(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}))).is_err());
        assert!(to_request(chat(json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}))).is_err());
    }
}
