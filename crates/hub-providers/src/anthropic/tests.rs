//! Translation checked against fixtures shaped after Anthropic's API reference
//! (`fixtures/anthropic/`), plus property tests for the stream decoder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use hub_core::chat::{ChatChunk, ChatCompletion, ChatRequest};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::errors::parse_failure;
use super::stream::StreamTranslator;
use super::translate::{to_chat_completion, to_messages_request, JsonMode, ReplyPlan};
use super::wire::MessagesResponse;
use super::{decode_stream, messages_url};
use crate::error::{FailureKind, ProviderError};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/anthropic/", $name))
    };
}

fn chat(text: &str) -> ChatRequest {
    serde_json::from_str(text).unwrap()
}

fn translated(req: &ChatRequest, stream: bool) -> (Value, ReplyPlan) {
    let (body, plan) = to_messages_request(req, &req.model, stream).unwrap();
    (serde_json::to_value(body).unwrap(), plan)
}

fn completion(reply: &str, plan: ReplyPlan) -> ChatCompletion {
    let resp: MessagesResponse = serde_json::from_str(reply).unwrap();
    to_chat_completion(resp, &plan, 1_700_000_000)
}

/// Runs a transcript through the real stream decoder, delivered in the given pieces.
fn run_stream(pieces: Vec<Vec<u8>>, plan: ReplyPlan) -> Vec<Result<ChatChunk, ProviderError>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    rt.block_on(async move {
        let bytes = futures::stream::iter(pieces.into_iter().map(|p| Ok::<_, std::io::Error>(Bytes::from(p))));
        decode_stream(bytes, Duration::from_secs(5), StreamTranslator::new(plan, 1, Some("sk-ant-credential".into())))
            .collect::<Vec<_>>()
            .await
    })
}

fn ok_chunks(items: Vec<Result<ChatChunk, ProviderError>>) -> Vec<ChatChunk> {
    items.into_iter().map(|r| r.unwrap()).collect()
}

fn content_of(chunks: &[ChatChunk]) -> String {
    chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.content.clone()).collect()
}

fn arguments_of(chunks: &[ChatChunk], index: u32) -> String {
    chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .flat_map(|c| c.delta.tool_calls.iter().flatten())
        .filter(|t| t.index == index)
        .filter_map(|t| t.function.as_ref().and_then(|f| f.arguments.clone()))
        .collect()
}

fn finish_reasons(chunks: &[ChatChunk]) -> Vec<String> {
    chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.finish_reason.clone()).collect()
}

// ------------------------------------------------------------------------------ requests --

#[test]
fn a_tool_round_trip_becomes_the_reference_request() {
    let (body, plan) = translated(&chat(fixture!("chat_tool_round_trip.json")), false);
    let expected: Value = serde_json::from_str(fixture!("request_tool_round_trip.json")).unwrap();
    assert_eq!(body, expected);
    assert_eq!(plan, ReplyPlan::default());
}

#[test]
fn images_documents_merged_turns_and_hoisted_system_prompts() {
    let (body, _) = translated(&chat(fixture!("chat_multimodal.json")), false);
    let expected: Value = serde_json::from_str(fixture!("request_multimodal.json")).unwrap();
    assert_eq!(body, expected);
}

#[test]
fn json_schema_output_is_a_forced_tool() {
    let (body, plan) = translated(&chat(fixture!("chat_json_schema.json")), true);
    let mut expected: Value = serde_json::from_str(fixture!("request_json_schema.json")).unwrap();
    expected["stream"] = json!(true);
    assert_eq!(body, expected);
    assert_eq!(plan.json, Some(JsonMode { wrapped: false }));
}

