//! The original hub's older chat shape, still sent by older clients to
//! `POST /api/v2/chat/completions` (and `/api/v2/completions`).
//!
//! - Request: OpenAI's chat request with camelCase fields (`maxTokens`, `topP`, `toolCalls`,
//!   `toolCallId`, `imageUrl`, `toolChoice`, `responseFormat.jsonSchema`), and `prompt` as a
//!   shorthand for one user message (exactly one of `prompt` and `messages`). A missing model is
//!   `gpt-3.5-turbo`, as the original hub assumed.
//! - Reply: `{"role":"assistant","text":…,"content":…,"toolCalls"?:[…]}` (tool call arguments
//!   stay JSON text, as this shape always had them).
//! - Stream (`Accept: text/event-stream`): `data: {"delta":{"role"?,"content"?,"toolCalls"?}}`
//!   events, then `data: {"usage":{"promptTokens","completionTokens","totalTokens"}}`; an error is
//!   `data: {"error":{"message":…}}`. No `[DONE]`. With `"stream": true` but no event-stream
//!   `Accept`, the reply is the bare text as it is produced ([`text_fragment`]).
//! - Images (`POST /api/v2/image/generations`): `{model?, prompt, size?, n?, responseFormat?}`
//!   → `{"images":[…],"data":[…],"model":…}`, each image as `url` or as `base64`/`b64_json`/
//!   `b64Json` (older clients read any of the three).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::chat::{ChatChunk, ChatCompletion, ChatRequest, StreamOptions, Usage};
use crate::images::{ImageRequest, ImageResponse};
use crate::validate::InvalidRequest;

/// The model the original hub assumed when a request named none.
pub const DEFAULT_MODEL: &str = "gpt-3.5-turbo";

/// Members whose values are caller-defined JSON (schemas): their keys are never renamed.
const VERBATIM_MEMBERS: &[&str] = &["parameters", "schema"];

fn invalid(param: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest { param, message: message.into() }
}

/// Reads a legacy request body. `event_stream` is true when the client accepts
/// `text/event-stream`: such a client is answered with events whatever `stream` says.
pub fn to_chat_request(body: &[u8], event_stream: bool) -> Result<ChatRequest, InvalidRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|e| invalid("messages", format!("invalid JSON body: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(invalid("messages", "the body must be a JSON object"));
    };
    let mut fields = snake_case_members(fields);
    let prompt = fields.remove("prompt");
    match (&prompt, fields.get("messages")) {
        (Some(Value::String(p)), None) => {
            fields.insert("messages".to_owned(), serde_json::json!([{"role": "user", "content": p}]));
        }
        (Some(_), None) => return Err(invalid("prompt", "'prompt' must be a string")),
        (Some(_), Some(_)) => return Err(invalid("prompt", "send either 'prompt' or 'messages', not both")),
        (None, None) => return Err(invalid("messages", "'messages' (or 'prompt') is required")),
        (None, Some(_)) => {}
    }
    let named = fields.get("model").and_then(Value::as_str).is_some_and(|m| !m.trim().is_empty());
    if !named {
        fields.insert("model".to_owned(), Value::String(DEFAULT_MODEL.to_owned()));
    }
    let stream = event_stream || fields.get("stream").and_then(Value::as_bool).unwrap_or(false);
    fields.insert("stream".to_owned(), Value::Bool(stream));
    let mut req: ChatRequest = serde_json::from_value(Value::Object(fields)).map_err(|e| {
        let text = e.to_string();
        let param = ["messages", "tools", "tool_choice", "response_format"].into_iter().find(|p| text.contains(p)).unwrap_or("messages");
        invalid(param, format!("invalid request: {text}"))
    })?;
    if stream {
        // The usage event at the end needs the upstream's usage.
        req.stream_options = Some(StreamOptions { include_usage: Some(true), extra: Default::default() });
    }
    Ok(req)
}

/// Renames camelCase members to snake_case at every level, except inside caller-defined
/// schemas (a tool's `parameters`, a JSON schema's `schema`).
fn snake_case_members(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(k, v)| {
            let verbatim = VERBATIM_MEMBERS.contains(&k.as_str());
            let key = snake_case(&k);
            let value = if verbatim { v } else { snake_case_value(v) };
            (key, value)
        })
        .collect()
}

