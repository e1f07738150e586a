//! Pure translation between the canonical (OpenAI-shaped) chat types and Converse. No I/O.
//!
//! Request:
//! - `system`/`developer` messages → `system: [{text}]`, in order, wherever they appear.
//! - `user` text and image parts → `{text}` / `{image:{format, source:{bytes}}}`. Converse takes
//!   images inline only, so an `http(s)` image URL is refused with a 400 that says so.
//! - `assistant` text and `tool_calls` → `{text}` and `{toolUse:{toolUseId, name, input}}`.
//! - `tool` messages → a user turn of `{toolResult:{toolUseId, content:[{json}|{text}]}}` (a JSON
//!   object or array result is sent as `json`, anything else as `text`).
//! - Consecutive turns of the same role are merged (Converse requires alternation), and blank
//!   text blocks are dropped (Converse rejects them).
//! - `tools` → `toolConfig.tools[].toolSpec`; `tool_choice` auto → `{auto:{}}`, required →
//!   `{any:{}}`, a named function → `{tool:{name}}`, none → no tools at all, unless the
//!   history holds tool calls: Converse then requires `toolConfig`, so the tools are sent
//!   without a choice.
//! - `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`, `stop` → `inferenceConfig`.
//! - `response_format` `json_schema` → a tool whose input schema is the schema, forced with
//!   `{tool:{name}}` (or `{any:{}}` beside the client's own tools); the reply's call of that tool
//!   becomes the assistant's text, as JSON. `json_object` → an added system instruction, since
//!   Converse has no JSON mode.
//! - The Converse members `additionalModelRequestFields`, `additionalModelResponseFieldPaths`,
//!   `guardrailConfig`, `performanceConfig`, `promptVariables` and `requestMetadata` pass
//!   through when a client sets them. `n` > 1 is refused (Converse returns one message);
//!   `seed`, `user`, penalties, `logit_bias` and other OpenAI-only fields are dropped.
//!
//! Reply: text blocks → `content`; `toolUse` → `tool_calls` with the input as JSON text;
//! reasoning text → `reasoning_content`; `stopReason` end_turn/stop_sequence → stop, max_tokens
//! → length, tool_use → tool_calls, guardrail_intervened/content_filtered → content_filter;
//! usage → prompt = input + cache read + cache write, cached = cache read.

use hub_core::chat::{
    ChatCompletion, ChatRequest, Choice, Content, ContentPart, Extra, FunctionCall, Message, PromptTokensDetails, ResponseFormat, ResponseMessage,
    Role, Stop, ToolCall, Usage,
};
use serde_json::{json, Map, Value};

use crate::error::{FailureKind, ProviderError, UpstreamFailure};

use super::wire::{
    ContentBlock, ConverseRequest, ConverseResponse, Empty, ImageBlock, ImageSource, InferenceConfig, InputSchema, NamedTool, SystemBlock,
    TokenUsage, ToolChoice, ToolConfig, ToolEntry, ToolResultBlock, ToolResultContent, ToolSpec, ToolUseBlock, WireMessage, WireRole,
};

/// The Converse members a client may set directly in its request.
const PASSTHROUGH: [&str; 6] = [
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
];

/// The tool name used for `json_schema` output when the schema has no usable name.
pub const JSON_TOOL_DEFAULT: &str = "json_response";

const JSON_OBJECT_INSTRUCTION: &str = "Respond with a single valid JSON object and nothing else.";

/// A Converse request, and the name of the tool that carries structured output, if any.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub request: ConverseRequest,
    pub json_tool: Option<String>,
}

/// A 400 made by the hub for a request Converse cannot express.
pub fn bad_request(message: impl Into<String>) -> ProviderError {
    ProviderError::Upstream(UpstreamFailure {
        status: 400,
        kind: FailureKind::BadRequest,
        message: message.into(),
        error_type: Some("invalid_request_error".to_owned()),
        code: None,
        param: None,
        retry_after: None,
    })
}

