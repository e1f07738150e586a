//! The one place where failures become HTTP statuses and bodies.
//!
//! Inference routes answer in the OpenAI error envelope
//! `{"error":{"message","type","param","code"}}`, which the OpenAI SDKs parse; hub-made errors a
//! retry cannot fix carry `x-should-retry: false` so those SDKs do not retry them.
//! `POST /v1/messages` answers the same statuses in Anthropic's envelope
//! `{"type":"error","error":{"type","message"}}`, its `type` chosen by the status as Anthropic
//! does ([`ApiError::anthropic_type`]). The AIGNE routes (`/api/v2/*`) answer the OpenAI
//! envelope too, except that a call without credit gets the AIGNE SDK's `NOT_ENOUGH` type and the
//! top-up `link` ([`ApiError::into_aigne_response`]).

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hub_providers::error::FailureKind;
use hub_providers::health::WaitReason;
use hub_core::money::NanoCredits;
use hub_providers::ProviderError;
use hub_store::StoreError;
use serde::Serialize;

use crate::inference::limits::{LimitKind, LimitRefusal};

/// Why a presented key was not accepted: always 401, with a message that says which rule failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("Missing API key: send it in the Authorization header as 'Bearer <key>'")]
    MissingKey,
    #[error("Malformed Authorization header: expected 'Bearer <key>'")]
    MalformedHeader,
    #[error("Malformed API key: expected aih_<12-character id>_<49 characters>")]
    MalformedKey,
    #[error("Invalid API key: its checksum does not match (mistyped or truncated?)")]
    BadChecksum,
    /// Unknown kid and wrong secret look the same.
    #[error("Invalid API key: this key is not recognised by this hub")]
    UnknownKey,
    #[error("This API key has been revoked")]
    RevokedKey,
    #[error("This API key has expired")]
    ExpiredKey,
    /// A secret a rotation replaced, after its grace period.
    #[error("This API key was replaced by a rotation and its grace period has ended")]
    RotatedKey,
    #[error("This API key's owner account is disabled")]
    OwnerDisabled,
}

impl AuthFailure {
    pub fn class(self) -> &'static str {
        match self {
            AuthFailure::MissingKey => "missing_key",
            AuthFailure::MalformedHeader | AuthFailure::MalformedKey => "malformed_key",
            AuthFailure::BadChecksum => "bad_checksum",
            AuthFailure::UnknownKey => "unknown_key",
            AuthFailure::RevokedKey => "revoked_key",
            AuthFailure::ExpiredKey => "expired_key",
            AuthFailure::RotatedKey => "rotated_key",
            AuthFailure::OwnerDisabled => "owner_disabled",
        }
    }
}

/// Which of a key's scopes refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Model,
    Endpoint,
    Address,
}

/// Which account could not cover a call's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditShortfall {
    /// The key's budget for the current period.
    Budget { needed: NanoCredits, left: NanoCredits },
    /// The user's credit balance (credit billing is on).
    Balance { needed: NanoCredits, left: NanoCredits },
}