fn snake_case_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(snake_case_members(m)),
        Value::Array(items) => Value::Array(items.into_iter().map(snake_case_value).collect()),
        other => other,
    }
}

fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: LegacyFunction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyFunction {
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyReply {
    pub role: &'static str,
    pub text: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<LegacyToolCall>>,
}

/// The first choice of a completion as the legacy reply object.
pub fn to_reply(c: ChatCompletion) -> LegacyReply {
    let (text, calls) = match c.choices.into_iter().next() {
        Some(choice) => (choice.message.content.unwrap_or_default(), choice.message.tool_calls.unwrap_or_default()),
        None => (String::new(), Vec::new()),
    };
    let tool_calls: Vec<LegacyToolCall> = calls
        .into_iter()
        .map(|t| LegacyToolCall { id: t.id, kind: "function", function: LegacyFunction { name: t.function.name, arguments: t.function.arguments } })
        .collect();
    LegacyReply { role: "assistant", content: text.clone(), text, tool_calls: (!tool_calls.is_empty()).then_some(tool_calls) }
}

#[derive(Serialize)]
struct DeltaEvent<'a> {
    delta: Delta<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallFragment<'a>>,
}

#[derive(Serialize)]
struct ToolCallFragment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    function: FunctionFragment<'a>,
}

#[derive(Serialize)]
struct FunctionFragment<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

#[derive(Serialize)]
struct UsageEvent {
    usage: LegacyUsage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
}

/// The events (JSON bytes, one per `data:` line) for one canonical chunk: its delta, then its
/// usage when it carries one.
pub fn chunk_events(chunk: &ChatChunk) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) {
        let d = &choice.delta;
        let tool_calls: Vec<ToolCallFragment<'_>> = d
            .tool_calls
            .iter()
            .flatten()
            .map(|t| ToolCallFragment {
                id: t.id.as_deref(),
                kind: t.kind.as_deref(),
                function: FunctionFragment {
                    name: t.function.as_ref().and_then(|f| f.name.as_deref()),
                    arguments: t.function.as_ref().and_then(|f| f.arguments.as_deref()),
                },
            })
            .collect();
        let content = d.content.as_deref().filter(|c| !c.is_empty());
        let role = d.role.as_ref().map(|_| "assistant");
        if role.is_some() || content.is_some() || !tool_calls.is_empty() {
            if let Ok(json) = serde_json::to_vec(&DeltaEvent { delta: Delta { role, content, tool_calls } }) {
                out.push(json);
            }
        }
    }
    if let Some(u) = &chunk.usage {
        out.push(usage_event(u));
    }
    out
}

fn usage_event(u: &Usage) -> Vec<u8> {
    let total = if u.total_tokens > 0 { u.total_tokens } else { u.prompt_tokens.saturating_add(u.completion_tokens) };
    let usage = LegacyUsage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: total };
    serde_json::to_vec(&UsageEvent { usage }).unwrap_or_default()
}

/// The text a bare-text stream sends for one chunk (`"stream": true` without an event-stream
/// `Accept`).
pub fn text_fragment(chunk: &ChatChunk) -> Option<&str> {
    chunk.choices.iter().find(|c| c.index == 0)?.delta.content.as_deref().filter(|c| !c.is_empty())
}

/// The in-band error event of a legacy stream.
pub fn error_event(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"error": {"message": message}})).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Images: `POST /api/v2/image/generations`

/// The model the original hub assumed for an image request that named none.
pub const DEFAULT_IMAGE_MODEL: &str = "dall-e-2";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageBody {
    #[serde(default)]
    model: Option<String>,
    prompt: String,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    quality: Option<String>,
    #[serde(default)]
    style: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default, rename = "response_format")]
    response_format_snake: Option<String>,
    #[serde(default)]
    image: Option<Value>,
}