pub fn converse_request(req: &ChatRequest) -> Result<Prepared, ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(bad_request("Amazon Bedrock returns one choice per request: `n` must be 1"));
    }
    let mut system = Vec::new();
    let mut turns: Vec<WireMessage> = Vec::new();
    let mut history_has_tools = false;
    for (i, m) in req.messages.iter().enumerate() {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                let text = plain_text(m.content.as_ref());
                if !text.trim().is_empty() {
                    system.push(SystemBlock { text });
                }
                continue;
            }
            Role::User => (WireRole::User, user_blocks(m, i)?),
            Role::Assistant => {
                let blocks = assistant_blocks(m, i)?;
                history_has_tools |= blocks.iter().any(|b| matches!(b, ContentBlock::ToolUse(_)));
                (WireRole::Assistant, blocks)
            }
            Role::Tool => {
                history_has_tools = true;
                (WireRole::User, vec![tool_result(m, i)?])
            }
            Role::Function => {
                return Err(bad_request(format!(
                    "messages[{i}]: the legacy `function` role is not supported by Amazon Bedrock; send tool results as `tool` messages"
                )))
            }
        };
        push_turn(&mut turns, role, blocks);
    }

    let (tool_config, json_tool) = tool_config(req, history_has_tools)?;
    if matches!(req.response_format, Some(ResponseFormat::JsonObject)) {
        system.push(SystemBlock { text: JSON_OBJECT_INSTRUCTION.to_owned() });
    }
    let inference = InferenceConfig {
        max_tokens: req.output_limit(),
        temperature: req.temperature,
        top_p: req.top_p,
        stop_sequences: req.stop.as_ref().map(|s| match s {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }),
    };
    let passthrough: Map<String, Value> =
        PASSTHROUGH.iter().filter_map(|k| req.extra.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    Ok(Prepared {
        request: ConverseRequest {
            messages: turns,
            system,
            inference_config: (!inference.is_empty()).then_some(inference),
            tool_config,
            passthrough,
        },
        json_tool,
    })
}

/// Appends a turn, merged into the previous one when the role repeats. Empty turns vanish.
fn push_turn(turns: &mut Vec<WireMessage>, role: WireRole, blocks: Vec<ContentBlock>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(WireMessage { role, content: blocks }),
    }
}

/// The text of a message's content, parts joined by blank lines (images are not text).
fn plain_text(content: Option<&Content>) -> String {
    match content {
        None => String::new(),
        Some(Content::Text(t)) => t.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text.as_str()),
                ContentPart::Refusal { refusal } => Some(refusal.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

fn text_block(text: &str) -> Option<ContentBlock> {
    (!text.trim().is_empty()).then(|| ContentBlock::Text(text.to_owned()))
}

fn user_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, ProviderError> {
    match &m.content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(text_block(t).into_iter().collect()),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => out.extend(text_block(text)),
                    ContentPart::Refusal { refusal } => out.extend(text_block(refusal)),
                    ContentPart::ImageUrl { image_url } => out.push(ContentBlock::Image(image(&image_url.url, i, j)?)),
                    ContentPart::InputAudio { .. } => {
                        return Err(bad_request(format!("messages[{i}].content[{j}]: audio input is not supported by Amazon Bedrock's Converse API")))
                    }
                    ContentPart::File { .. } => {
                        return Err(bad_request(format!("messages[{i}].content[{j}]: file parts are not supported for Amazon Bedrock")))
                    }
                }
            }
            Ok(out)
        }
    }
}

/// An image part as a Converse image block. Only `data:` URLs with base64 data can be sent.
pub fn image(url: &str, i: usize, j: usize) -> Result<ImageBlock, ProviderError> {
    let at = format!("messages[{i}].content[{j}]");
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(bad_request(format!(
            "{at}: Amazon Bedrock's Converse API takes images inline only; send the image as a base64 data: URL instead of a link"
        )));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(bad_request(format!("{at}: the data: URL has no ',' before its data")));
    };
    let mut meta_parts = meta.split(';');
    let mime = meta_parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !meta_parts.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(bad_request(format!("{at}: the image data: URL must be base64-encoded")));
    }
    let format = match mime.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(bad_request(format!(
                "{at}: image type '{other}' is not supported by Amazon Bedrock (png, jpeg, gif and webp are)"
            )))
        }
    };
    let bytes: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if bytes.is_empty() {
        return Err(bad_request(format!("{at}: the image data is empty")));
    }
    Ok(ImageBlock { format, source: ImageSource { bytes } })
}

