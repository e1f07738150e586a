//! Fixtures from Anthropic's Messages API reference, and properties of the stream translator.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::reply::{self, StreamTranslator};
use super::request::{drop_unmapped, to_chat_request};
use super::wire::{BlockDelta, MessagesRequest, MessagesResponse, ReplyBlock, StreamEvent};
use crate::chat::{ChatChunk, ChatCompletion, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta, Usage};
use crate::provider::Protocol;

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/anthropic/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_reference_request_becomes_the_canonical_request() {
    let req: MessagesRequest = serde_json::from_str(&fixture("messages_request.json")).unwrap();
    let mut chat = to_chat_request(req).unwrap();
    let v = serde_json::to_value(&chat).unwrap();
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(v["max_tokens"], 1024);
    assert_eq!(v["stream"], true);
    assert_eq!(v["stream_options"]["include_usage"], true);
    assert_eq!(v["messages"][0], json!({"role": "system", "content": "You are a weather assistant."}));
    let user = &v["messages"][1];
    assert_eq!(user["content"][0]["image_url"]["url"], "data:image/jpeg;base64,/9j/4AAQSkZJRg==");
    assert_eq!(user["content"][1]["image_url"]["url"], "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg");
    assert_eq!(user["content"][2], json!({"type": "text", "text": "What's the weather like in San Francisco?"}));
    let assistant = &v["messages"][2];
    assert_eq!(assistant["content"], "I'll check the weather.");
    assert_eq!(assistant["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
    let args: Value = serde_json::from_str(assistant["tool_calls"][0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA"}));
    assert_eq!(v["messages"][3], json!({"role": "tool", "content": "15 degrees", "tool_call_id": "toolu_01A09q90qw90lq917835lq9"}));
    assert_eq!(v["messages"][4], json!({"role": "user", "content": "And in Celsius?"}));
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(v["tools"][0]["function"]["parameters"]["required"], json!(["location"]));
    assert_eq!(v["tool_choice"], "auto");
    assert_eq!(v["parallel_tool_calls"], false);
    assert_eq!(v["stop"], json!(["\n\nHuman:"]));
    assert_eq!(v["temperature"], 0.5);
    assert_eq!(v["top_p"], 0.9);
    assert_eq!(v["top_k"], 40);
    assert_eq!(v["user"], "user-123");
    drop_unmapped(&mut chat, Protocol::AnthropicMessages);
    assert!(chat.extra.contains_key("top_k"));
    drop_unmapped(&mut chat, Protocol::OpenAiChat);
    assert!(!chat.extra.contains_key("top_k"));
}

#[test]
fn tool_choices_map_to_their_canonical_form() {
    for (choice, expected) in [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (json!({"type": "tool", "name": "get_weather"}), json!({"type": "function", "function": {"name": "get_weather"}})),
    ] {
        let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}], "tool_choice": choice});
        let chat = to_chat_request(serde_json::from_value(body).unwrap()).unwrap();
        assert_eq!(chat.tool_choice, Some(expected));
    }
}

#[test]
fn bad_requests_are_refused_by_name() {
    let missing: Result<MessagesRequest, _> = serde_json::from_value(json!({"model": "m", "messages": []}));
    assert!(missing.unwrap_err().to_string().contains("max_tokens"));
    let zero: MessagesRequest = serde_json::from_value(json!({"model": "m", "max_tokens": 0, "messages": []})).unwrap();
    assert_eq!(to_chat_request(zero).unwrap_err().param, "max_tokens");
    let no_id: MessagesRequest =
        serde_json::from_value(json!({"model": "m", "max_tokens": 3, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": ""}]}]})).unwrap();
    assert_eq!(to_chat_request(no_id).unwrap_err().param, "messages");
}

#[test]
fn a_completion_becomes_the_reference_reply() {
    let completion: ChatCompletion = serde_json::from_str(&fixture("chat_completion.json")).unwrap();
    let message = reply::to_message(completion, "fallback").unwrap();
    let got = serde_json::to_value(&message).unwrap();
    let mut expected: Value = serde_json::from_str(&fixture("messages_reply.json")).unwrap();
    expected["id"] = json!("msg_01Aq9w938a90dw8q");
    assert_eq!(got, expected);
    // The reply reads back as the same shape (one definition in both directions).
    let back: MessagesResponse = serde_json::from_value(got).unwrap();
    assert_eq!(back.content.len(), 2);
}

#[test]
fn finish_reasons_map_to_stop_reasons() {
    assert_eq!(reply::stop_reason(Some("stop")), "end_turn");
    assert_eq!(reply::stop_reason(Some("length")), "max_tokens");
    assert_eq!(reply::stop_reason(Some("tool_calls")), "tool_use");
    assert_eq!(reply::stop_reason(None), "end_turn");
}

fn text_chunk(text: &str) -> ChatChunk {
    chunk(Delta { content: Some(text.to_owned()), ..Delta::default() }, None)
}

fn tool_chunk(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> ChatChunk {
    let call = ToolCallDelta {
        index,
        id: id.map(str::to_owned),
        kind: id.map(|_| "function".to_owned()),
        function: Some(FunctionCallDelta { name: name.map(str::to_owned), arguments: Some(args.to_owned()) }),
    };
    chunk(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)
}

fn chunk(delta: Delta, finish: Option<&str>) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-1".to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created: 0,
        model: "gpt-4o-mini".to_owned(),
        choices: vec![ChunkChoice { index: 0, delta, finish_reason: finish.map(str::to_owned), extra: Default::default() }],
        usage: None,
        extra: Default::default(),
    }
}

fn usage_chunk() -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-1".to_owned(),
        object: "chat.completion.chunk".to_owned(),
        created: 0,
        model: "gpt-4o-mini".to_owned(),
        choices: vec![],
        usage: Some(Usage { prompt_tokens: 12, completion_tokens: 7, total_tokens: 19, ..Usage::default() }),
        extra: Default::default(),
    }
}