/// Reads a legacy image request: `{model?, prompt, size?, n?, quality?, style?,
/// responseFormat|response_format?}`. Image edits (`image`) are not offered.
pub fn to_image_request(body: &[u8]) -> Result<ImageRequest, InvalidRequest> {
    let b: ImageBody = serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let param = ["prompt", "n", "size", "model"].into_iter().find(|p| text.contains(&format!("`{p}`"))).unwrap_or("prompt");
        invalid(param, format!("invalid request: {text}"))
    })?;
    if b.image.as_ref().is_some_and(|i| !i.is_null()) {
        return Err(invalid("image", "editing images ('image') is not supported by this hub; send a prompt only"));
    }
    let model = b.model.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| DEFAULT_IMAGE_MODEL.to_owned());
    Ok(ImageRequest {
        model,
        prompt: b.prompt,
        n: b.n,
        size: b.size,
        quality: b.quality,
        response_format: b.response_format.or(b.response_format_snake),
        style: b.style,
        user: None,
        extra: Map::new(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyImage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    #[serde(rename = "b64_json", skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    #[serde(rename = "b64Json", skip_serializing_if = "Option::is_none")]
    pub b64_json_camel: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LegacyImageReply {
    pub images: Vec<LegacyImage>,
    /// The same list, under the name OpenAI-minded clients read.
    pub data: Vec<LegacyImage>,
    pub model: String,
}

/// The legacy image reply: each image under every name older clients read it by.
pub fn to_image_reply(r: ImageResponse, model: &str) -> LegacyImageReply {
    let images: Vec<LegacyImage> = r
        .data
        .into_iter()
        .map(|d| LegacyImage { url: d.url, base64: d.b64_json.clone(), b64_json_camel: d.b64_json.clone(), b64_json: d.b64_json })
        .collect();
    LegacyImageReply { data: images.clone(), images, model: model.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn camel_case_requests_read_as_openai_ones() {
        let body = br#"{"model":"openai/gpt-4o-mini","maxTokens":50,"topP":0.5,"frequencyPenalty":0.1,
            "messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","imageUrl":{"url":"https://example.com/a.png"}}]},
                        {"role":"assistant","content":"","toolCalls":[{"id":"c1","type":"function","function":{"name":"look","arguments":"{\"q\":1}"}}]},
                        {"role":"tool","content":"seen","toolCallId":"c1"}],
            "tools":[{"type":"function","function":{"name":"look","parameters":{"type":"object","properties":{"camelCaseArg":{"type":"string"}},"required":["camelCaseArg"]}}}],
            "toolChoice":"auto",
            "responseFormat":{"type":"json_schema","jsonSchema":{"name":"out","schema":{"type":"object","properties":{"someField":{"type":"string"}}}}}}"#;
        let req = to_chat_request(body, false).unwrap();
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["max_tokens"], 50);
        assert_eq!(v["top_p"], 0.5);
        assert_eq!(v["messages"][0]["content"][1]["image_url"]["url"], "https://example.com/a.png");
        assert_eq!(v["messages"][1]["tool_calls"][0]["function"]["arguments"], "{\"q\":1}");
        assert_eq!(v["messages"][2]["tool_call_id"], "c1");
        assert_eq!(v["tool_choice"], "auto");
        // Caller-defined schemas keep their own property names.
        assert!(v["tools"][0]["function"]["parameters"]["properties"]["camelCaseArg"].is_object(), "{v}");
        assert_eq!(v["tools"][0]["function"]["parameters"]["required"][0], "camelCaseArg");
        assert!(v["response_format"]["json_schema"]["schema"]["properties"]["someField"].is_object(), "{v}");
        assert_eq!(req.stream, Some(false));
    }

    #[test]
    fn prompt_is_one_user_message_and_the_model_has_a_default() {
        let req = to_chat_request(br#"{"prompt":"Hello!","stream":true}"#, false).unwrap();
        assert_eq!(req.model, DEFAULT_MODEL);
        assert_eq!(serde_json::to_value(&req.messages).unwrap(), serde_json::json!([{"role":"user","content":"Hello!"}]));
        assert_eq!(req.stream, Some(true));
        // An event-stream client streams whatever the body says.
        assert_eq!(to_chat_request(br#"{"prompt":"x"}"#, true).unwrap().stream, Some(true));
        assert_eq!(to_chat_request(br#"{"prompt":"x","stream":false}"#, true).unwrap().stream, Some(true));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert_eq!(to_chat_request(b"[]", false).unwrap_err().param, "messages");
        assert_eq!(to_chat_request(br#"{"model":"x"}"#, false).unwrap_err().param, "messages");
        assert_eq!(to_chat_request(br#"{"prompt":"a","messages":[]}"#, false).unwrap_err().param, "prompt");
        assert_eq!(to_chat_request(br#"{"prompt":3}"#, false).unwrap_err().param, "prompt");
        assert!(to_chat_request(br#"{"messages":"nope"}"#, false).is_err());
    }

    #[test]
    fn replies_and_events_have_the_legacy_shape() {
        let c: ChatCompletion = serde_json::from_value(serde_json::json!({
            "id":"x","object":"chat.completion","created":1,"model":"gpt-4o-mini",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}
        }))
        .unwrap();
        let reply = serde_json::to_value(to_reply(c)).unwrap();
        assert_eq!(
            reply,
            serde_json::json!({"role":"assistant","text":"Hi","content":"Hi","toolCalls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]})
        );
        let chunk: ChatChunk = serde_json::from_value(serde_json::json!({
            "id":"x","object":"chat.completion.chunk","created":1,"model":"m",
            "choices":[{"index":0,"delta":{"role":"assistant","content":"He"},"finish_reason":null}],
            "usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}
        }))
        .unwrap();
        let events: Vec<Value> = chunk_events(&chunk).iter().map(|e| serde_json::from_slice(e).unwrap()).collect();
        assert_eq!(
            events,
            vec![
                serde_json::json!({"delta":{"role":"assistant","content":"He"}}),
                serde_json::json!({"usage":{"promptTokens":3,"completionTokens":2,"totalTokens":5}})
            ]
        );
        assert_eq!(text_fragment(&chunk), Some("He"));
        assert_eq!(serde_json::from_slice::<Value>(&error_event("boom")).unwrap(), serde_json::json!({"error":{"message":"boom"}}));
    }

    #[test]
    fn legacy_image_requests_and_replies() {
        let req = to_image_request(br#"{"prompt":"a cat","n":2,"responseFormat":"b64_json","size":"1024x1024"}"#).unwrap();
        assert_eq!((req.model.as_str(), req.n, req.response_format.as_deref()), (DEFAULT_IMAGE_MODEL, Some(2), Some("b64_json")));
        let req = to_image_request(br#"{"model":"openai/gpt-image-1","prompt":"a cat","response_format":"url"}"#).unwrap();
        assert_eq!((req.model.as_str(), req.response_format.as_deref()), ("openai/gpt-image-1", Some("url")));
        assert_eq!(to_image_request(br#"{"model":"x"}"#).unwrap_err().param, "prompt");
        assert_eq!(to_image_request(br#"{"prompt":"x","image":"https://e/a.png"}"#).unwrap_err().param, "image");
        let r: ImageResponse = serde_json::from_value(serde_json::json!({"created":1,"data":[{"b64_json":"QUJD"},{"url":"https://hub/files/x"}]})).unwrap();
        let v = serde_json::to_value(to_image_reply(r, "dall-e-3")).unwrap();
        assert_eq!(v["images"][0], serde_json::json!({"base64":"QUJD","b64_json":"QUJD","b64Json":"QUJD"}));
        assert_eq!(v["data"][1], serde_json::json!({"url":"https://hub/files/x"}));
        assert_eq!(v["model"], "dall-e-3");
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = to_chat_request(&body, false);
            let _ = to_image_request(&body);
        }

        #[test]
        fn snake_case_is_idempotent(key in "[a-z][a-zA-Z0-9]{0,20}") {
            let once = snake_case(&key);
            prop_assert_eq!(snake_case(&once), once.clone());
            prop_assert!(!once.chars().any(|c| c.is_ascii_uppercase()));
        }
    }
}