fn assistant_blocks(m: &Message, i: usize) -> Result<Vec<ContentBlock>, ProviderError> {
    let mut out: Vec<ContentBlock> = text_block(&plain_text(m.content.as_ref())).into_iter().collect();
    for (j, call) in m.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input = if args.is_empty() {
            json!({})
        } else {
            serde_json::from_str::<Value>(args).map_err(|_| {
                bad_request(format!("messages[{i}].tool_calls[{j}].function.arguments is not valid JSON; Amazon Bedrock needs tool inputs as JSON"))
            })?
        };
        out.push(ContentBlock::ToolUse(ToolUseBlock { tool_use_id: call.id.clone(), name: call.function.name.clone(), input }));
    }
    Ok(out)
}

fn tool_result(m: &Message, i: usize) -> Result<ContentBlock, ProviderError> {
    let Some(id) = m.tool_call_id.as_deref().filter(|id| !id.is_empty()) else {
        return Err(bad_request(format!("messages[{i}]: a tool message needs the tool_call_id it answers")));
    };
    let mut content = Vec::new();
    let text = plain_text(m.content.as_ref());
    match serde_json::from_str::<Value>(text.trim()) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => content.push(ToolResultContent::Json(v)),
        _ if !text.trim().is_empty() => content.push(ToolResultContent::Text(text)),
        _ => {}
    }
    if let Some(Content::Parts(parts)) = &m.content {
        for (j, part) in parts.iter().enumerate() {
            if let ContentPart::ImageUrl { image_url } = part {
                content.push(ToolResultContent::Image(image(&image_url.url, i, j)?));
            }
        }
    }
    Ok(ContentBlock::ToolResult(ToolResultBlock { tool_use_id: id.to_owned(), content }))
}

/// What the client asked of tools, read from `tool_choice`.
enum ClientChoice {
    Auto,
    None,
    Required,
    Named(String),
}

fn parse_tool_choice(v: Option<&Value>) -> ClientChoice {
    match v {
        Some(Value::String(s)) if s == "none" => ClientChoice::None,
        Some(Value::String(s)) if s == "required" => ClientChoice::Required,
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map_or(ClientChoice::Auto, |n| ClientChoice::Named(n.to_owned())),
        _ => ClientChoice::Auto,
    }
}

fn tool_config(req: &ChatRequest, history_has_tools: bool) -> Result<(Option<ToolConfig>, Option<String>), ProviderError> {
    let mut tools = Vec::new();
    for (k, t) in req.tools.iter().flatten().enumerate() {
        if t.kind != "function" {
            return Err(bad_request(format!("tools[{k}]: only function tools are supported by Amazon Bedrock")));
        }
        tools.push(ToolEntry {
            tool_spec: ToolSpec {
                name: t.function.name.clone(),
                description: t.function.description.clone().filter(|d| !d.trim().is_empty()),
                input_schema: InputSchema { json: t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}})) },
            },
        });
    }
    let choice = parse_tool_choice(req.tool_choice.as_ref());
    let json_spec = match &req.response_format {
        Some(ResponseFormat::JsonSchema { json_schema }) => Some(json_schema_tool(json_schema)),
        _ => None,
    };

    let client_tools = !tools.is_empty();
    let mut wire_choice = match (&choice, client_tools) {
        (_, false) => None,
        (ClientChoice::None, true) => {
            if !history_has_tools && json_spec.is_none() {
                return Ok((None, None));
            }
            // Converse refuses tool blocks in the history without a toolConfig, so the tools
            // stay, with no choice forced.
            None
        }
        (ClientChoice::Auto, true) => Some(ToolChoice::Auto(Empty {})),
        (ClientChoice::Required, true) => Some(ToolChoice::Any(Empty {})),
        (ClientChoice::Named(n), true) => Some(ToolChoice::Tool(NamedTool { name: n.clone() })),
    };
    let mut json_tool = None;
    if let Some(spec) = json_spec {
        json_tool = Some(spec.name.clone());
        wire_choice = match (&choice, client_tools) {
            (ClientChoice::Named(_), true) => wire_choice,
            (ClientChoice::Auto | ClientChoice::Required, true) => Some(ToolChoice::Any(Empty {})),
            _ => Some(ToolChoice::Tool(NamedTool { name: spec.name.clone() })),
        };
        tools.push(ToolEntry { tool_spec: spec });
    }
    if tools.is_empty() {
        return Ok((None, None));
    }
    Ok((Some(ToolConfig { tools, tool_choice: wire_choice }), json_tool))
}

