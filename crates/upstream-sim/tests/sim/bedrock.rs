#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's Amazon Bedrock Runtime endpoints over real HTTP.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use upstream_sim::bedrock::sigv4;
use upstream_sim::{reply_text, Fault, Sim, SimConfig};

/// `anthropic.claude-3-5-sonnet-20240620-v1:0` as one encoded path segment.
const MODEL_PATH: &str = "anthropic.claude-3-5-sonnet-20240620-v1%3A0";
const AKID: &str = "AKIDSIMULATOR0000001";
const SECRET: &str = "sim/secret+key0000000000000000000000000";

fn root(sim: &Sim) -> String {
    format!("http://{}", sim.addr())
}

fn hello() -> Value {
    json!({"messages":[{"role":"user","content":[{"text":"Hello!"}]}]})
}

async fn post(sim: &Sim, action: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/model/{MODEL_PATH}/{action}", root(sim)))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// Signs like an AWS SDK, with the simulator's own SigV4 functions.
async fn post_signed(sim: &Sim, action: &str, body: &Value, secret: &str) -> reqwest::Response {
    let body = body.to_string();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let amz_date = sigv4::format_amz_date(now);
    let host = sim.addr().to_string();
    let path = format!("/model/{MODEL_PATH}/{action}");
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    headers.insert("host", http::HeaderValue::from_str(&host).unwrap());
    headers.insert("x-amz-date", http::HeaderValue::from_str(&amz_date).unwrap());
    let names = ["content-type", "host", "x-amz-date"];
    let received =
        sigv4::Received { method: "POST", raw_path: &path, raw_query: None, headers: &headers, authority: None, body: body.as_bytes() };
    let canonical = sigv4::canonical_request(&received, &names);
    let sig = sigv4::signature(secret, &amz_date, &amz_date[..8], "us-east-1", "bedrock", &canonical);
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/{}/us-east-1/bedrock/aws4_request, SignedHeaders={}, Signature={sig}",
        &amz_date[..8],
        names.join(";")
    );
    reqwest::Client::new()
        .post(format!("{}{path}", root(sim)))
        .header("content-type", "application/json")
        .header("x-amz-date", amz_date)
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Decodes an event stream body, checking both CRCs of every frame.
fn frames(mut bytes: &[u8]) -> Vec<(Vec<(String, String)>, Value)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let total = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let headers_len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        assert_eq!(crc32fast::hash(&bytes[..8]), u32::from_be_bytes(bytes[8..12].try_into().unwrap()), "prelude CRC");
        let msg = &bytes[..total];
        assert_eq!(crc32fast::hash(&msg[..total - 4]), u32::from_be_bytes(msg[total - 4..].try_into().unwrap()), "message CRC");
        let mut h = &msg[12..12 + headers_len];
        let mut headers = Vec::new();
        while !h.is_empty() {
            let n = h[0] as usize;
            let name = String::from_utf8(h[1..1 + n].to_vec()).unwrap();
            assert_eq!(h[1 + n], 7, "string header");
            let len = u16::from_be_bytes(h[2 + n..4 + n].try_into().unwrap()) as usize;
            let value = String::from_utf8(h[4 + n..4 + n + len].to_vec()).unwrap();
            headers.push((name, value));
            h = &h[4 + n + len..];
        }
        let payload: Value = serde_json::from_slice(&msg[12 + headers_len..total - 4]).unwrap();
        out.push((headers, payload));
        bytes = &bytes[total..];
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

#[tokio::test]
async fn converse_replies_with_exact_usage() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let resp = post(&sim, "converse", &hello()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.headers()["x-amzn-requestid"].len(), 36);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["output"]["message"]["role"], "assistant");
    assert_eq!(v["output"]["message"]["content"][0]["text"], reply_text(12));
    assert_eq!(v["stopReason"], "end_turn");
    assert_eq!(v["usage"], json!({"inputTokens":7,"outputTokens":12,"totalTokens":19}));
    assert!(v["metrics"]["latencyMs"].is_u64());
    assert_eq!(sim.stats().chat_requests, 1);
    assert_eq!(sim.stats().last_chat_body, Some(hello()));
}

#[tokio::test]
async fn system_blocks_count_as_one_message_and_max_tokens_sets_the_length() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let body = json!({"system":[{"text":"Be brief."}],"messages":[{"role":"user","content":[{"text":"Hello!"}]}],"inferenceConfig":{"maxTokens":3}});
    let v: Value = post(&sim, "converse", &body).await.json().await.unwrap();
    assert_eq!(v["output"]["message"]["content"][0]["text"], "Hello from the");
    assert_eq!(v["usage"]["inputTokens"], 3 + 2 + 3 + 1 + 3);
}

#[tokio::test]
async fn converse_stream_frames_events_with_valid_checksums() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let resp = post(&sim, "converse-stream", &hello()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/vnd.amazon.eventstream");
    let body = resp.bytes().await.unwrap();
    let events = frames(&body);
    let types: Vec<&str> = events.iter().map(|(h, _)| header(h, ":event-type")).collect();
    let mut expected = vec!["messageStart"];
    expected.extend(std::iter::repeat_n("contentBlockDelta", 12));
    expected.extend(["contentBlockStop", "messageStop", "metadata"]);
    assert_eq!(types, expected);
    assert!(events.iter().all(|(h, p)| header(h, ":message-type") == "event"
        && header(h, ":content-type") == "application/json"
        && p["p"].is_string()));
    let text: String = events.iter().filter_map(|(_, p)| p["delta"]["text"].as_str()).collect();
    assert_eq!(text, reply_text(12));
    assert_eq!(events[14].1["stopReason"], "end_turn");
    assert_eq!(events[15].1["usage"], json!({"inputTokens":7,"outputTokens":12,"totalTokens":19}));
    assert_eq!(sim.stats().stream_requests, 1);
}