/// Replays events as a client does: the message's blocks, and the checks a strict client makes
/// (blocks start before their deltas, stop once, indexes in order, start first, stop last).
fn assemble(events: &[StreamEvent]) -> (Vec<Value>, String) {
    let mut blocks: Vec<Value> = Vec::new();
    let mut open: Option<u64> = None;
    let mut stop_reason = String::new();
    assert!(matches!(events.first(), Some(StreamEvent::MessageStart { .. })));
    assert!(matches!(events.last(), Some(StreamEvent::MessageStop)));
    for e in events {
        match e {
            StreamEvent::ContentBlockStart { index, content_block } => {
                assert_eq!(open, None, "a block starts while another is open");
                assert_eq!(*index, blocks.len() as u64);
                open = Some(*index);
                blocks.push(match content_block {
                    ReplyBlock::Text { text } => json!({"type": "text", "text": text}),
                    ReplyBlock::ToolUse { id, name, .. } => json!({"type": "tool_use", "id": id, "name": name, "json": ""}),
                    ReplyBlock::Other => json!({}),
                });
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                assert_eq!(open, Some(*index));
                let b = &mut blocks[*index as usize];
                match delta {
                    BlockDelta::TextDelta { text } => b["text"] = json!(format!("{}{text}", b["text"].as_str().unwrap())),
                    BlockDelta::InputJsonDelta { partial_json } => b["json"] = json!(format!("{}{partial_json}", b["json"].as_str().unwrap())),
                    BlockDelta::Other => {}
                }
            }
            StreamEvent::ContentBlockStop { index } => {
                assert_eq!(open.take(), Some(*index));
            }
            StreamEvent::MessageDelta { delta, usage } => {
                assert_eq!(open, None, "message_delta while a block is open");
                stop_reason = delta.stop_reason.clone().unwrap_or_default();
                assert_eq!(usage.and_then(|u| u.output_tokens), Some(7));
            }
            _ => {}
        }
    }
    (blocks, stop_reason)
}

fn translate(chunks: &[ChatChunk]) -> Vec<StreamEvent> {
    let mut t = StreamTranslator::new("requested");
    let mut events: Vec<StreamEvent> = chunks.iter().flat_map(|c| t.push(c)).collect();
    events.extend(t.finish());
    events
}

/// `text` split at `cuts`, as text chunks.
fn split(text: &str, cuts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
    bounds.extend([0, chars.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    bounds.windows(2).map(|w| chars[w[0]..w[1]].iter().collect()).collect()
}

#[test]
fn a_stream_of_text_then_two_tool_calls_opens_and_closes_each_block() {
    let mut chunks = vec![text_chunk("Let me "), text_chunk("check.")];
    chunks.push(tool_chunk(0, Some("call_a"), Some("get_weather"), ""));
    chunks.push(tool_chunk(0, None, None, "{\"location\":"));
    chunks.push(tool_chunk(0, None, None, "\"Paris\"}"));
    chunks.push(tool_chunk(1, Some("call_b"), Some("get_time"), "{}"));
    chunks.push(chunk(Delta::default(), Some("tool_calls")));
    chunks.push(usage_chunk());
    let events = translate(&chunks);
    assert!(matches!(events.get(1), Some(StreamEvent::Ping)));
    let (blocks, stop) = assemble(&events);
    assert_eq!(stop, "tool_use");
    assert_eq!(blocks, vec![
        json!({"type": "text", "text": "Let me check."}),
        json!({"type": "tool_use", "id": "call_a", "name": "get_weather", "json": "{\"location\":\"Paris\"}"}),
        json!({"type": "tool_use", "id": "call_b", "name": "get_time", "json": "{}"}),
    ]);
    let wire = reply::sse_event(&events[0]);
    let text = String::from_utf8(wire).unwrap();
    assert!(text.starts_with("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\""), "{text}");
    assert!(text.contains("\"content\":[]"), "{text}");
}

#[test]
fn an_empty_stream_still_frames_a_whole_message() {
    let events = translate(&[usage_chunk()]);
    let (blocks, stop) = assemble(&events);
    assert!(blocks.is_empty());
    assert_eq!(stop, "end_turn");
}

proptest! {
    /// However the upstream splits text and arguments into chunks, the client sees the same
    /// blocks.
    #[test]
    fn any_split_of_the_upstream_chunks_yields_the_same_blocks(
        text in "[a-zA-Z ,.é😀]{0,40}",
        args in "[a-z0-9 ]{0,30}",
        text_cuts in proptest::collection::vec(0usize..64, 0..8),
        arg_cuts in proptest::collection::vec(0usize..64, 0..8),
    ) {
        let mut chunks: Vec<ChatChunk> = split(&text, &text_cuts).iter().map(|t| text_chunk(t)).collect();
        let json_args = format!("{{\"q\":\"{args}\"}}");
        let pieces = split(&json_args, &arg_cuts);
        for (i, piece) in pieces.iter().enumerate() {
            let first = i == 0;
            chunks.push(tool_chunk(0, first.then_some("call_x"), first.then_some("search"), piece));
        }
        chunks.push(chunk(Delta::default(), Some("tool_calls")));
        chunks.push(usage_chunk());
        let (blocks, stop) = assemble(&translate(&chunks));
        let mut expected = Vec::new();
        if !text.is_empty() {
            expected.push(json!({"type": "text", "text": text}));
        }
        expected.push(json!({"type": "tool_use", "id": "call_x", "name": "search", "json": json_args}));
        prop_assert_eq!(blocks, expected);
        prop_assert_eq!(stop, "tool_use");
    }
}