#[test]
fn json_output_with_real_tools_lets_the_model_choose_among_them() {
    let req = chat(
        r#"{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "response_format":{"type":"json_object"}}"#,
    );
    let (body, _) = translated(&req, false);
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
    let names: Vec<&str> = body["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["f", "json_output"]);
}

#[test]
fn non_object_schemas_are_wrapped_and_unwrapped() {
    let req = chat(
        r#"{"model":"m","messages":[{"role":"user","content":"list"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"l","schema":{"type":"array","items":{"type":"string"}}}}}"#,
    );
    let (body, plan) = translated(&req, false);
    assert_eq!(body["tools"][0]["input_schema"]["properties"]["value"]["type"], "array");
    assert_eq!(plan.json, Some(JsonMode { wrapped: true }));
    let reply = r#"{"id":"msg_1","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"json_output","input":{"value":["a","b"]}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#;
    let c = completion(reply, plan);
    assert_eq!(c.choices[0].message.content.as_deref(), Some(r#"["a","b"]"#));
    assert_eq!(c.choices[0].finish_reason.as_deref(), Some("stop"));
}

#[test]
fn max_tokens_defaults_per_model_and_the_client_value_wins() {
    let no_limit = chat(r#"{"model":"claude-3-haiku-20240307","messages":[{"role":"user","content":"hi"}]}"#);
    assert_eq!(translated(&no_limit, false).0["max_tokens"], 4096);
    let unknown = chat(r#"{"model":"my-claude","messages":[{"role":"user","content":"hi"}]}"#);
    assert_eq!(translated(&unknown, false).0["max_tokens"], super::limits::FALLBACK);
    let set = chat(r#"{"model":"claude-sonnet-4-5","max_tokens":77,"messages":[{"role":"user","content":"hi"}]}"#);
    assert_eq!(translated(&set, false).0["max_tokens"], 77);
}

#[test]
fn tool_choice_forms() {
    let base = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":CHOICE}"#;
    let cases = [
        (r#""none""#, json!({"type": "none"})),
        (r#""auto""#, json!({"type": "auto"})),
        (r#""required""#, json!({"type": "any"})),
        (r#"{"type":"function","function":{"name":"f"}}"#, json!({"type": "tool", "name": "f"})),
    ];
    for (choice, expected) in cases {
        let (body, _) = translated(&chat(&base.replace("CHOICE", choice)), false);
        assert_eq!(body["tool_choice"], expected, "{choice}");
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object", "properties": {}}));
    }
    // Without tools, a tool_choice has nothing to choose from.
    let (body, _) = translated(&chat(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}"#), false);
    assert!(body.get("tool_choice").is_none());
}

#[test]
fn consecutive_turns_of_one_role_merge_and_empty_ones_vanish() {
    let req = chat(
        r#"{"model":"m","messages":[
            {"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},
            {"role":"assistant","content":""},{"role":"assistant","content":"c"},{"role":"assistant","content":"d"}]}"#,
    );
    let (body, _) = translated(&req, false);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "c"}, {"type": "text", "text": "d"}]}
        ])
    );
    assert!(body.get("system").is_none());
}

#[test]
fn what_anthropic_cannot_take_is_refused_not_dropped() {
    let cases = [
        r#"{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/svg+xml,%3Csvg%3E"}}]}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-abc"}}]}]}"#,
        r#"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}"#,
        r#"{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}"#,
    ];
    for case in cases {
        let err = to_messages_request(&chat(case), "m", false).err();
        assert!(matches!(err, Some(ProviderError::Unsupported(_))), "{case}: {err:?}");
    }
}

#[test]
fn the_endpoint_is_built_from_the_sdk_style_base_url() {
    assert_eq!(messages_url("https://api.anthropic.com"), "https://api.anthropic.com/v1/messages");
    assert_eq!(messages_url("https://api.anthropic.com/"), "https://api.anthropic.com/v1/messages");
    assert_eq!(messages_url("http://127.0.0.1:9/v1"), "http://127.0.0.1:9/v1/messages");
    assert_eq!(messages_url("https://proxy.example/anthropic/v1/"), "https://proxy.example/anthropic/v1/messages");
}

// ------------------------------------------------------------------------------- replies --

#[test]
fn a_text_reply() {
    let c = completion(fixture!("message_text.json"), ReplyPlan::default());
    assert_eq!(c.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(c.model, "claude-sonnet-4-5-20250929");
    assert_eq!(c.object, "chat.completion");
    let choice = &c.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("Hi! My name is Claude."));
    assert!(choice.message.tool_calls.is_none());
    assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
    let usage = c.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (2095, 503, 2598));
    assert_eq!(usage.cached_tokens(), 0);
}

#[test]
fn a_tool_use_reply() {
    let c = completion(fixture!("message_tool_use.json"), ReplyPlan::default());
    let choice = &c.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("I'll check the current weather in San Francisco for you."));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(calls[0].kind, "function");
    assert_eq!(calls[0].function.name, "get_weather");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA", "unit": "celsius"}));
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn cache_reads_and_writes_count_as_prompt_tokens() {
    let c = completion(fixture!("message_cached.json"), ReplyPlan::default());
    let usage = c.usage.unwrap();
    assert_eq!(usage.prompt_tokens, 21 + 188_086);
    assert_eq!(usage.completion_tokens, 393);
    assert_eq!(usage.total_tokens, 21 + 188_086 + 393);
    assert_eq!(usage.cached_tokens(), 0);
    assert_eq!(c.choices[0].finish_reason.as_deref(), Some("length"));

    let read = r#"{"id":"msg_1","model":"m","content":[],"stop_reason":"end_turn",
        "usage":{"input_tokens":10,"cache_read_input_tokens":100,"cache_creation_input_tokens":null,"output_tokens":5}}"#;
    let usage = completion(read, ReplyPlan::default()).usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.cached_tokens(), usage.total_tokens), (110, 100, 115));
}