/// The tool that carries `json_schema` output: named after the schema (Converse tool names are
/// `[a-zA-Z][a-zA-Z0-9_]*`, at most 64 characters), its input schema the schema itself.
fn json_schema_tool(json_schema: &Value) -> ToolSpec {
    let name = json_schema.get("name").and_then(Value::as_str).map(tool_name).filter(|n| !n.is_empty());
    let description = json_schema
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.trim().is_empty())
        .map_or_else(|| "Give the answer as this tool's input, which must match its JSON schema.".to_owned(), str::to_owned);
    ToolSpec {
        name: name.unwrap_or_else(|| JSON_TOOL_DEFAULT.to_owned()),
        description: Some(description),
        input_schema: InputSchema { json: json_schema.get("schema").cloned().unwrap_or_else(|| json!({"type": "object"})) },
    }
}

fn tool_name(raw: &str) -> String {
    let cleaned: String = raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).take(64).collect();
    match cleaned.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => cleaned,
        Some(_) => format!("j{}", &cleaned[..cleaned.len().min(63)]),
        None => cleaned,
    }
}

// ---------------------------------------------------------------------------------------------
// Reply

/// OpenAI's `finish_reason` for a Converse `stopReason`. A turn that produced client tool calls
/// finishes with `tool_calls`; one whose only call was the structured-output tool with `stop`.
pub fn finish_reason(stop_reason: Option<&str>, client_tool_calls: bool) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("guardrail_intervened" | "content_filtered") => "content_filter",
        _ if client_tool_calls => "tool_calls",
        _ => "stop",
    }
}

pub fn usage(u: &TokenUsage) -> Usage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let cache_write = u.cache_write_input_tokens.unwrap_or(0);
    // Converse counts cached input apart from `inputTokens`; OpenAI's prompt_tokens includes it.
    let prompt = u.input_tokens + cache_read + cache_write;
    Usage {
        prompt_tokens: prompt,
        completion_tokens: u.output_tokens,
        total_tokens: prompt + u.output_tokens,
        prompt_tokens_details: u.cache_read_input_tokens.map(|c| PromptTokensDetails { cached_tokens: Some(c), extra: Extra::new() }),
        extra: Extra::new(),
    }
}

