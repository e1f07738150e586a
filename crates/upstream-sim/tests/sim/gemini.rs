#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's Gemini API over real HTTP.

use serde_json::{json, Value};
use upstream_sim::{reply_text, text_embedding, Fault, Sim, SimConfig};

const KEY: &str = "AIzaSySimulatorKey0123456789abcdefghijk";
const MODEL: &str = "gemini-2.0-flash";

async fn sim() -> Sim {
    Sim::start(SimConfig { api_key: Some(KEY.to_owned()), ..SimConfig::default() }).await.unwrap()
}

fn hello(extra: Value) -> Value {
    let mut body = json!({"contents": [{"role": "user", "parts": [{"text": "Hello!"}]}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

async fn post(sim: &Sim, method: &str, body: &Value, key: Option<&str>) -> reqwest::Response {
    let url = format!("{}/v1beta/models/{MODEL}:{method}", sim.gemini_base_url());
    let mut req = reqwest::Client::new().post(url).json(body);
    if let Some(k) = key {
        req = req.header("x-goog-api-key", k);
    }
    req.send().await.unwrap()
}

async fn text_of(resp: reqwest::Response, status: u16) -> String {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    text
}

/// The JSON events of an `alt=sse` body, checking Google's framing.
fn sse_events(text: &str) -> Vec<Value> {
    assert!(text.ends_with("\r\n\r\n"), "events end with CRLF CRLF: {text:?}");
    assert!(!text.contains("[DONE]"));
    text.split_terminator("\r\n\r\n").map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap()).collect()
}

fn candidates_text(events: &[Value]) -> String {
    events.iter().filter_map(|e| e["candidates"][0]["content"]["parts"][0]["text"].as_str()).collect()
}

#[tokio::test]
async fn generate_content_shape_headers_and_exact_usage() {
    let sim = sim().await;
    let body = hello(json!({"systemInstruction": {"parts": [{"text": "Be brief."}]}}));
    let resp = post(&sim, "generateContent", &body, Some(KEY)).await;
    assert_eq!(resp.headers()["content-type"], "application/json; charset=UTF-8");
    assert_eq!(resp.headers()["server"], "scaffolding on HTTPServer2");
    let text = text_of(resp, 200).await;
    assert!(text.starts_with("{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [\n"), "{text}");
    assert!(text.ends_with("}\n"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(c["content"]["parts"][0]["text"], reply_text(12));
    assert_eq!(c["finishReason"], "STOP");
    // 7 for the user turn, 3 + 2 for the system instruction.
    let u = &v["usageMetadata"];
    assert_eq!((u["promptTokenCount"].as_u64(), u["candidatesTokenCount"].as_u64(), u["totalTokenCount"].as_u64()), (Some(12), Some(12), Some(24)));
    assert_eq!(u["promptTokensDetails"], json!([{"modality": "TEXT", "tokenCount": 12}]));
    assert_eq!(v["modelVersion"], MODEL);
    assert_eq!(v["responseId"].as_str().unwrap().len(), 23);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");

    let two = post(&sim, "generateContent", &hello(json!({"generationConfig": {"maxOutputTokens": 3, "candidateCount": 2}})), Some(KEY)).await;
    let v: Value = serde_json::from_str(&text_of(two, 200).await).unwrap();
    assert_eq!(v["candidates"][1]["index"], 1);
    assert_eq!(v["candidates"][1]["content"]["parts"][0]["text"], "Hello from the");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 6);
    let stats = sim.stats();
    assert_eq!((stats.chat_requests, stats.total_prompt_tokens, stats.total_completion_tokens), (2, 12 + 7, 12 + 6));
    assert_eq!(stats.last_authorization, None, "the key never travels as a bearer token");
}

#[tokio::test]
async fn sse_stream_matches_the_reply_and_ends_without_done() {
    let sim = sim().await;
    let resp = post_stream(&sim, &hello(json!({})), "?alt=sse").await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["content-disposition"], "attachment");
    let text = text_of(resp, 200).await;
    assert!(text.starts_with("data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hello\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 7,\"candidatesTokenCount\": 1,"), "{text}");
    let events = sse_events(&text);
    assert_eq!(events.len(), 12);
    assert_eq!(candidates_text(&events), reply_text(12));
    let last = events.last().unwrap();
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 19);
    assert!(events[..11].iter().all(|e| e["candidates"][0].get("finishReason").is_none()));
    assert_eq!(sim.stats().stream_requests, 1);

    // Without alt=sse: one JSON array of the same responses.
    let text = text_of(post_stream(&sim, &hello(json!({})), "").await, 200).await;
    let array: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(text.starts_with("[{\n  \"candidates\""), "{text}");
    assert_eq!(candidates_text(&array), reply_text(12));
}

async fn post_stream(sim: &Sim, body: &Value, query: &str) -> reqwest::Response {
    let url = format!("{}/v1beta/models/{MODEL}:streamGenerateContent{query}", sim.gemini_base_url());
    reqwest::Client::new().post(url).header("x-goog-api-key", KEY).json(body).send().await.unwrap()
}

#[tokio::test]
async fn function_calls_when_forced_or_marked() {
    let sim = sim().await;
    let tools = json!({"tools": [{"functionDeclarations": [
        {"name": "get_weather", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}}},
        {"name": "get_time"}
    ]}]});
    let mut any = hello(tools.clone());
    any["toolConfig"] = json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}});
    let v: Value = serde_json::from_str(&text_of(post(&sim, "generateContent", &any, Some(KEY)).await, 200).await).unwrap();
    assert_eq!(v["candidates"][0]["content"]["parts"][0], json!({"functionCall": {"name": "get_time", "args": {"sim": true}}}));
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let mut marked = hello(tools.clone());
    marked["contents"][0]["parts"][0]["text"] = json!("Weather? [[sim:tool]]");
    let events = sse_events(&text_of(post_stream(&sim, &marked, "?alt=sse").await, 200).await);
    assert_eq!(events.len(), 1, "a function call comes whole");
    assert_eq!(events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"], "get_weather");
    assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");

    marked["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let v: Value = serde_json::from_str(&text_of(post(&sim, "generateContent", &marked, Some(KEY)).await, 200).await).unwrap();
    assert!(v["candidates"][0]["content"]["parts"][0]["text"].is_string());
}

#[tokio::test]
async fn keys_are_checked_the_google_way() {
    let sim = sim().await;
    let wrong = text_of(post(&sim, "generateContent", &hello(json!({})), Some("AIzaWrong")).await, 400).await;
    let v: Value = serde_json::from_str(&wrong).unwrap();
    assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(v["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let missing = text_of(post(&sim, "generateContent", &hello(json!({})), None).await, 403).await;
    assert!(missing.contains("PERMISSION_DENIED"), "{missing}");
    assert_eq!(sim.stats().unauthorized, 2);
    // Google also takes the key as a query parameter.
    let url = format!("{}/v1beta/models/{MODEL}:generateContent?key={KEY}", sim.gemini_base_url());
    let resp = reqwest::Client::new().post(url).json(&hello(json!({}))).send().await.unwrap();
    text_of(resp, 200).await;
}

#[tokio::test]
async fn faults_answer_with_google_bodies() {
    let sim = sim().await;
    sim.push_fault(Fault::Status { status: 429, retry_after: Some(7) });
    let resp = post(&sim, "generateContent", &hello(json!({})), Some(KEY)).await;
    assert!(resp.headers().get("retry-after").is_none(), "Google sends the wait in the body");
    let v: Value = serde_json::from_str(&text_of(resp, 429).await).unwrap();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    let details = v["error"]["details"].as_array().unwrap();
    assert_eq!(details.last().unwrap(), &json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}));

    sim.push_fault(Fault::Status { status: 503, retry_after: None });
    let body = text_of(post_stream(&sim, &hello(json!({})), "?alt=sse").await, 503).await;
    assert_eq!(body, "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n");

    // A cut stream never includes the finishing event.
    sim.push_fault(Fault::CutStreamAfter(50));
    let resp = post_stream(&sim, &hello(json!({})), "?alt=sse").await;
    assert_eq!(resp.status(), 200);
    let mut seen = Vec::new();
    let mut resp = resp;
    let ended_badly = loop {
        match resp.chunk().await {
            Ok(Some(c)) => seen.extend_from_slice(&c),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(ended_badly, "the connection is dropped");
    let text = String::from_utf8(seen).unwrap();
    assert!(!text.contains("finishReason"), "{text}");

    let v: Value = serde_json::from_str(&text_of(post(&sim, "generateContent", &hello(json!({"contents": [{"parts": [{"text": "[[sim:no_usage]] hi"}]}]})), Some(KEY)).await, 200).await).unwrap();
    assert!(v.get("usageMetadata").is_none());
}

#[tokio::test]
async fn requests_are_validated_like_google_does() {
    let sim = sim().await;
    let bad = hello(json!({"generationConfig": {"max_tokens": 5}}));
    let v: Value = serde_json::from_str(&text_of(post(&sim, "generateContent", &bad, Some(KEY)).await, 400).await).unwrap();
    assert_eq!(v["error"]["message"], "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field.");
    assert_eq!(v["error"]["details"][0]["fieldViolations"][0]["field"], "generation_config");
    let schema = hello(json!({"tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}}]}]}));
    let text = text_of(post(&sim, "generateContent", &schema, Some(KEY)).await, 400).await;
    assert!(text.contains("Unknown name \\\"additionalProperties\\\" at 'tools[0].function_declarations[0].parameters'"), "{text}");
    let text = text_of(post(&sim, "generateContent", &json!({"contents": []}), Some(KEY)).await, 400).await;
    assert!(text.contains("contents is not specified"), "{text}");
    let resp = reqwest::Client::new()
        .post(format!("{}/v1beta/models/missing-model:generateContent", sim.gemini_base_url()))
        .header("x-goog-api-key", KEY)
        .json(&hello(json!({})))
        .send()
        .await
        .unwrap();
    assert!(text_of(resp, 404).await.contains("models/missing-model is not found for API version v1beta"));
}

#[tokio::test]
async fn batch_embed_contents() {
    let sim = sim().await;
    let body = json!({"requests": [
        {"model": format!("models/{MODEL}"), "content": {"parts": [{"text": "hello world"}]}},
        {"model": format!("models/{MODEL}"), "content": {"parts": [{"text": "bye"}]}, "outputDimensionality": 4}
    ]});
    let v: Value = serde_json::from_str(&text_of(post(&sim, "batchEmbedContents", &body, Some(KEY)).await, 200).await).unwrap();
    let first: Vec<f32> = serde_json::from_value(v["embeddings"][0]["values"].clone()).unwrap();
    assert_eq!(first, text_embedding("hello world", 8));
    assert_eq!(v["embeddings"][1]["values"].as_array().unwrap().len(), 4);
    assert!(v.get("usage").is_none() && v.get("usageMetadata").is_none());
    assert_eq!((sim.stats().embedding_requests, sim.stats().total_embedding_tokens), (1, 3));

    let mismatch = json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]});
    text_of(post(&sim, "batchEmbedContents", &mismatch, Some(KEY)).await, 400).await;
}