#[test]
fn a_json_output_reply_is_text_content() {
    let plan = ReplyPlan { json: Some(JsonMode { wrapped: false }) };
    let c = completion(fixture!("message_json_output.json"), plan);
    let choice = &c.choices[0];
    let parsed: Value = serde_json::from_str(choice.message.content.as_deref().unwrap()).unwrap();
    assert_eq!(parsed, json!({"name": "Ada", "age": 36}));
    assert!(choice.message.tool_calls.is_none());
    assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
    // Without JSON mode the same reply is an ordinary tool call.
    let plain = completion(fixture!("message_json_output.json"), ReplyPlan::default());
    assert_eq!(plain.choices[0].finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn stop_reasons_map_to_openai_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "stop"),
    ] {
        let reply = format!(
            r#"{{"id":"msg_1","model":"m","content":[{{"type":"text","text":"x"}},{{"type":"thinking","thinking":"hmm","signature":"s"}}],"stop_reason":"{stop}"}}"#
        );
        let c = completion(&reply, ReplyPlan::default());
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some(finish), "{stop}");
        assert_eq!(c.choices[0].message.content.as_deref(), Some("x"));
        assert!(c.usage.is_none());
    }
}

// ------------------------------------------------------------------------------- streams --

#[test]
fn the_basic_stream_transcript() {
    let chunks = ok_chunks(run_stream(vec![fixture!("stream_text.sse").as_bytes().to_vec()], ReplyPlan::default()));
    assert_eq!(chunks.len(), 5, "{chunks:#?}");
    let first = &chunks[0].choices[0];
    assert_eq!(first.delta.role, Some(hub_core::chat::Role::Assistant));
    assert_eq!(first.delta.content.as_deref(), Some(""));
    assert!(chunks.iter().all(|c| c.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" && c.model == "claude-sonnet-4-5-20250929"));
    assert_eq!(content_of(&chunks), "Hello!");
    assert_eq!(finish_reasons(&chunks), ["stop"]);
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    let usage = last.usage.clone().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (25, 15, 40));
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c.usage.is_none()));
}