/// A Converse reply as a chat completion.
pub fn completion(resp: ConverseResponse, json_tool: Option<&str>, id: String, model: &str, created: i64) -> ChatCompletion {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let blocks = resp.output.and_then(|o| o.message).map(|m| m.content).unwrap_or_default();
    for block in blocks {
        if let Some(t) = block.text {
            text.push_str(&t);
        }
        if let Some(r) = block.reasoning_content.and_then(|r| r.reasoning_text) {
            reasoning.push_str(&r.text);
        }
        if let Some(tu) = block.tool_use {
            let arguments = serde_json::to_string(&tu.input).unwrap_or_else(|_| "{}".to_owned());
            if json_tool == Some(tu.name.as_str()) {
                text.push_str(&arguments);
            } else {
                calls.push(ToolCall { id: tu.tool_use_id, kind: "function".to_owned(), function: FunctionCall { name: tu.name, arguments } });
            }
        }
    }
    let mut extra = Extra::new();
    if !reasoning.is_empty() {
        extra.insert("reasoning_content".to_owned(), Value::String(reasoning));
    }
    let finish = finish_reason(resp.stop_reason.as_deref(), !calls.is_empty());
    let message = ResponseMessage {
        role: Role::Assistant,
        content: (!text.is_empty() || calls.is_empty()).then_some(text),
        tool_calls: (!calls.is_empty()).then_some(calls),
        extra,
    };
    ChatCompletion {
        id,
        object: "chat.completion".to_owned(),
        created,
        model: model.to_owned(),
        choices: vec![Choice { index: 0, message, finish_reason: Some(finish.to_owned()), extra: Extra::new() }],
        usage: resp.usage.as_ref().map(usage),
        extra: Extra::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/fixtures/bedrock/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn request(v: Value) -> ChatRequest {
        serde_json::from_value(v).unwrap()
    }

    fn wire(req: &ChatRequest) -> Value {
        serde_json::to_value(converse_request(req).unwrap().request).unwrap()
    }

    /// The API reference's tool-use walkthrough (the `top_song` tool), from an OpenAI-shaped
    /// conversation: system prompt, tool definition, the model's call and the tool's result.
    #[test]
    fn a_tool_conversation_becomes_the_documented_converse_request() {
        let case = fixture("translate_tool_conversation.json");
        let req = request(case["openai"].clone());
        assert_eq!(wire(&req), case["converse"]);
    }

    #[test]
    fn images_system_prompts_and_inference_settings_are_mapped() {
        let case = fixture("translate_image_request.json");
        let req = request(case["openai"].clone());
        assert_eq!(wire(&req), case["converse"]);
    }

    #[test]
    fn linked_images_are_refused_with_a_clear_400() {
        let req = request(json!({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}));
        match converse_request(&req) {
            Err(ProviderError::Upstream(f)) => {
                assert_eq!((f.status, f.kind), (400, FailureKind::BadRequest));
                assert!(f.message.contains("data: URL"), "{}", f.message);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn blank_text_is_dropped_and_same_role_turns_merge() {
        let req = request(json!({"model":"m","messages":[
            {"role":"user","content":"one"},
            {"role":"user","content":"two"},
            {"role":"assistant","content":"\n\n"},
            {"role":"assistant","content":"three"}
        ]}));
        assert_eq!(
            wire(&req)["messages"],
            json!([{"role":"user","content":[{"text":"one"},{"text":"two"}]},{"role":"assistant","content":[{"text":"three"}]}])
        );
    }

    #[test]
    fn tool_choices_map_to_converse_choices() {
        let base = json!({"model":"m","messages":[{"role":"user","content":"hi"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]});
        let with = |choice: Value| {
            let mut v = base.clone();
            v["tool_choice"] = choice;
            wire(&request(v))
        };
        assert_eq!(with(json!("auto"))["toolConfig"]["toolChoice"], json!({"auto":{}}));
        assert_eq!(with(json!("required"))["toolConfig"]["toolChoice"], json!({"any":{}}));
        assert_eq!(with(json!({"type":"function","function":{"name":"f"}}))["toolConfig"]["toolChoice"], json!({"tool":{"name":"f"}}));
        assert!(with(json!("none")).get("toolConfig").is_none());
    }

    #[test]
    fn tool_choice_none_keeps_tools_when_the_history_has_tool_calls() {
        let req = request(json!({"model":"m","tool_choice":"none",
            "tools":[{"type":"function","function":{"name":"f"}}],
            "messages":[
                {"role":"user","content":"hi"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":""}}]},
                {"role":"tool","tool_call_id":"t1","content":"42"}
            ]}));
        let v = wire(&req);
        assert_eq!(v["toolConfig"]["tools"][0]["toolSpec"]["name"], "f");
        assert!(v["toolConfig"].get("toolChoice").is_none());
        assert_eq!(v["messages"][1]["content"][0]["toolUse"]["input"], json!({}));
        assert_eq!(v["messages"][2]["content"][0]["toolResult"]["content"], json!([{"text":"42"}]));
    }

    #[test]
    fn json_schema_output_is_a_forced_tool() {
        let req = request(json!({"model":"m","messages":[{"role":"user","content":"Give me a city"}],
            "response_format":{"type":"json_schema","json_schema":{"name":"city-info","strict":true,
                "schema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}}));
        let prepared = converse_request(&req).unwrap();
        assert_eq!(prepared.json_tool.as_deref(), Some("city_info"));
        let v = serde_json::to_value(prepared.request).unwrap();
        assert_eq!(v["toolConfig"]["toolChoice"], json!({"tool":{"name":"city_info"}}));
        assert_eq!(v["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["name"]));
    }

    #[test]
    fn json_schema_beside_client_tools_forces_some_tool() {
        let req = request(json!({"model":"m","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f"}}],
            "response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"}}}}));
        let v = wire(&req);
        assert_eq!(v["toolConfig"]["toolChoice"], json!({"any":{}}));
        assert_eq!(v["toolConfig"]["tools"][1]["toolSpec"]["name"], "out");
    }

    #[test]
    fn json_object_adds_a_system_instruction() {
        let req = request(json!({"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_object"}}));
        assert_eq!(wire(&req)["system"], json!([{"text": JSON_OBJECT_INSTRUCTION}]));
    }

    #[test]
    fn converse_members_pass_through_and_openai_only_fields_do_not() {
        let req = request(json!({"model":"m","messages":[{"role":"user","content":"x"}],"seed":7,"logit_bias":{"1":2},
            "additionalModelRequestFields":{"top_k":5},"guardrailConfig":{"guardrailIdentifier":"g","guardrailVersion":"1"}}));
        let v = wire(&req);
        assert_eq!(v["additionalModelRequestFields"], json!({"top_k":5}));
        assert_eq!(v["guardrailConfig"]["guardrailVersion"], "1");
        assert!(v.get("seed").is_none() && v.get("logit_bias").is_none());
    }

    #[test]
    fn several_choices_are_refused() {
        let req = request(json!({"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}));
        assert!(matches!(converse_request(&req), Err(ProviderError::Upstream(f)) if f.status == 400));
    }

    #[test]
    fn tool_names_follow_the_converse_pattern() {
        assert_eq!(tool_name("city-info"), "city_info");
        assert_eq!(tool_name("1st"), "j1st");
        assert_eq!(tool_name(&"a".repeat(80)).len(), 64);
    }

    fn reply(name: &str) -> ConverseResponse {
        serde_json::from_value(fixture(name)).unwrap()
    }

    #[test]
    fn a_text_reply_becomes_a_completion_with_usage() {
        let c = completion(reply("converse_response_text.json"), None, "chatcmpl-x".into(), "anthropic.claude-3-haiku-20240307-v1:0", 1);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Hello! It's nice to meet you. How can I assist you today?");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"], json!({"prompt_tokens":12,"completion_tokens":17,"total_tokens":29}));
    }

    #[test]
    fn a_tool_use_reply_becomes_tool_calls() {
        let c = completion(reply("converse_response_tool_use.json"), None, "chatcmpl-x".into(), "m", 1);
        let choice = &c.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let calls = choice.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
        assert_eq!(calls[0].function.name, "top_song");
        assert_eq!(serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(), json!({"sign":"WZPZ"}));
        assert_eq!(choice.message.content.as_deref(), Some("I'll look up the most popular song on WZPZ."));
    }

    #[test]
    fn the_structured_output_tool_becomes_text() {
        let c = completion(reply("converse_response_tool_use.json"), Some("top_song"), "chatcmpl-x".into(), "m", 1);
        let choice = &c.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
        assert!(choice.message.tool_calls.is_none());
        assert_eq!(choice.message.content.as_deref(), Some("I'll look up the most popular song on WZPZ.{\"sign\":\"WZPZ\"}"));
    }

    #[test]
    fn cache_tokens_count_as_prompt_tokens() {
        let u = usage(&TokenUsage {
            input_tokens: 4,
            output_tokens: 183,
            total_tokens: 1931,
            cache_read_input_tokens: Some(0),
            cache_write_input_tokens: Some(1744),
        });
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (1748, 183, 1931));
        assert_eq!(u.cached_tokens(), 0);
        let u = usage(&TokenUsage { input_tokens: 10, output_tokens: 5, total_tokens: 515, cache_read_input_tokens: Some(500), cache_write_input_tokens: None });
        assert_eq!((u.prompt_tokens, u.cached_tokens()), (510, 500));
    }

    #[test]
    fn stop_reasons_map_to_finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn"), false), "stop");
        assert_eq!(finish_reason(Some("stop_sequence"), false), "stop");
        assert_eq!(finish_reason(Some("max_tokens"), false), "length");
        assert_eq!(finish_reason(Some("tool_use"), true), "tool_calls");
        assert_eq!(finish_reason(Some("tool_use"), false), "stop");
        assert_eq!(finish_reason(Some("guardrail_intervened"), false), "content_filter");
        assert_eq!(finish_reason(Some("content_filtered"), false), "content_filter");
    }
}
