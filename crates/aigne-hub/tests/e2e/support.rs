//! Shared set-up and assertions.

use std::future::Future;
use std::time::{Duration, Instant};

use hub_testkit::{CreatedKey, HubOptions, TestHub};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Response;
use serde_json::{json, Value};
use upstream_sim::{Sim, SimConfig};

use crate::limits;

pub const HUB_BIN: &str = env!("CARGO_BIN_EXE_aigne-hub");

/// The model name of the seed's curl example.
pub const SEED_MODEL: &str = "aignehub/gpt-3.5-turbo";
/// The hub's own API path, and the OpenAI-compatible one SDKs use.
pub const API_CHAT: &str = "/api/v1/chat/completions";
pub const OPENAI_CHAT: &str = "/v1/chat/completions";
/// The header whose value becomes a usage record's `project`.
pub const PROJECT_HEADER: &str = "x-aigne-hub-client-did";

/// A simulator, a hub in front of it (provider `openai`) and one key.
pub struct Env {
    pub sim: Sim,
    pub hub: TestHub,
    pub key: CreatedKey,
}

/// Options every test hub starts from.
pub fn options() -> HubOptions {
    HubOptions::default().propagation(limits::PROPAGATION)
}

pub async fn setup() -> Env {
    setup_with(SimConfig::default(), |o| o).await
}

pub async fn setup_with(
    sim_config: SimConfig,
    customize: impl FnOnce(HubOptions) -> HubOptions,
) -> Env {
    let sim = Sim::start(sim_config)
        .await
        .expect("start the upstream simulator");
    let hub = TestHub::launch(HUB_BIN, customize(options().openai(&sim.base_url())))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub
        .create_key("e2e")
        .await
        .unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    Env { sim, hub, key }
}

/// The seed's request body.
pub fn hello() -> Value {
    json!({"model": SEED_MODEL, "messages": [{"role": "user", "content": "Hello!"}]})
}

/// `base` with the fields of `extra` added or replaced.
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

/// What the simulator answers to a request without max tokens.
pub fn reply() -> String {
    upstream_sim::reply_text(12)
}

/// POSTs raw bytes as JSON, with the bearer key when given.
pub async fn post_raw(
    hub: &TestHub,
    path: &str,
    key: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut req = hub
        .client()
        .post(hub.url(path))
        .header(CONTENT_TYPE, "application/json")
        .timeout(limits::REQUEST_TIMEOUT)
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

pub async fn post_json(hub: &TestHub, path: &str, key: Option<&str>, body: &Value) -> Response {
    post_raw(hub, path, key, body.to_string()).await
}

/// POST /api/v1/chat/completions.
pub async fn chat(hub: &TestHub, key: &str, body: &Value) -> Response {
    post_json(hub, API_CHAT, Some(key), body).await
}

pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub fn request_id(headers: &HeaderMap) -> String {
    let id = header(headers, "x-request-id").expect("every response carries x-request-id");
    assert!(!id.is_empty());
    id
}

/// A successful non-streamed completion: its request id and body.
pub async fn expect_completion(resp: Response) -> (String, Value) {
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.text().await.expect("read the body");
    assert_eq!(status, 200, "body: {raw}");
    let body: Value =
        serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"));
    (request_id(&headers), body)
}

/// An error reply in the OpenAI envelope.
#[derive(Debug)]
pub struct ErrorReply {
    pub headers: HeaderMap,
    /// The body exactly as sent.
    pub raw: String,
    pub message: String,
}

/// Checks status, `x-request-id` and the envelope `{"error":{"message","type","param","code"}}`.
pub async fn expect_error(resp: Response, status: u16, what: &str) -> ErrorReply {
    let actual = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: read the body: {e}"));
    assert_eq!(actual, status, "{what}: body {raw}");
    assert!(
        headers.contains_key("x-request-id"),
        "{what}: no x-request-id"
    );
    let body: Value = serde_json::from_str(&raw)
        .unwrap_or_else(|e| panic!("{what}: error body is not JSON ({e}): {raw}"));
    let error = body
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{what}: no error object: {raw}"));
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: error.message is not a string: {raw}"));
    assert!(!message.trim().is_empty(), "{what}: empty message");
    assert!(
        error
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| !t.is_empty()),
        "{what}: error.type is not a non-empty string: {raw}"
    );
    for field in ["param", "code"] {
        assert!(
            error.contains_key(field),
            "{what}: error.{field} missing: {raw}"
        );
    }
    ErrorReply {
        headers,
        message: message.to_owned(),
        raw,
    }
}

/// Polls `check` until it returns `Some`, or gives up after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the simulator has received `n` chat requests.
pub async fn wait_upstream_requests(sim: &Sim, n: u64) {
    eventually(
        limits::REACH_UPSTREAM,
        &format!("{n} requests reach the simulator"),
        || async { (sim.stats().chat_requests >= n).then_some(()) },
    )
    .await;
}

pub fn str_field<'a>(v: &'a Value, field: &str) -> &'a str {
    v.get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("field {field} is not a string in {v}"))
}

pub fn u64_field(v: &Value, field: &str) -> u64 {
    v.get(field)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("field {field} is not an unsigned integer in {v}"))
}

pub fn bool_field(v: &Value, field: &str) -> bool {
    v.get(field)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("field {field} is not a boolean in {v}"))
}

/// `key create --name NAME --owner OWNER [extra…] --json`, then waits until the server knows it.
pub async fn create_key_with(hub: &TestHub, name: &str, extra: &[&str]) -> CreatedKey {
    let mut args = vec!["key", "create", "--name", name, "--owner", hub_testkit::OWNER_EMAIL];
    args.extend_from_slice(extra);
    args.push("--json");
    let v = hub.cli_json(&args).await.unwrap_or_else(|e| panic!("key create {extra:?}: {e}"));
    let key = CreatedKey {
        id: str_field(&v, "id").to_owned(),
        kid: str_field(&v, "kid").to_owned(),
        key: str_field(&v, "key").to_owned(),
        name: str_field(&v, "name").to_owned(),
    };
    hub.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    key
}

/// Every request the simulator has received on any route.
pub fn upstream_total(sim: &Sim) -> u64 {
    let s = sim.stats();
    s.chat_requests + s.embedding_requests + s.models_requests + s.messages_requests
}