#[test]
fn the_tool_use_stream_transcript() {
    let chunks = ok_chunks(run_stream(vec![fixture!("stream_tool_use.sse").as_bytes().to_vec()], ReplyPlan::default()));
    assert_eq!(content_of(&chunks), "Okay, let's check the weather for San Francisco, CA:");
    let starts: Vec<_> =
        chunks.iter().flat_map(|c| c.choices.iter()).flat_map(|c| c.delta.tool_calls.iter().flatten()).filter(|t| t.id.is_some()).collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0].index, 0, "the second content block is the first tool call");
    assert_eq!(starts[0].id.as_deref(), Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"));
    assert_eq!(starts[0].kind.as_deref(), Some("function"));
    assert_eq!(starts[0].function.as_ref().and_then(|f| f.name.as_deref()), Some("get_weather"));
    let args: Value = serde_json::from_str(&arguments_of(&chunks, 0)).unwrap();
    assert_eq!(args, json!({"location": "San Francisco, CA", "unit": "fahrenheit"}));
    assert_eq!(finish_reasons(&chunks), ["tool_calls"]);
    let usage = chunks.last().unwrap().usage.clone().unwrap();
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (472, 89));
}

#[test]
fn an_error_event_ends_the_stream_with_its_failure() {
    let out = run_stream(vec![fixture!("stream_error.sse").as_bytes().to_vec()], ReplyPlan::default());
    let (last, before) = out.split_last().unwrap();
    assert!(before.iter().all(Result::is_ok));
    assert_eq!(content_of(&ok_chunks(before.to_vec())), "Once upon");
    match last {
        Err(ProviderError::Upstream(f)) => {
            assert_eq!((f.status, f.kind, f.message.as_str()), (529, FailureKind::Overloaded, "Overloaded"));
            assert_eq!(f.error_type.as_deref(), Some("overloaded_error"));
        }
        other => panic!("expected an overloaded failure, got {other:?}"),
    }
}

#[test]
fn a_stream_that_stops_before_message_stop_is_cut() {
    let full = fixture!("stream_text.sse");
    let cut = &full[..full.find("event: message_delta").unwrap()];
    let out = run_stream(vec![cut.as_bytes().to_vec()], ReplyPlan::default());
    assert!(matches!(out.last(), Some(Err(ProviderError::StreamCut))), "{out:?}");
    assert!(matches!(run_stream(vec![], ReplyPlan::default()).as_slice(), [Err(ProviderError::StreamCut)]));
}