#[tokio::test]
async fn tool_choice_any_calls_the_first_tool() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let mut body = hello();
    body["toolConfig"] = json!({"tools":[{"toolSpec":{"name":"top_song","inputSchema":{"json":{"type":"object"}}}}],"toolChoice":{"any":{}}});
    let v: Value = post(&sim, "converse", &body).await.json().await.unwrap();
    let call = &v["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(call["name"], "top_song");
    assert_eq!(call["input"], json!({"sim":true}));
    assert!(call["toolUseId"].as_str().unwrap().starts_with("tooluse_"));
    assert_eq!(v["stopReason"], "tool_use");

    let events = frames(&post(&sim, "converse-stream", &body).await.bytes().await.unwrap());
    assert_eq!(header(&events[1].0, ":event-type"), "contentBlockStart");
    assert_eq!(events[1].1["start"]["toolUse"]["name"], "top_song");
    let input: String = events.iter().filter_map(|(_, p)| p["delta"]["toolUse"]["input"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({"sim":true}));
}

#[tokio::test]
async fn conversations_are_validated_as_bedrock_does() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let cases = [
        (json!({"messages":[{"role":"assistant","content":[{"text":"hi"}]}]}), "A conversation must start with a user message"),
        (
            json!({"messages":[{"role":"user","content":[{"text":"a"}]},{"role":"user","content":[{"text":"b"}]}]}),
            "A conversation must alternate between user and assistant roles",
        ),
        (json!({"messages":[{"role":"user","content":[{"text":" \n"}]}]}), "messages.0.content.0 is blank"),
        (
            json!({"messages":[{"role":"user","content":[{"toolResult":{"toolUseId":"t","content":[{"text":"1"}]}}]}]}),
            "The toolConfig field must be defined",
        ),
        (
            json!({"messages":[{"role":"user","content":[{"image":{"format":"bmp","source":{"bytes":"AAAA"}}}]}]}),
            "Member must satisfy enum value set: [png, jpeg, gif, webp]",
        ),
    ];
    for (body, message) in cases {
        let resp = post(&sim, "converse", &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        assert!(resp.headers()["x-amzn-errortype"].to_str().unwrap().starts_with("ValidationException:"));
        let v: Value = resp.json().await.unwrap();
        assert!(v["message"].as_str().unwrap().contains(message), "{v}");
    }
}

#[tokio::test]
async fn status_faults_become_bedrock_errors() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.push_fault(Fault::Status { status: 429, retry_after: Some(3) });
    let resp = post(&sim, "converse", &hello()).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-amzn-errortype"], "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/");
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"message":"Too many requests, please wait before trying again."}));

    let mut marked = hello();
    marked["messages"][0]["content"][0]["text"] = json!("Hello [[sim:status=503]]");
    let resp = post(&sim, "converse-stream", &marked).await;
    assert_eq!(resp.status(), 503);
    assert!(resp.headers()["x-amzn-errortype"].to_str().unwrap().starts_with("ServiceUnavailableException:"));
}

#[tokio::test]
async fn a_cut_stream_ends_without_message_stop() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.push_fault(Fault::CutStreamAfter(2));
    let resp = post(&sim, "converse-stream", &hello()).await;
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let mut resp = resp;
    let ended_cleanly = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break true,
            Err(_) => break false,
        }
    };
    assert!(!ended_cleanly);
    let events = frames(&got);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|(h, _)| header(h, ":event-type") != "messageStop"));
}

#[tokio::test]
async fn signatures_are_verified_when_credentials_are_configured() {
    let sim = Sim::start(SimConfig { aws_credentials: Some((AKID.to_owned(), SECRET.to_owned())), ..SimConfig::default() }).await.unwrap();
    let resp = post_signed(&sim, "converse", &hello(), SECRET).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let resp = post_signed(&sim, "converse-stream", &hello(), SECRET).await;
    assert_eq!(resp.status(), 200);

    let resp = post_signed(&sim, "converse", &hello(), "wrong-secret").await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["x-amzn-errortype"].to_str().unwrap().starts_with("InvalidSignatureException:"));
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().starts_with("The request signature we calculated does not match"));

    let resp = post(&sim, "converse", &hello()).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers()["x-amzn-errortype"].to_str().unwrap().starts_with("MissingAuthenticationTokenException:"));
    assert_eq!(sim.stats().unauthorized, 2);
}

#[tokio::test]
async fn titan_and_cohere_embeddings_are_served() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/model/amazon.titan-embed-text-v2%3A0/invoke", root(&sim)))
        .json(&json!({"inputText":"three little words","dimensions":16}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-amzn-bedrock-input-token-count"], "3");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["embedding"].as_array().unwrap().len(), 16);
    assert_eq!(v["inputTextTokenCount"], 3);
    assert_eq!(v["embedding"], v["embeddingsByType"]["float"]);

    let resp = client
        .post(format!("{}/model/cohere.embed-english-v3/invoke", root(&sim)))
        .json(&json!({"texts":["a b","c"],"input_type":"search_document"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-amzn-bedrock-input-token-count"], "3");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(v["response_type"], "embeddings_floats");
    assert_eq!(sim.stats().embedding_requests, 2);
    assert_eq!(sim.stats().total_embedding_tokens, 6);
}
