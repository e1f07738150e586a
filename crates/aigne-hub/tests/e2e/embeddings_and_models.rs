//! `POST /v1/embeddings` through the hub (OpenAI protocol, Gemini and Bedrock translations) and
//! `GET /v1/models` / `GET /v1/models/{id}` from the built-in catalog.

use base64::Engine as _;
use hub_testkit::{CreatedKey, TestHub};
use serde_json::{json, Value};
use upstream_sim::{text_embedding, Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const OPENAI_EMBEDDINGS: &str = "/v1/embeddings";
const API_EMBEDDINGS: &str = "/api/v1/embeddings";
/// A Bedrock credential as the hub stores it (`access key id:secret`); the simulator checks no
/// signature unless told to, but the hub always signs.
const BEDROCK_CREDENTIAL: &str = "AKIAE2EEMBEDDINGS0001:e2e/Embeddings+Secret0123456789abcdefghij";

/// One simulator serving every protocol, and a hub with `openai`, `google`, `bedrock` and
/// `anthropic` pointed at it.
async fn multi_env() -> (Sim, TestHub, CreatedKey) {
    let sim = Sim::start(SimConfig::default()).await.expect("start the simulator");
    let root = format!("http://{}", sim.addr());
    let opts = options()
        .openai(&sim.base_url())
        .provider("google", &sim.gemini_base_url(), Some("AIzaSyE2eSimulatedGeminiKey0123456789abc"))
        .provider("bedrock", &root, Some(BEDROCK_CREDENTIAL))
        .provider("anthropic", &sim.anthropic_base_url(), Some("sk-ant-e2e-simulated-0123456789"));
    let hub = TestHub::launch(HUB_BIN, opts).await.unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    (sim, hub, key)
}

async fn embed(hub: &TestHub, path: &str, key: &str, body: &Value) -> (String, Value) {
    expect_completion(post_json(hub, path, Some(key), body).await).await
}

/// The float vector of item `i`, as f32 (the simulator's precision).
fn floats(body: &Value, i: usize) -> Vec<f32> {
    body["data"][i]["embedding"]
        .as_array()
        .unwrap_or_else(|| panic!("data[{i}].embedding is not an array: {body}"))
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

fn base64_floats(body: &Value, i: usize) -> Vec<f32> {
    let text = body["data"][i]["embedding"].as_str().unwrap_or_else(|| panic!("data[{i}].embedding is not a string: {body}"));
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).unwrap();
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn assert_list_shape(body: &Value, n: usize) {
    assert_eq!(body["object"], "list", "{body}");
    let data = body["data"].as_array().unwrap_or_else(|| panic!("no data: {body}"));
    assert_eq!(data.len(), n, "{body}");
    for (i, d) in data.iter().enumerate() {
        assert_eq!(d["object"], "embedding", "{body}");
        assert_eq!(d["index"], i, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_the_openai_protocol_with_exact_usage_and_records() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    // Floats, two inputs: the simulator's vectors and word counts come through unchanged.
    let body = json!({"model": "openai/text-embedding-3-small", "input": ["hello world", "the quick brown fox"]});
    let (rid, reply) = embed(hub, OPENAI_EMBEDDINGS, key, &body).await;
    assert_list_shape(&reply, 2);
    assert_eq!(floats(&reply, 0), text_embedding("hello world", 8));
    assert_eq!(floats(&reply, 1), text_embedding("the quick brown fox", 8));
    assert_eq!(reply["usage"], json!({"prompt_tokens": 6, "total_tokens": 6}), "{reply}");
    let sent = env.sim.stats();
    assert_eq!(sent.embedding_requests, 1);
    assert_eq!(sent.total_embedding_tokens, 6);

    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "embeddings", "{record}");
    assert_eq!(str_field(&record, "provider"), "openai", "{record}");
    assert_eq!(str_field(&record, "model"), "text-embedding-3-small", "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 6, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 0, "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");
    assert!(!bool_field(&record, "stream"), "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // Base64 through the hub's own path with a bare model name; `dimensions` passes through.
    let body = json!({"model": "text-embedding-3-small", "input": "hello world", "encoding_format": "base64", "dimensions": 16});
    let (_, reply) = embed(hub, API_EMBEDDINGS, key, &body).await;
    assert_list_shape(&reply, 1);
    assert_eq!(base64_floats(&reply, 0), text_embedding("hello world", 16));
    assert_eq!(reply["usage"]["prompt_tokens"], 2, "{reply}");

    // Token arrays are OpenAI's to interpret: passed on, counted by the upstream.
    let (rid, reply) = embed(hub, OPENAI_EMBEDDINGS, key, &json!({"model": "aignehub/openai/text-embedding-3-large", "input": [[1, 2, 3], [4]]})).await;
    assert_list_shape(&reply, 2);
    assert_eq!(reply["usage"]["prompt_tokens"], 4, "{reply}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(u64_field(&record, "tokens_in"), 4, "{record}");

    // An upstream that reports no usage: the record falls back to the hub's estimate, flagged.
    env.sim.push_fault(Fault::NoUsage);
    let (rid, _) = embed(hub, OPENAI_EMBEDDINGS, key, &json!({"model": "openai/text-embedding-3-small", "input": "abcdefgh"})).await;
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert!(bool_field(&record, "estimated"), "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 2, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_bad_input_and_provider_errors_use_the_openai_envelope() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let bad = |body: Value| async move { post_json(hub, OPENAI_EMBEDDINGS, Some(key), &body).await };

    for (body, param) in [
        (json!({"input": "hi"}), "model"),
        (json!({"model": "openai/text-embedding-3-small"}), "input"),
        (json!({"model": "openai/text-embedding-3-small", "input": ""}), "input"),
        (json!({"model": "openai/text-embedding-3-small", "input": []}), "input"),
        (json!({"model": "openai/text-embedding-3-small", "input": {"text": "hi"}}), "input"),
        (json!({"model": "openai/text-embedding-3-small", "input": "hi", "encoding_format": "int8"}), "encoding_format"),
    ] {
        let reply = expect_error(bad(body.clone()).await, 400, &format!("{body}")).await;
        let v: Value = serde_json::from_str(&reply.raw).unwrap();
        assert_eq!(v["error"]["param"], param, "{body}: {}", reply.raw);
    }
    assert_eq!(env.sim.stats().embedding_requests, 0, "bad input never reaches the provider");

    // No key: 401 before anything else.
    expect_error(post_json(hub, OPENAI_EMBEDDINGS, None, &json!({"model": "text-embedding-3-small", "input": "hi"})).await, 401, "no key").await;

    // The provider's 429 reaches the client with Retry-After, and is recorded.
    env.sim.push_fault(Fault::Status { status: 429, retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS) });
    let reply = expect_error(bad(json!({"model": "openai/text-embedding-3-small", "input": "hi"})).await, 429, "upstream 429").await;
    assert!(header(&reply.headers, "retry-after").is_some(), "{:?}", reply.headers);
    let record = hub.wait_for_record(&request_id(&reply.headers), limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "embeddings", "{record}");
    assert_eq!(u64_field(&record, "status"), 429, "{record}");
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    tokio::time::sleep(std::time::Duration::from_secs(limits::PROVIDER_RETRY_AFTER_SECS) + limits::SETTLE).await;

    // The provider's own 404 for an unknown model, with its message.
    let reply = expect_error(bad(json!({"model": "openai/missing-embedder", "input": "hi"})).await, 404, "unknown upstream model").await;
    assert!(reply.message.contains("missing-embedder"), "{}", reply.raw);

    // A provider nobody configured.
    expect_error(bad(json!({"model": "deepseek/deepseek-embed", "input": "hi"})).await, 404, "unconfigured provider").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_through_gemini_and_bedrock_and_unsupported_providers() {
    let (sim, hub, key) = multi_env().await;
    let key = key.key.as_str();

    // Gemini's batchEmbedContents, translated both ways.
    let (rid, reply) = embed(&hub, OPENAI_EMBEDDINGS, key, &json!({"model": "google/text-embedding-004", "input": ["a b", "c"]})).await;
    assert_list_shape(&reply, 2);
    assert_eq!(floats(&reply, 0), text_embedding("a b", 8));
    assert_eq!(floats(&reply, 1), text_embedding("c", 8));
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "google", "{record}");
    assert_eq!(str_field(&record, "endpoint"), "embeddings", "{record}");
    // The bare Google embedding id routes to `google`, base64 included.
    let (_, reply) = embed(&hub, API_EMBEDDINGS, key, &json!({"model": "text-embedding-004", "input": "a b", "encoding_format": "base64"})).await;
    assert_eq!(base64_floats(&reply, 0), text_embedding("a b", 8));

    // Token ids mean nothing to Gemini: refused before any call.
    let before = sim.stats().embedding_requests;
    let reply = expect_error(post_json(&hub, OPENAI_EMBEDDINGS, Some(key), &json!({"model": "google/text-embedding-004", "input": [1, 2, 3]})).await, 400, "token ids to gemini").await;
    let v: Value = serde_json::from_str(&reply.raw).unwrap();
    assert_eq!(v["error"]["param"], "input", "{}", reply.raw);
    assert_eq!(sim.stats().embedding_requests, before);

    // Bedrock Titan through InvokeModel, one call per input, tokens from the upstream.
    let (rid, reply) = embed(&hub, OPENAI_EMBEDDINGS, key, &json!({"model": "bedrock/amazon.titan-embed-text-v2:0", "input": ["one two", "three"]})).await;
    assert_list_shape(&reply, 2);
    assert_eq!(floats(&reply, 0), text_embedding("one two", 8));
    assert_eq!(reply["usage"]["prompt_tokens"], 3, "{reply}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "bedrock", "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 3, "{record}");

    // Anthropic offers no embeddings: 400 unsupported_operation, recorded, nothing sent.
    let before = sim.stats().embedding_requests;
    let reply = expect_error(post_json(&hub, OPENAI_EMBEDDINGS, Some(key), &json!({"model": "anthropic/claude-3-5-haiku", "input": "hi"})).await, 400, "anthropic embeddings").await;
    let v: Value = serde_json::from_str(&reply.raw).unwrap();
    assert_eq!(v["error"]["code"], "unsupported_operation", "{}", reply.raw);
    assert_eq!(sim.stats().embedding_requests, before);
    let record = hub.wait_for_record(&request_id(&reply.headers), limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(u64_field(&record, "status"), 400, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_only_configured_providers_and_retrieves_by_id() {
    let sim = Sim::start(SimConfig::default()).await.expect("start the simulator");
    let opts = options().openai(&sim.base_url()).provider("google", &sim.gemini_base_url(), Some("AIzaSyE2eSimulatedGeminiKey0123456789abc"));
    let hub = TestHub::launch(HUB_BIN, opts).await.unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    let get = |path: &'static str, key: Option<String>| {
        let hub = &hub;
        async move {
            let mut req = hub.client().get(hub.url(path)).timeout(limits::REQUEST_TIMEOUT);
            if let Some(k) = key {
                req = req.bearer_auth(k);
            }
            req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
        }
    };
    let k = || Some(key.key.clone());

    for path in ["/v1/models", "/api/v1/models"] {
        let (_, list) = expect_completion(get(path, k()).await).await;
        assert_eq!(list["object"], "list", "{list}");
        let data = list["data"].as_array().unwrap();
        let ids: Vec<&str> = data.iter().map(|m| m["id"].as_str().unwrap()).collect();
        for want in ["openai/gpt-4o-mini", "openai/text-embedding-3-small", "google/gemini-2.5-flash", "google/text-embedding-004"] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
        assert!(ids.iter().all(|id| id.starts_with("openai/") || id.starts_with("google/")), "only configured providers: {ids:?}");
        for m in data {
            assert_eq!(m["object"], "model", "{m}");
            assert!(m["created"].as_i64().is_some_and(|c| c > 0), "{m}");
            let owner = m["owned_by"].as_str().unwrap();
            assert!(m["id"].as_str().unwrap().starts_with(&format!("{owner}/")), "{m}");
        }
    }

    let (_, model) = expect_completion(get("/v1/models/openai/gpt-4o-mini", k()).await).await;
    assert_eq!(model["id"], "openai/gpt-4o-mini", "{model}");
    assert_eq!(model["object"], "model", "{model}");
    assert_eq!(model["owned_by"], "openai", "{model}");
    let (_, model) = expect_completion(get("/api/v1/models/aignehub/google/text-embedding-004", k()).await).await;
    assert_eq!(model["id"], "google/text-embedding-004", "{model}");

    for miss in ["/v1/models/anthropic/claude-sonnet-4-5", "/v1/models/openai/no-such-model", "/v1/models/gpt-4o-mini"] {
        let reply = expect_error(get(miss, k()).await, 404, miss).await;
        let v: Value = serde_json::from_str(&reply.raw).unwrap();
        assert_eq!(v["error"]["code"], "model_not_found", "{}", reply.raw);
    }
    expect_error(get("/v1/models", None).await, 401, "models without a key").await;
    expect_error(get("/v1/models/openai/gpt-4o-mini", None).await, 401, "model without a key").await;
}