#[test]
fn json_output_streams_as_content() {
    let events = [
        r#"{"type":"message_start","message":{"id":"msg_j","model":"m","usage":{"input_tokens":9,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_j","name":"json_output","input":{}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"value\": [1,"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":" 2]}"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":7}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let body: String = events.iter().map(|e| format!("event: x\ndata: {e}\n\n")).collect();
    let plain = ok_chunks(run_stream(vec![body.clone().into_bytes()], ReplyPlan { json: Some(JsonMode { wrapped: false }) }));
    assert_eq!(content_of(&plain), r#"{"value": [1, 2]}"#);
    assert_eq!(finish_reasons(&plain), ["stop"]);
    let wrapped = ok_chunks(run_stream(vec![body.into_bytes()], ReplyPlan { json: Some(JsonMode { wrapped: true }) }));
    assert_eq!(content_of(&wrapped), "[1,2]");
    assert!(wrapped.iter().all(|c| c.choices.iter().all(|ch| ch.delta.tool_calls.is_none())));
}

#[test]
fn text_and_several_tool_calls_get_their_own_indices_and_unknown_blocks_are_skipped() {
    let events = [
        r#"{"type":"message_start","message":{"id":"msg_t","model":"m","usage":{"input_tokens":3,"cache_read_input_tokens":4,"cache_creation_input_tokens":5,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}"#,
        r#"{"type":"content_block_stop","index":0}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"a","input":{}}}"#,
        r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"b","input":{}}}"#,
        r#"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"y\":2}"}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x\":1}"}}"#,
        r#"{"type":"something_new","index":1}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20,"input_tokens":3}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    let chunks = ok_chunks(run_stream(vec![body.into_bytes()], ReplyPlan::default()));
    assert_eq!(arguments_of(&chunks, 0), r#"{"x":1}"#);
    assert_eq!(arguments_of(&chunks, 1), r#"{"y":2}"#);
    assert_eq!(content_of(&chunks), "");
    let usage = chunks.last().unwrap().usage.clone().unwrap();
    assert_eq!((usage.prompt_tokens, usage.cached_tokens(), usage.completion_tokens), (12, 4, 20));
}

#[test]
fn a_delta_for_a_block_that_never_started_is_a_protocol_error() {
    let body = "data: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n";
    let out = run_stream(vec![body.as_bytes().to_vec()], ReplyPlan::default());
    assert!(matches!(out.last(), Some(Err(ProviderError::Protocol(_)))), "{out:?}");
}

#[test]
fn error_bodies_from_the_reference() {
    let f = parse_failure(529, fixture!("error_overloaded.json").as_bytes(), None, None);
    assert_eq!(f.kind, FailureKind::Overloaded);
    let f = parse_failure(429, fixture!("error_rate_limit.json").as_bytes(), Some(Duration::from_secs(12)), None);
    assert_eq!((f.kind, f.retry_after), (FailureKind::RateLimited, Some(Duration::from_secs(12))));
    assert_eq!(f.error_type.as_deref(), Some("rate_limit_error"));
    let f = parse_failure(400, fixture!("error_invalid_request.json").as_bytes(), None, None);
    assert_eq!((f.kind, f.message.as_str()), (FailureKind::BadRequest, "max_tokens: Field required"));
    let f = parse_failure(401, fixture!("error_authentication.json").as_bytes(), None, Some("sk-ant-api03-abcdefgh"));
    assert_eq!(f.kind, FailureKind::Auth);
    assert!(!f.message.contains("x-api-key"), "{}", f.message);
}

/// The transcripts, whole, as the decoder should see them.
fn transcripts() -> [&'static str; 3] {
    [fixture!("stream_text.sse"), fixture!("stream_tool_use.sse"), fixture!("stream_error.sse")]
}

fn summary(out: &[Result<ChatChunk, ProviderError>]) -> Vec<String> {
    out.iter()
        .map(|r| match r {
            Ok(c) => serde_json::to_string(c).unwrap(),
            Err(e) => format!("error: {e}"),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn splitting_a_transcript_anywhere_changes_nothing(which in 0usize..3, cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let text = transcripts()[which].as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut start = 0;
        for p in points {
            pieces.push(text[start..p].to_vec());
            start = p;
        }
        pieces.push(text[start..].to_vec());
        let whole = run_stream(vec![text.to_vec()], ReplyPlan::default());
        let split = run_stream(pieces, ReplyPlan::default());
        prop_assert_eq!(summary(&whole), summary(&split));
    }

    #[test]
    fn arbitrary_bytes_never_panic(pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..128), 0..8)) {
        let out = run_stream(pieces, ReplyPlan { json: Some(JsonMode { wrapped: true }) });
        // Whatever came in, the stream ends, and an error is always its last item.
        if let Some(pos) = out.iter().position(Result::is_err) {
            prop_assert_eq!(pos, out.len() - 1);
        }
    }

    #[test]
    fn arbitrary_events_never_panic(events in proptest::collection::vec(
        prop_oneof![
            Just(r#"{"type":"message_start","message":{"id":"m","model":"x"}}"#.to_owned()),
            Just(r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"json_output","input":{}}}"#.to_owned()),
            Just(r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"a"}}"#.to_owned()),
            Just(r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"value\""}}"#.to_owned()),
            Just(r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"b"}}"#.to_owned()),
            Just(r#"{"type":"content_block_stop","index":0}"#.to_owned()),
            Just(r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}"#.to_owned()),
            Just(r#"{"type":"message_stop"}"#.to_owned()),
            "[ -~]{0,40}",
        ],
        0..20,
    )) {
        let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        let out = run_stream(vec![body.into_bytes()], ReplyPlan { json: Some(JsonMode { wrapped: true }) });
        if let Some(pos) = out.iter().position(Result::is_err) {
            prop_assert_eq!(pos, out.len() - 1);
        }
    }
}
