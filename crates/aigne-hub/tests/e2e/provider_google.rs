//! Provider `google`: the hub's OpenAI-compatible API in front of the Gemini API (the
//! simulator's `/v1beta/models/{model}:generateContent` family).

use hub_testkit::{sse_content, sse_data, CreatedKey, TestHub, PROVIDER_KEY};
use serde_json::{json, Value};
use upstream_sim::{Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const MODEL: &str = "google/gemini-2.0-flash";
/// The key the simulated Gemini API expects (the hub is configured with it).
const GEMINI_KEY: &str = "AIzaSyE2eSimulatedGeminiKey0123456789abc";

async fn google_env(sim_key: &str, hub_key: &str) -> (Sim, TestHub, CreatedKey) {
    let sim = Sim::start(SimConfig { api_key: Some(sim_key.to_owned()), ..SimConfig::default() }).await.expect("start the simulator");
    let hub = TestHub::launch(HUB_BIN, options().provider("google", &sim.gemini_base_url(), Some(hub_key)))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    (sim, hub, key)
}

fn ask(extra: Value) -> Value {
    with(json!({"model": MODEL, "messages": [{"role": "user", "content": "Hello!"}]}), extra)
}

/// The Gemini request the simulator received last.
fn upstream_body(sim: &Sim) -> Value {
    sim.stats().last_chat_body.expect("the simulator saw a JSON body")
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}
    }}])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_google_chat_stream_tools_images_json_and_usage() {
    let (sim, hub, key) = google_env(GEMINI_KEY, GEMINI_KEY).await;

    // Non-streamed: the reply and exact usage come through translated.
    let (rid, body) = expect_completion(chat(&hub, &key.key, &ask(json!({}))).await).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], reply());
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 7);
    assert_eq!(body["usage"]["completion_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], 19);
    let sent = upstream_body(&sim);
    assert_eq!(sent, json!({"contents": [{"role": "user", "parts": [{"text": "Hello!"}]}]}), "exactly Gemini's request shape");
    assert_eq!(sim.stats().last_authorization, None, "the key travels only in x-goog-api-key");

    // The usage record names the provider and model, with the provider's counts.
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "google", "{record}");
    assert!(str_field(&record, "model").contains("gemini-2.0-flash"), "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 7, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 12, "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // Streamed through `/v1/chat/completions`: OpenAI chunks, the same text, usage when asked.
    let resp = post_json(&hub, OPENAI_CHAT, Some(&key.key), &ask(json!({"stream": true, "stream_options": {"include_usage": true}}))).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert_eq!(sse_content(&events), reply());
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant", "{text}");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{text}");
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!((usage["prompt_tokens"].as_u64(), usage["completion_tokens"].as_u64(), usage["total_tokens"].as_u64()), (Some(7), Some(12), Some(19)), "{text}");

    // A tool call: tools in, OpenAI tool_calls out with JSON-text arguments.
    let question = json!([{"role": "user", "content": "Weather in Paris?"}]);
    let req = ask(json!({"messages": question, "tools": weather_tool(), "tool_choice": "required"}));
    let (_, body) = expect_completion(chat(&hub, &key.key, &req).await).await;
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments are JSON text")).unwrap();
    assert_eq!(arguments, json!({"sim": true}));
    let call_id = call["id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_"), "{call_id}");
    let sent = upstream_body(&sim);
    assert_eq!(sent["toolConfig"], json!({"functionCallingConfig": {"mode": "ANY"}}));
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["parameters"],
        json!({"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]}),
        "JSON Schema reduced to Gemini's subset"
    );

    // The follow-up turn carries the call and its result back in Gemini's form.
    let follow_up = ask(json!({"tools": weather_tool(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
        {"role": "tool", "tool_call_id": call_id, "content": "{\"temp_c\":21}"}
    ]}));
    let (_, body) = expect_completion(chat(&hub, &key.key, &follow_up).await).await;
    assert_eq!(body["choices"][0]["message"]["content"], reply());
    let sent = upstream_body(&sim);
    assert_eq!(sent["contents"][1]["role"], "model");
    assert_eq!(sent["contents"][1]["parts"][0]["functionCall"], json!({"name": "get_weather", "args": {"sim": true}}));
    assert_eq!(sent["contents"][2]["role"], "user");
    assert_eq!(sent["contents"][2]["parts"][0]["functionResponse"], json!({"name": "get_weather", "response": {"temp_c": 21}}));

    // A streamed tool call arrives as one indexed delta with id, name and arguments.
    let resp = post_json(&hub, OPENAI_CHAT, Some(&key.key), &with(req.clone(), json!({"stream": true}))).await;
    let text = resp.text().await.unwrap();
    let deltas: Vec<Value> = sse_data(&text)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect();
    assert_eq!(deltas.len(), 1, "{text}");
    assert_eq!(deltas[0]["index"], 0);
    assert_eq!(deltas[0]["function"]["name"], "get_weather");
    assert_eq!(deltas[0]["function"]["arguments"], "{\"sim\":true}");
    assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{text}");

    // An image part reaches Gemini as inline data.
    let image = ask(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]}));
    expect_completion(chat(&hub, &key.key, &image).await).await;
    let sent = upstream_body(&sim);
    assert_eq!(sent["contents"][0]["parts"][1], json!({"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}));

    // JSON schema output becomes responseMimeType + responseSchema.
    let schema = ask(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"], "additionalProperties": false
    }}}}));
    expect_completion(chat(&hub, &key.key, &schema).await).await;
    let sent = upstream_body(&sim);
    assert_eq!(sent["generationConfig"]["responseMimeType"], "application/json");
    assert_eq!(sent["generationConfig"]["responseSchema"], json!({"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}, "required": ["answer"]}));

    assert_eq!(sim.stats().unauthorized, 0);
    assert!(!hub.logs().contains(GEMINI_KEY), "the provider credential is in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_google_rate_limits_and_overload_map_to_429_and_503() {
    let (sim, hub, key) = google_env(GEMINI_KEY, GEMINI_KEY).await;

    // RESOURCE_EXHAUSTED's RetryInfo becomes the hub's Retry-After.
    sim.push_fault(Fault::Status { status: 429, retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS) });
    let reply = expect_error(chat(&hub, &key.key, &ask(json!({}))).await, 429, "Gemini 429").await;
    assert_eq!(header(&reply.headers, "retry-after").as_deref(), Some(limits::PROVIDER_RETRY_AFTER_SECS.to_string().as_str()));
    assert!(reply.message.contains("quota"), "{}", reply.raw);
    tokio::time::sleep(std::time::Duration::from_secs(limits::PROVIDER_RETRY_AFTER_SECS) + limits::SETTLE).await;

    // UNAVAILABLE (overloaded), however many retries the hub makes, ends as a 503.
    for _ in 0..5 {
        sim.push_fault(Fault::Status { status: 503, retry_after: None });
    }
    let reply = expect_error(chat(&hub, &key.key, &ask(json!({"stream": true}))).await, 503, "Gemini 503").await;
    assert!(header(&reply.headers, "retry-after").is_some(), "{:?}", reply.headers);
    sim.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_google_refusing_the_key_is_a_502_that_reveals_nothing() {
    // Gemini answers a wrong key with 400 INVALID_ARGUMENT / API_KEY_INVALID.
    let (sim, hub, key) = google_env(GEMINI_KEY, PROVIDER_KEY).await;
    for body in [ask(json!({})), ask(json!({"stream": true}))] {
        let reply = expect_error(chat(&hub, &key.key, &body).await, 502, "Gemini API_KEY_INVALID").await;
        for needle in [PROVIDER_KEY, &PROVIDER_KEY[..12], &PROVIDER_KEY[PROVIDER_KEY.len() - 12..], "API key not valid", "API_KEY_INVALID"] {
            assert!(!reply.raw.contains(needle), "the 502 body reveals the provider's text ({needle}): {}", reply.raw);
        }
    }
    assert_eq!(sim.stats().unauthorized, 1, "after one refusal the credential is set aside");
    let records = hub.wait_for_usage(2, limits::USAGE_VISIBLE).await.unwrap();
    for r in &records {
        assert_eq!(u64_field(r, "status"), 502, "{r}");
        assert_eq!(str_field(r, "provider"), "google", "{r}");
    }
    assert!(!hub.logs().contains(PROVIDER_KEY), "the provider credential is in the logs");
}
