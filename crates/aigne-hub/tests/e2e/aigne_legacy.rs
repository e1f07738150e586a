//! The original hub's older shapes, for older clients: `POST /api/v2/chat/completions` (and
//! `/api/v2/completions`) as JSON, as events, or as bare text, and
//! `POST /api/v2/image/generations`.

use base64::Engine as _;
use serde_json::{json, Value};
use upstream_sim::sim_png;

use crate::limits;
use crate::support::*;

const LEGACY_CHAT: &str = "/api/v2/chat/completions";
const LEGACY_IMAGES: &str = "/api/v2/image/generations";

async fn post_accepting(hub: &hub_testkit::TestHub, path: &str, key: &str, accept: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = hub.client().post(hub.url(path)).bearer_auth(key).json(body).timeout(limits::REQUEST_TIMEOUT);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send().await.unwrap()
}

fn events(raw: &str) -> Vec<Value> {
    raw.split("\n\n")
        .filter_map(|block| block.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap_or_else(|e| panic!("not JSON ({e}): {data}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_chat_answers_as_json_events_or_bare_text() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let camel = json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
        "maxTokens": 30,
        "topP": 1
    });

    // One JSON object.
    let (rid, answer) = expect_completion(post_accepting(hub, LEGACY_CHAT, key, None, &camel).await).await;
    // `maxTokens` reached the upstream: the simulator answers that many tokens.
    let thirty = upstream_sim::reply_text(30);
    assert_eq!(answer, json!({"role": "assistant", "text": thirty, "content": thirty}));
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "chat.completions", "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // Events for a client that accepts them: deltas, then usage; no [DONE].
    let prompt = json!({"model": "openai/gpt-4o-mini", "prompt": "Hello!"});
    let resp = post_accepting(hub, "/api/v2/completions", key, Some("text/event-stream"), &prompt).await;
    assert_eq!(resp.status(), 200);
    assert!(header(resp.headers(), "content-type").is_some_and(|c| c.starts_with("text/event-stream")));
    let raw = resp.text().await.unwrap();
    assert!(!raw.contains("[DONE]"), "{raw}");
    let evs = events(&raw);
    let (last, deltas) = evs.split_last().unwrap();
    let text: String = deltas.iter().filter_map(|e| e["delta"]["content"].as_str()).collect();
    assert_eq!(text, reply());
    assert!(deltas.iter().all(|e| e.get("delta").is_some()), "{raw}");
    assert!(last["usage"]["promptTokens"].as_u64().is_some_and(|n| n > 0), "{last}");
    assert!(last["usage"]["completionTokens"].as_u64().is_some_and(|n| n > 0), "{last}");

    // `"stream": true` without events: the bare text as it comes.
    let resp = post_accepting(hub, LEGACY_CHAT, key, None, &with(prompt.clone(), json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    assert!(header(resp.headers(), "content-type").is_some_and(|c| c.starts_with("text/plain")));
    assert_eq!(resp.text().await.unwrap(), reply());

    // Every call was metered like any other.
    let records = hub.wait_for_usage(3, limits::USAGE_VISIBLE).await.unwrap();
    assert!(records.iter().all(|r| str_field(r, "outcome") == "ok" && u64_field(r, "tokens_out") > 0), "{records:?}");

    // Bad bodies get the one error envelope, naming the field.
    let err = expect_error(post_accepting(hub, LEGACY_CHAT, key, None, &json!({"model": "openai/gpt-4o-mini"})).await, 400, "no messages").await;
    assert!(err.message.contains("messages"), "{}", err.message);
    expect_error(post_accepting(hub, LEGACY_CHAT, key, None, &json!({"prompt": "a", "messages": []})).await, 400, "both prompt and messages").await;
    // A bad key is refused like everywhere else.
    expect_error(post_accepting(hub, LEGACY_CHAT, "aih_nope", None, &camel).await, 401, "bad key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_chat_carries_tool_calls_in_camel_case() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let body = json!({
        "model": "openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"cityName": {"type": "string"}}, "required": ["cityName"]}}}],
        "toolChoice": "required"
    });
    let (_, reply) = expect_completion(post_accepting(hub, LEGACY_CHAT, key, None, &body).await).await;
    let call = &reply["toolCalls"][0];
    assert_eq!(call["type"], "function", "{reply}");
    assert_eq!(call["function"]["name"], "get_weather", "{reply}");
    assert!(call["function"]["arguments"].is_string(), "arguments stay JSON text: {reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_images_carry_every_name_older_clients_read() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let body = json!({"model": "openai/dall-e-3", "prompt": "a watercolor fox", "n": 2});
    let (rid, reply) = expect_completion(post_accepting(hub, LEGACY_IMAGES, key, None, &body).await).await;
    assert_eq!(reply["images"].as_array().map(Vec::len), Some(2), "{reply}");
    assert_eq!(reply["images"], reply["data"]);
    assert!(reply["images"][0]["url"].is_string(), "{reply}");
    assert_eq!(reply["model"], "dall-e-3");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");

    let body = json!({"model": "openai/dall-e-3", "prompt": "a fox", "responseFormat": "b64_json"});
    let (_, reply) = expect_completion(post_accepting(hub, LEGACY_IMAGES, key, None, &body).await).await;
    let image = &reply["images"][0];
    for name in ["base64", "b64_json", "b64Json"] {
        let b64 = image[name].as_str().unwrap_or_else(|| panic!("{name} missing: {reply}"));
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), sim_png());
    }
    let err = expect_error(post_accepting(hub, LEGACY_IMAGES, key, None, &json!({"model": "openai/dall-e-3"})).await, 400, "no prompt").await;
    assert!(err.message.contains("prompt"), "{}", err.message);
}
