use proptest::prelude::*;
use serde_json::{json, Value};

use super::chat::{self, ChatInput, StreamTranslator};
use super::media::{self, EmbeddingsInput, ImageInput};
use super::Envelope;
use crate::chat::{ChatChunk, ChatCompletion, Content, ContentPart, ResponseFormat, Role};

const CHAT_REQUEST: &str = include_str!("../../fixtures/aigne/chat_request.json");
const TOOL_CALL_COMPLETION: &str = include_str!("../../fixtures/aigne/chat_completion_tool_call.json");
const TOOL_CALL_STREAM: &str = include_str!("../../fixtures/aigne/chat_stream_tool_call.jsonl");

fn envelope(body: &str) -> Envelope<ChatInput> {
    serde_json::from_str(body).unwrap()
}

fn input(v: Value) -> ChatInput {
    serde_json::from_value(v).unwrap()
}

#[test]
fn the_sdk_request_becomes_the_canonical_request() {
    let env = envelope(CHAT_REQUEST);
    assert!(env.streaming());
    let req = chat::to_chat_request(env.input, true).unwrap();
    assert_eq!(req.model, "aignehub/openai/gpt-4o-mini", "model-name parsing drops the prefix, as for every route");
    assert!(req.is_stream());
    assert_eq!(req.stream_options.as_ref().and_then(|o| o.include_usage), Some(true));
    assert_eq!((req.temperature, req.top_p), (Some(0.2), Some(0.9)));
    assert_eq!(req.extra["frequency_penalty"], json!(0.1));
    assert_eq!(req.extra["presence_penalty"], json!(0.3));
    assert_eq!(req.extra["parallel_tool_calls"], json!(true));
    assert!(!req.extra.contains_key("cacheConfig"));

    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::Tool, Role::User]);
    match &req.messages[1].content {
        Some(Content::Parts(p)) => {
            assert!(matches!(&p[0], ContentPart::Text { text } if text == "Weather in Paris?"));
            assert!(matches!(&p[1], ContentPart::ImageUrl { image_url } if image_url.url == "https://example.test/cloud.png"));
        }
        other => panic!("{other:?}"),
    }
    let calls = req.messages[2].tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].kind, "function");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"city": "Paris", "days": 2}), "object arguments travel as JSON text");
    assert_eq!(req.messages[3].tool_call_id.as_deref(), Some("call_1"));
    match &req.messages[4].content {
        Some(Content::Parts(p)) => match &p[0] {
            ContentPart::File { file } => {
                assert_eq!(file["file_data"], "data:application/pdf;base64,JVBERi0xLjQK");
                assert_eq!(file["filename"], "report.pdf");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }

    let tools = req.tools.as_ref().unwrap();
    assert_eq!(tools[0].function.name, "get_weather");
    assert_eq!(tools[0].function.parameters.as_ref().unwrap()["required"], json!(["city"]));
    assert_eq!(req.tool_choice, Some(json!({"type": "function", "function": {"name": "get_weather"}})));
    match &req.response_format {
        Some(ResponseFormat::JsonSchema { json_schema }) => assert_eq!(json_schema, &json!({"name": "weather", "schema": {"type": "object"}, "strict": true})),
        other => panic!("{other:?}"),
    }
    assert!(chat::wants_json(&req));

    // What an OpenAI-protocol upstream receives.
    let wire = serde_json::to_value(&req).unwrap();
    assert_eq!(wire["messages"][2]["role"], "assistant");
    assert_eq!(wire["messages"][2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert!(wire["messages"][2]["tool_calls"][0]["function"]["arguments"].is_string());
    assert_eq!(wire["messages"][3]["tool_call_id"], "call_1");
    assert_eq!(wire["response_format"]["type"], "json_schema");
}

#[test]
fn options_without_tools_and_plain_requests() {
    let req = chat::to_chat_request(
        input(json!({"messages": [{"role": "user", "content": "hi"}], "modelOptions": {"model": "gpt-4o", "parallelToolCalls": true, "reasoningEffort": "low"}, "toolChoice": "auto"})),
        false,
    )
    .unwrap();
    assert!(!req.extra.contains_key("parallel_tool_calls"), "OpenAI refuses it without tools");
    assert_eq!(req.tool_choice, None, "no tools, no tool choice");
    assert_eq!(req.extra["reasoning_effort"], "low");
    assert!(!req.is_stream());
    assert!(req.stream_options.is_none());
    assert!(!chat::wants_json(&req));
    assert!(matches!(&req.messages[0].content, Some(Content::Text(t)) if t == "hi"));
    // A model at the top level is taken too; a text format is no format.
    let req = chat::to_chat_request(input(json!({"messages": [], "model": "gpt-4o", "responseFormat": {"type": "text"}})), false).unwrap();
    assert_eq!(req.model, "gpt-4o");
    assert!(req.response_format.is_none());
}

#[test]
fn bad_inputs_name_the_parameter() {
    let param = |v: Value| chat::to_chat_request(input(v), false).map(|_| ()).unwrap_err().param;
    assert_eq!(param(json!({"messages": [{"role": "user", "content": "hi"}]})), "input.modelOptions.model");
    assert_eq!(param(json!({"messages": [], "modelOptions": {"model": "  "}})), "input.modelOptions.model");
    assert_eq!(param(json!({"messages": [{"role": "tool", "content": "x"}], "modelOptions": {"model": "m"}})), "input.messages");
    assert_eq!(
        param(json!({"messages": [{"role": "user", "content": [{"type": "local", "path": "/etc/passwd"}]}], "modelOptions": {"model": "m"}})),
        "input.messages"
    );
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    assert_eq!(param(json!({"messages": [], "modelOptions": {"model": "m"}, "tools": tools, "toolChoice": "sometimes"})), "input.toolChoice");
    assert_eq!(param(json!({"messages": [], "modelOptions": {"model": "m"}, "tools": tools, "toolChoice": {"type": "function"}})), "input.toolChoice");
    // Shapes serde refuses: an unknown role, a content that is neither text nor parts.
    assert!(serde_json::from_value::<ChatInput>(json!({"messages": [{"role": "assistant", "content": "x"}]})).is_err());
    assert!(serde_json::from_value::<ChatInput>(json!({"messages": [{"role": "user", "content": 3}]})).is_err());
}

#[test]
fn a_tool_call_reply_has_object_arguments_and_aigne_usage() {
    let c: ChatCompletion = serde_json::from_str(TOOL_CALL_COMPLETION).unwrap();
    let reply = chat::to_reply(c, false, "openai/gpt-4o-mini").unwrap();
    let v = serde_json::to_value(&reply).unwrap();
    assert_eq!(
        v,
        json!({
            "text": "",
            "toolCalls": [{"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "nested": {"a": [1, 2]}}}}],
            "model": "gpt-4o-mini",
            "usage": {"inputTokens": 31, "outputTokens": 9, "cacheReadInputTokens": 4}
        })
    );
}

#[test]
fn text_replies_json_mode_and_bad_arguments() {
    let completion = |content: &str, args: Option<&str>| -> ChatCompletion {
        let mut message = json!({"role": "assistant", "content": content});
        if let Some(a) = args {
            message["tool_calls"] = json!([{"id": "c", "type": "function", "function": {"name": "f", "arguments": a}}]);
        }
        serde_json::from_value(json!({"id": "x", "model": "", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})).unwrap()
    };
    let plain = chat::to_reply(completion("Hello", None), false, "m").unwrap();
    assert_eq!(serde_json::to_value(&plain).unwrap(), json!({"text": "Hello", "model": "m"}), "no usage reported, none invented");
    let json_mode = chat::to_reply(completion("{\"a\":1}", None), true, "m").unwrap();
    assert_eq!(json_mode.json, Some(json!({"a": 1})));
    assert_eq!(json_mode.text, "{\"a\":1}");
    assert_eq!(chat::to_reply(completion("not json", None), true, "m").unwrap().json, None);
    assert_eq!(chat::to_reply(completion("", Some("")), false, "m").unwrap().tool_calls[0].function.arguments, json!({}));
    assert!(chat::to_reply(completion("", Some("[1,2]")), false, "m").is_err());
    assert!(chat::to_reply(completion("", Some("{\"a\":")), false, "m").is_err());
}

fn stream_events(chunks: &str, json_mode: bool) -> (Vec<Value>, Value) {
    let mut t = StreamTranslator::new(json_mode, "requested-model");
    let mut events = Vec::new();
    for line in chunks.lines().filter(|l| !l.trim().is_empty()) {
        let chunk: ChatChunk = serde_json::from_str(line).unwrap();
        if let Some(e) = t.push(&chunk) {
            events.push(serde_json::from_slice(&e).unwrap());
        }
    }
    let last = serde_json::from_slice(&t.finish().unwrap()).unwrap();
    (events, last)
}

#[test]
fn a_streamed_tool_call_is_assembled_into_the_final_event() {
    let (events, last) = stream_events(TOOL_CALL_STREAM, false);
    assert_eq!(events, [json!({"delta": {"text": {"text": "Let me check."}}})], "empty text deltas are not sent");
    assert_eq!(
        last,
        json!({"delta": {"json": {
            "model": "gpt-4o-mini",
            "usage": {"inputTokens": 12, "outputTokens": 5},
            "toolCalls": [{"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
        }}})
    );
}

#[test]
fn json_mode_streams_text_and_ends_with_the_parsed_object() {
    let chunks = [r#"{"id":"c","choices":[{"index":0,"delta":{"content":"{\"a\":"}}]}"#, r#"{"id":"c","choices":[{"index":0,"delta":{"content":"[true]}"}}]}"#].join("\n");
    let (events, last) = stream_events(&chunks, true);
    assert_eq!(events.len(), 2);
    assert_eq!(last, json!({"delta": {"json": {"model": "requested-model", "json": {"a": [true]}}}}));
}

#[test]
fn images_map_both_ways() {
    let env: Envelope<ImageInput> = serde_json::from_value(json!({
        "input": {"prompt": "a cat", "n": 2, "modelOptions": {"model": "openai/gpt-image-1", "size": "1024x1024", "quality": "low"}, "outputFileType": "url"},
        "agent": "$IMAGE_MODEL", "options": {"streaming": false}
    }))
    .unwrap();
    let req = media::to_image_request(env.input).unwrap();
    assert_eq!((req.model.as_str(), req.prompt.as_str(), req.n), ("openai/gpt-image-1", "a cat", Some(2)));
    assert_eq!((req.size.as_deref(), req.quality.as_deref(), req.response_format.as_deref()), (Some("1024x1024"), Some("low"), None));
    let file: ImageInput = serde_json::from_value(json!({"prompt": "x", "model": "dall-e-3", "outputFileType": "file", "size": "512x512"})).unwrap();
    let req = media::to_image_request(file).unwrap();
    assert_eq!((req.response_format.as_deref(), req.size.as_deref()), (Some("b64_json"), Some("512x512")));
    let param = |v: Value| media::to_image_request(serde_json::from_value(v).unwrap()).unwrap_err().param;
    assert_eq!(param(json!({"prompt": "x"})), "input.modelOptions.model");
    assert_eq!(param(json!({"prompt": "x", "model": "m", "outputFileType": "local"})), "input.outputFileType");
    assert_eq!(param(json!({"prompt": "x", "model": "m", "image": [{"type": "url", "url": "u"}]})), "input.image");
    assert_eq!(param(json!({"prompt": "x", "modelOptions": {"model": "m", "n": -1}})), "input.n");

    let png = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAI";
    let resp = serde_json::from_value(json!({"created": 1, "data": [{"url": "https://h/files/1"}, {"b64_json": png}, {"b64_json": "/9j/4AAQSkZJRg=="}], "usage": {"input_tokens": 3, "output_tokens": 272, "total_tokens": 275}})).unwrap();
    let reply = serde_json::to_value(media::to_image_reply(resp, "gpt-image-1")).unwrap();
    assert_eq!(
        reply,
        json!({
            "images": [{"type": "url", "url": "https://h/files/1"}, {"type": "file", "data": png, "mimeType": "image/png"}, {"type": "file", "data": "/9j/4AAQSkZJRg==", "mimeType": "image/jpeg"}],
            "usage": {"inputTokens": 3, "outputTokens": 272},
            "model": "gpt-image-1"
        })
    );
    assert_eq!(media::sniff_image_type("UklGRhYAAABXRUJQVlA4"), "image/webp");
    assert_eq!(media::sniff_image_type("R0lGODlhAQAB"), "image/gif");
    assert_eq!(media::sniff_image_type("not base64 at all!"), "image/png");
}

#[test]
fn embeddings_map_both_ways() {
    let env: Envelope<EmbeddingsInput> = serde_json::from_value(json!({"input": {"input": ["a", "b"], "modelOptions": {"model": "openai/text-embedding-3-small", "dimensions": 4}}})).unwrap();
    let req = media::to_embeddings_request(env.input).unwrap();
    assert_eq!((req.model.as_str(), req.input.len(), req.dimensions), ("openai/text-embedding-3-small", 2, Some(4)));
    let missing: EmbeddingsInput = serde_json::from_value(json!({"input": "a"})).unwrap();
    assert_eq!(media::to_embeddings_request(missing).unwrap_err().param, "input.modelOptions.model");
    let resp = serde_json::from_value(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}], "model": "text-embedding-3-small", "usage": {"prompt_tokens": 2, "total_tokens": 2}})).unwrap();
    assert_eq!(
        serde_json::to_value(media::to_embeddings_reply(resp)).unwrap(),
        json!({"data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}], "model": "text-embedding-3-small", "usage": {"inputTokens": 2, "outputTokens": 0}})
    );
}

/// Arbitrary JSON values, objects at the top.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[ -~\u{e9}\u{4e2d}\"\\\\\n]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-zA-Z_]{1,8}", json_value(), 0..5).prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    /// Tool-call arguments survive AIGNE object → canonical JSON text → AIGNE object.
    #[test]
    fn tool_call_arguments_round_trip(args in json_object(), name in "[a-z_]{1,10}") {
        let req = chat::to_chat_request(input(json!({
            "messages": [{"role": "agent", "toolCalls": [{"id": "c1", "type": "function", "function": {"name": name, "arguments": args}}]}],
            "modelOptions": {"model": "m"}
        })), false).unwrap();
        let call = &req.messages[0].tool_calls.as_ref().unwrap()[0];
        prop_assert_eq!(chat::arguments_object(&call.function.name, &call.function.arguments).unwrap(), args);
    }

    /// However the upstream splits text and arguments into chunks, the client sees the same
    /// text and the same tool call.
    #[test]
    fn stream_splits_do_not_change_the_result(text in "[ -~\u{e9}]{0,40}", args in json_object(), cuts in prop::collection::vec(0usize..64, 0..6)) {
        let args_text = args.to_string();
        let split = |s: &str| -> Vec<String> {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (s.len() + 1)).filter(|p| s.is_char_boundary(*p)).collect();
            points.push(0);
            points.push(s.len());
            points.sort_unstable();
            points.dedup();
            points.windows(2).map(|w| s[w[0]..w[1]].to_owned()).collect()
        };
        let mut t = StreamTranslator::new(false, "m");
        let mut seen = String::new();
        for piece in split(&text) {
            let chunk: ChatChunk = serde_json::from_value(json!({"id": "c", "choices": [{"index": 0, "delta": {"content": piece}}]})).unwrap();
            if let Some(e) = t.push(&chunk) {
                let v: Value = serde_json::from_slice(&e).unwrap();
                seen.push_str(v["delta"]["text"]["text"].as_str().unwrap());
            }
        }
        for (i, piece) in split(&args_text).into_iter().enumerate() {
            let delta = if i == 0 { json!({"index": 0, "id": "call", "type": "function", "function": {"name": "f", "arguments": piece}}) } else { json!({"index": 0, "function": {"arguments": piece}}) };
            let chunk: ChatChunk = serde_json::from_value(json!({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [delta]}}]})).unwrap();
            prop_assert!(t.push(&chunk).is_none());
        }
        prop_assert_eq!(seen, text);
        let last = t.final_fields().unwrap();
        prop_assert_eq!(&last.tool_calls[0].function.arguments, &args);
        prop_assert_eq!(last.tool_calls[0].id.as_str(), "call");
    }
}