impl std::fmt::Display for CreditShortfall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreditShortfall::Budget { needed, left } => write!(
                f,
                "This key's budget cannot cover this call: it may cost up to {needed} credits and {left} are left in the budget's period; \
                 lower max_tokens or ask an admin to raise the budget"
            ),
            CreditShortfall::Balance { needed, left } => write!(
                f,
                "Not enough credit: this call may cost up to {needed} credits and {left} are available in your balance; top up to continue"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The key's budget or the user's balance cannot cover the call's reservation.
    #[error("{shortfall}")]
    NoCredit { shortfall: CreditShortfall, topup_link: Option<String> },
    /// The model has no rate while the call must be priced (a budget, or credit billing).
    #[error("{0}")]
    Unpriced(String),
    /// The key may not do this (model, endpoint or address scope); the message names the scope.
    #[error("{message}")]
    ScopeDenied { scope: Scope, message: String },
    /// A key's requests-per-minute, tokens-per-minute or concurrency limit.
    #[error("{}", rate_limited_message(.0))]
    RateLimited(LimitRefusal),
    #[error(transparent)]
    Auth(#[from] AuthFailure),
    #[error("This {0} key cannot call this API")]
    WrongKeyType(&'static str),
    #[error("{message}")]
    BadRequest { param: Option<&'static str>, message: String },
    #[error("The request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// An `Idempotency-Key` sent again with a different body.
    #[error("This Idempotency-Key was already used with a different request body; use a new key for a new request")]
    IdempotencyKeyReused,
    #[error("{0}")]
    ModelNotFound(String),
    /// Something the route names (a video job) does not exist for this caller.
    #[error("{0}")]
    NotFound(String),
    #[error("The hub is busy recording usage; retry shortly")]
    Backpressure,
    #[error("The hub is shutting down")]
    ShuttingDown,
    #[error("{}", no_capacity_message(provider, *retry_after, *reason))]
    NoCapacity { provider: String, retry_after: Duration, reason: WaitReason },
    #[error("{0}")]
    Upstream(ProviderError),
    #[error("Storage is unavailable")]
    Storage(#[source] StoreError),
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    pub fn bad_request(param: Option<&'static str>, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest { param, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Auth(_) => StatusCode::UNAUTHORIZED,
            ApiError::WrongKeyType(_) | ApiError::ScopeDenied { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NoCredit { .. } | ApiError::Unpriced(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ModelNotFound(_) | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Backpressure | ApiError::ShuttingDown | ApiError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            // Every credential is out of rotation: say why in the status clients act on.
            ApiError::NoCapacity { reason, .. } => match reason {
                WaitReason::CoolingDown => StatusCode::TOO_MANY_REQUESTS,
                WaitReason::CircuitOpen => StatusCode::SERVICE_UNAVAILABLE,
                WaitReason::SetAside => StatusCode::BAD_GATEWAY,
            },
            ApiError::Upstream(e) => upstream_status(e),
        }
    }

    /// A low-cardinality class for usage records, logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            ApiError::Auth(a) => a.class(),
            ApiError::WrongKeyType(_) => "wrong_key_type",
            ApiError::ScopeDenied { scope, .. } => match scope {
                Scope::Model => "model_not_allowed",
                Scope::Endpoint => "endpoint_not_allowed",
                Scope::Address => "address_not_allowed",
            },
            ApiError::RateLimited(r) => match r.kind {
                LimitKind::Requests => "key_rpm_exceeded",
                LimitKind::Tokens => "key_tpm_exceeded",
                LimitKind::Concurrency => "key_concurrency_exceeded",
            },
            ApiError::NoCredit { shortfall: CreditShortfall::Budget { .. }, .. } => "key_budget_exceeded",
            ApiError::NoCredit { shortfall: CreditShortfall::Balance { .. }, .. } => "insufficient_credit",
            ApiError::Unpriced(_) => "model_not_priced",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::ModelNotFound(_) => "model_not_found",
            ApiError::NotFound(_) => "not_found",
            ApiError::Backpressure => "backpressure",
            ApiError::NoCapacity { .. } => "no_capacity",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Upstream(e) => e.class(),
            ApiError::Storage(_) => "storage",
        }
    }

    fn kind_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            ApiError::Auth(_) => ("invalid_request_error", Some("invalid_api_key")),
            ApiError::WrongKeyType(_) => ("permission_error", Some("wrong_key_type")),
            ApiError::ScopeDenied { .. } => ("permission_error", Some(self.class())),
            ApiError::RateLimited(_) => ("rate_limit_error", Some("rate_limit_exceeded")),
            ApiError::NoCredit { .. } => ("insufficient_quota", Some("insufficient_quota")),
            ApiError::Unpriced(_) => ("insufficient_quota", Some("model_not_priced")),
            ApiError::BadRequest { .. } => ("invalid_request_error", None),
            ApiError::PayloadTooLarge { .. } => ("invalid_request_error", Some("request_too_large")),
            ApiError::IdempotencyKeyReused => ("invalid_request_error", Some("idempotency_key_reused")),
            ApiError::ModelNotFound(_) => ("invalid_request_error", Some("model_not_found")),
            ApiError::NotFound(_) => ("invalid_request_error", Some("not_found")),
            ApiError::Backpressure | ApiError::ShuttingDown => ("server_error", Some("unavailable")),
            ApiError::NoCapacity { reason, .. } => match reason {
                WaitReason::CoolingDown => ("rate_limit_error", Some("rate_limit_exceeded")),
                WaitReason::CircuitOpen => ("upstream_error", Some("provider_unavailable")),
                WaitReason::SetAside => ("upstream_error", Some("provider_auth_failed")),
            },
            ApiError::Storage(_) => ("server_error", Some("storage_unavailable")),
            ApiError::Upstream(e) => match e {
                ProviderError::Upstream(f) => match f.kind {
                    FailureKind::BadRequest => ("invalid_request_error", None),
                    FailureKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
                    FailureKind::NotFound => ("invalid_request_error", Some("model_not_found")),
                    FailureKind::Auth => ("upstream_error", Some("provider_auth_failed")),
                    _ => ("upstream_error", Some("provider_error")),
                },
                ProviderError::Timeout(_) => ("upstream_error", Some("provider_timeout")),
                ProviderError::Unsupported(_) => ("invalid_request_error", Some("unsupported_operation")),
                _ => ("upstream_error", Some("provider_error")),
            },
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Backpressure | ApiError::ShuttingDown | ApiError::Storage(_) => Some(Duration::from_secs(1)),
            ApiError::RateLimited(r) => r.retry_after,
            ApiError::NoCapacity { retry_after, reason, .. } => (*reason != WaitReason::SetAside).then_some(*retry_after),
            ApiError::Upstream(ProviderError::Upstream(f)) if matches!(f.kind, FailureKind::RateLimited | FailureKind::Overloaded) => {
                Some(f.retry_after.unwrap_or(Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    /// The message a client may read (provider credentials never appear in it).
    pub fn client_message(&self) -> String {
        match self {
            ApiError::Upstream(ProviderError::Upstream(f)) => f.message.clone(),
            ApiError::Storage(_) => "Storage is unavailable; the call was not made".to_owned(),
            other => other.to_string(),
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::BadRequest { param, .. } => *param,
            ApiError::ModelNotFound(_) | ApiError::Unpriced(_) => Some("model"),
            ApiError::Upstream(ProviderError::Upstream(f)) => f.param.as_deref(),
            _ => None,
        }
    }

    /// Anthropic's error type for this error's status.
    pub fn anthropic_type(&self) -> &'static str {
        match self.status().as_u16() {
            400 | 422 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// Anthropic's envelope as bytes (a reply body, or the data of a stream's `event: error`).
    pub fn anthropic_json(&self) -> Vec<u8> {
        let event = hub_core::anthropic::wire::StreamEvent::Error {
            error: hub_core::anthropic::wire::ErrorBody { kind: Some(self.anthropic_type().to_owned()), message: Some(self.client_message()) },
        };
        serde_json::to_vec(&event).unwrap_or_default()
    }

    /// The response in Anthropic's envelope, with the same status and headers as every route.
    pub fn into_anthropic_response(self) -> Response {
        let body = self.anthropic_json();
        self.respond(body)
    }

    /// The response on the AIGNE routes: the OpenAI envelope, except that a call without credit
    /// carries the SDK's `NOT_ENOUGH` type and the top-up `link`.
    pub fn into_aigne_response(self) -> Response {
        let body = match &self {
            ApiError::NoCredit { topup_link, .. } => {
                let message = self.client_message();
                serde_json::to_vec(&serde_json::json!({"error": {"message": message, "type": "NOT_ENOUGH", "code": "insufficient_quota", "link": topup_link}}))
                    .unwrap_or_default()
            }
            _ => self.envelope_json(),
        };
        self.respond(body)
    }

    /// The OpenAI envelope as bytes, for a stream's in-band error line.
    pub fn envelope_json(&self) -> Vec<u8> {
        let (kind, code) = self.kind_and_code();
        let message = self.client_message();
        serde_json::to_vec(&Envelope { error: Body { message: &message, kind, param: self.param(), code } }).unwrap_or_default()
    }
}

fn rate_limited_message(r: &LimitRefusal) -> String {
    let (what, unit) = match r.kind {
        LimitKind::Requests => ("requests per minute", "requests"),
        LimitKind::Tokens => ("tokens per minute", "tokens"),
        LimitKind::Concurrency => ("concurrent requests", "requests"),
    };
    match r.retry_after {
        Some(after) => {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            format!("This key's limit of {} {what} is reached; retry after {secs} s", r.limit)
        }
        None => format!("This request needs more {unit} than this key's whole limit of {} {what}; lower max_tokens or the input", r.limit),
    }
}

fn no_capacity_message(provider: &str, retry_after: Duration, reason: WaitReason) -> String {
    let secs = retry_after.as_secs().max(1);
    match reason {
        WaitReason::CoolingDown => format!("{provider} rate-limited this hub; retry after {secs} s"),
        WaitReason::CircuitOpen => format!("{provider} is failing; the hub is holding calls back for {secs} s"),
        WaitReason::SetAside => format!("{provider} refused the hub's credential; an admin must check the provider's API key"),
    }
}

fn upstream_status(e: &ProviderError) -> StatusCode {
    match e {
        ProviderError::Upstream(f) => match f.kind {
            FailureKind::BadRequest => StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
            FailureKind::NotFound => StatusCode::NOT_FOUND,
            FailureKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            FailureKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            // The provider refused the hub's own credential: the hub's problem, not the caller's.
            FailureKind::Auth | FailureKind::Server | FailureKind::Other => StatusCode::BAD_GATEWAY,
        },
        ProviderError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ProviderError::Unsupported(_) => StatusCode::BAD_REQUEST,
        ProviderError::Connect(_) | ProviderError::Protocol(_) | ProviderError::StreamCut | ProviderError::Config(_) => StatusCode::BAD_GATEWAY,
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> ApiError {
        ApiError::Upstream(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::Storage(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.envelope_json();
        self.respond(body)
    }
}

impl ApiError {
    /// Status, log line, `Retry-After` and `x-should-retry` for an error body in any envelope.
    fn respond(self, body: Vec<u8>) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(class = self.class(), error = %self, "request failed");
        }
        let mut res = (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
        let headers = res.headers_mut();
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                headers.insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::RateLimited(r) = &self {
            r.snapshot.write(headers);
        }
        let never = matches!(&self, ApiError::RateLimited(r) if r.retry_after.is_none());
        let retryable = !never && (matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error());
        if !retryable {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        res
    }
}
