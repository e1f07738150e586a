//! Pure translation between the hub's canonical (OpenAI-shaped) chat types and Gemini's
//! `generateContent` request and reply. No I/O: identifiers and the clock come in as arguments.
//!
//! Request:
//! - `system`/`developer` messages → `systemInstruction.parts` (each message one text part, in
//!   order, wherever they stand in the conversation);
//! - `user` → `user`, `assistant` → `model`; consecutive turns of one role are merged (Gemini
//!   wants them alternating), and so are tool results with the user turn around them;
//! - text → `{text}`; base64 `data:` image, audio and file parts → `{inlineData}`; `http(s)`,
//!   `gs://` image URLs → `{fileData}` with the MIME type guessed from the file extension (left
//!   out when unknown);
//! - assistant `tool_calls` → `{functionCall:{name,args}}` (arguments parsed to an object; text
//!   that is not a JSON object is wrapped as `{"arguments": text}`). Gemini 3 refuses a replayed
//!   function call without the model's `thoughtSignature`, which OpenAI-shaped history cannot
//!   carry, so every replayed call gets the placeholder Google documents for calls that did not
//!   come from the model ([`REPLAY_SIGNATURE`]);
//! - `tool` messages → `{functionResponse:{name,response}}` in a `user` turn; the name comes
//!   from the earlier tool call with the same id (or the message's `name`); a JSON object
//!   result is the response itself, anything else becomes `{"result": …}`;
//! - `tools` → one `functionDeclarations` list, parameters through [`schema::to_gemini`]
//!   (an object schema without properties is left out: Gemini refuses it);
//! - `tool_choice` auto/none/required → `AUTO`/`NONE`/`ANY`; a named function → `ANY` with
//!   `allowedFunctionNames`;
//! - `generationConfig`: `temperature`, `topP`, `maxOutputTokens` (from `max_completion_tokens`
//!   or `max_tokens`), `stopSequences`, `candidateCount` (`n`), `seed`, `presencePenalty`,
//!   `frequencyPenalty`, `topK` (from the non-OpenAI `top_k`), `thinkingConfig.thinkingBudget`
//!   from `reasoning_effort` (none 0, minimal/low 1024, medium 8192, high 24576 — the budgets
//!   Google's own OpenAI compatibility layer uses), `responseMimeType: application/json` for
//!   `json_object`, plus `responseSchema` for `json_schema`.
//! - dropped, having no Gemini counterpart: `user`, `logit_bias`, `logprobs`,
//!   `parallel_tool_calls`, `service_tier`, `store`, `metadata`, message `name`s, image
//!   `detail`, tool-call ids (Gemini has none of its own to match), `strict`.
//!
//! Reply: text parts (thoughts skipped) concatenated into `content`; function calls become
//! `tool_calls` with generated `call_…` ids (Gemini gives none) and the args as JSON text;
//! `finishReason` → [`finish_reason`]; `usageMetadata` → [`usage`]; `modelVersion` → `model`;
//! `responseId` → `id`; every candidate a choice. A prompt Gemini refused (`promptFeedback`)
//! becomes one empty choice finished by `content_filter`.

use std::collections::HashMap;

use hub_core::chat::{
    ChatCompletion, ChatRequest, Choice, Content as ChatContent, ContentPart, FunctionCall as ChatFunctionCall, Message, PromptTokensDetails, ResponseFormat, ResponseMessage, Role, Stop,
    ToolCall, Usage,
};
use serde_json::{Map, Value};

use super::schema;
use super::wire::{
    Blob, Candidate, Content, FileData, FunctionCall, FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest, GenerateContentResponse, GenerationConfig, Part,
    ThinkingConfig, Tool, ToolConfig, UsageMetadata,
};
use crate::error::ProviderError;

/// Google's documented stand-in signature for function calls replayed from elsewhere.
pub const REPLAY_SIGNATURE: &str = "skip_thought_signature_validator";

const USER: &str = "user";
const MODEL: &str = "model";

/// The Gemini request for a canonical chat request.
pub fn request(req: &ChatRequest) -> Result<GenerateContentRequest, ProviderError> {
    let call_names = tool_call_names(&req.messages);
    let mut system = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    for m in &req.messages {
        match m.role {
            Role::System | Role::Developer => {
                let text = plain_text(m.content.as_ref());
                if !text.is_empty() {
                    system.push(Part::text(text));
                }
            }
            Role::User => push_turn(&mut contents, USER, user_parts(m.content.as_ref())?),
            Role::Assistant => push_turn(&mut contents, MODEL, assistant_parts(m)),
            Role::Tool | Role::Function => {
                let name = m
                    .tool_call_id
                    .as_ref()
                    .and_then(|id| call_names.get(id.as_str()).map(|n| (*n).to_owned()))
                    .or_else(|| m.name.clone())
                    .ok_or(ProviderError::Unsupported("tool results that answer no earlier tool call"))?;
                let response = tool_response(&plain_text(m.content.as_ref()));
                let part = Part { function_response: Some(FunctionResponse { name, response }), ..Part::default() };
                push_turn(&mut contents, USER, vec![part]);
            }
        }
    }
    let declarations = function_declarations(req);
    let tool_config = if declarations.is_empty() { None } else { tool_config(req.tool_choice.as_ref()) };
    let generation_config = generation_config(req);
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then_some(Content { role: None, parts: system }),
        tools: if declarations.is_empty() { Vec::new() } else { vec![Tool { function_declarations: declarations }] },
        tool_config,
        generation_config: (!generation_config.is_empty()).then_some(generation_config),
    })
}

/// Tool-call id → function name, over every assistant message.
fn tool_call_names(messages: &[Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter_map(|m| m.tool_calls.as_ref())
        .flatten()
        .map(|c| (c.id.as_str(), c.function.name.as_str()))
        .collect()
}

fn push_turn(contents: &mut Vec<Content>, role: &str, parts: Vec<Part>) {
    if parts.is_empty() {
        return;
    }
    match contents.last_mut() {
        Some(last) if last.role.as_deref() == Some(role) => last.parts.extend(parts),
        _ => contents.push(Content { role: Some(role.to_owned()), parts }),
    }
}

/// The text of a message: a string, or its text (and refusal) parts joined.
fn plain_text(content: Option<&ChatContent>) -> String {
    match content {
        None => String::new(),
        Some(ChatContent::Text(t)) => t.clone(),
        Some(ChatContent::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text.as_str()),
                ContentPart::Refusal { refusal } => Some(refusal.as_str()),
                _ => None,
            })
            .collect(),
    }
}

fn user_parts(content: Option<&ChatContent>) -> Result<Vec<Part>, ProviderError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(ChatContent::Text(t)) => return Ok(if t.is_empty() { Vec::new() } else { vec![Part::text(t.clone())] }),
        Some(ChatContent::Parts(parts)) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        match p {
            ContentPart::Text { text } | ContentPart::Refusal { refusal: text } => {
                if !text.is_empty() {
                    out.push(Part::text(text.clone()));
                }
            }
            ContentPart::ImageUrl { image_url } => out.push(image_part(&image_url.url)?),
            ContentPart::InputAudio { input_audio } => out.push(audio_part(input_audio)?),
            ContentPart::File { file } => out.push(file_part(file)?),
        }
    }
    Ok(out)
}

fn image_part(url: &str) -> Result<Part, ProviderError> {
    if url.starts_with("data:") {
        let blob = data_url(url).ok_or(ProviderError::Unsupported("image data: URLs that are not base64 with a MIME type"))?;
        return Ok(Part { inline_data: Some(blob), ..Part::default() });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("gs://") {
        let file = FileData { mime_type: mime_from_extension(url).map(str::to_owned), file_uri: url.to_owned() };
        return Ok(Part { file_data: Some(file), ..Part::default() });
    }
    Err(ProviderError::Unsupported("image URLs other than base64 data: URLs and http(s) URLs"))
}

/// `data:<mime>[;params];base64,<data>` → its MIME type and base64 payload.
pub fn data_url(url: &str) -> Option<Blob> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let meta = meta.strip_suffix(";base64")?;
    let mime = meta.split(';').next().unwrap_or("").trim();
    if mime.is_empty() || !mime.contains('/') {
        return None;
    }
    Some(Blob { mime_type: mime.to_ascii_lowercase(), data: data.trim().to_owned() })
}

fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// OpenAI `input_audio` (`{data, format}`, base64) → inline audio.
fn audio_part(audio: &Value) -> Result<Part, ProviderError> {
    let data = audio.get("data").and_then(Value::as_str);
    let format = audio.get("format").and_then(Value::as_str);
    let (Some(data), Some(format)) = (data, format) else {
        return Err(ProviderError::Unsupported("audio parts without base64 data and a format"));
    };
    let mime = match format {
        "mp3" => "audio/mp3".to_owned(),
        other => format!("audio/{other}"),
    };
    Ok(Part { inline_data: Some(Blob { mime_type: mime, data: data.to_owned() }), ..Part::default() })
}

/// OpenAI `file` parts with inline `file_data` (a base64 data: URL) → inline data. Uploaded
/// OpenAI file ids mean nothing to Gemini.
fn file_part(file: &Value) -> Result<Part, ProviderError> {
    let blob = file
        .get("file_data")
        .and_then(Value::as_str)
        .and_then(data_url)
        .ok_or(ProviderError::Unsupported("file parts other than base64 data: URLs"))?;
    Ok(Part { inline_data: Some(blob), ..Part::default() })
}

fn assistant_parts(m: &Message) -> Vec<Part> {
    let mut parts = Vec::new();
    let text = plain_text(m.content.as_ref());
    if !text.is_empty() {
        parts.push(Part::text(text));
    }
    for call in m.tool_calls.iter().flatten() {
        let args = match serde_json::from_str::<Value>(&call.function.arguments) {
            Ok(v @ Value::Object(_)) => v,
            _ if call.function.arguments.trim().is_empty() => Value::Object(Map::new()),
            _ => Value::Object(Map::from_iter([("arguments".to_owned(), Value::String(call.function.arguments.clone()))])),
        };
        parts.push(Part {
            function_call: Some(FunctionCall { id: None, name: call.function.name.clone(), args: Some(args) }),
            thought_signature: Some(REPLAY_SIGNATURE.to_owned()),
            ..Part::default()
        });
    }
    parts
}

/// A tool result as Gemini's `response` object.
fn tool_response(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(other) => Value::Object(Map::from_iter([("result".to_owned(), other)])),
        Err(_) => Value::Object(Map::from_iter([("result".to_owned(), Value::String(text.to_owned()))])),
    }
}

fn function_declarations(req: &ChatRequest) -> Vec<FunctionDeclaration> {
    req.tools
        .iter()
        .flatten()
        .filter(|t| t.kind == "function")
        .map(|t| FunctionDeclaration {
            name: t.function.name.clone(),
            description: t.function.description.clone(),
            parameters: t.function.parameters.as_ref().map(schema::to_gemini).filter(has_content),
        })
        .collect()
}

/// Gemini refuses `{"type":"OBJECT"}` with no properties as function parameters.
fn has_content(schema: &Value) -> bool {
    match schema.get("type").and_then(Value::as_str) {
        Some("OBJECT") | None => schema.get("properties").is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty())) || schema.get("anyOf").is_some(),
        Some(_) => true,
    }
}

fn tool_config(choice: Option<&Value>) -> Option<ToolConfig> {
    let (mode, names) = match choice? {
        Value::String(s) => match s.as_str() {
            "none" => ("NONE", None),
            "required" => ("ANY", None),
            _ => ("AUTO", None),
        },
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str)?;
                ("ANY", Some(vec![name.to_owned()]))
            }
            // `{"type":"allowed_tools","allowed_tools":{"mode":"auto"|"required","tools":[…]}}`
            Some("allowed_tools") => {
                let allowed = o.get("allowed_tools")?;
                let names: Vec<String> = allowed
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).map(str::to_owned))
                    .collect();
                let mode = if allowed.get("mode").and_then(Value::as_str) == Some("required") { "ANY" } else { "AUTO" };
                (mode, (!names.is_empty()).then_some(names))
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(ToolConfig { function_calling_config: FunctionCallingConfig { mode, allowed_function_names: names } })
}

fn generation_config(req: &ChatRequest) -> GenerationConfig {
    let number = |key: &str| req.extra.get(key).and_then(Value::as_f64);
    let (response_mime_type, response_schema) = match &req.response_format {
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { json_schema }) => (Some("application/json"), json_schema.get("schema").map(schema::to_gemini)),
        Some(ResponseFormat::Text) | None => (None, None),
    };
    let thinking_budget = req.extra.get("reasoning_effort").and_then(Value::as_str).and_then(|e| match e {
        "none" => Some(0),
        "minimal" | "low" => Some(1024),
        "medium" => Some(8192),
        "high" => Some(24576),
        _ => None,
    });
    GenerationConfig {
        stop_sequences: match &req.stop {
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
            None => Vec::new(),
        },
        candidate_count: req.n,
        max_output_tokens: req.output_limit(),
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.extra.get("top_k").and_then(Value::as_u64),
        seed: req.seed,
        presence_penalty: number("presence_penalty"),
        frequency_penalty: number("frequency_penalty"),
        response_mime_type,
        response_schema,
        thinking_config: thinking_budget.map(|thinking_budget| ThinkingConfig { thinking_budget }),
    }
}

// ---------------------------------------------------------------------------------------------
// Replies

/// OpenAI's `finish_reason` for Gemini's. Gemini ends a function-calling turn with `STOP`.
pub fn finish_reason(reason: &str, tool_calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" | "IMAGE_PROHIBITED_CONTENT" | "IMAGE_RECITATION" => "content_filter",
        _ if tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// Canonical usage: input includes tool-use prompt tokens and cached tokens; output includes the
/// model's thinking (Google bills it as output), also reported as `reasoning_tokens`.
pub fn usage(u: &UsageMetadata) -> Usage {
    let prompt = u.prompt_token_count.unwrap_or(0) + u.tool_use_prompt_token_count.unwrap_or(0);
    let thoughts = u.thoughts_token_count.unwrap_or(0);
    let completion = u.candidates_token_count.unwrap_or(0) + thoughts;
    let mut extra = Map::new();
    if thoughts > 0 {
        extra.insert("completion_tokens_details".to_owned(), Value::Object(Map::from_iter([("reasoning_tokens".to_owned(), Value::from(thoughts))])));
    }
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: u.total_token_count.unwrap_or(prompt + completion),
        prompt_tokens_details: u.cached_content_token_count.map(|c| PromptTokensDetails { cached_tokens: Some(c), extra: Map::new() }),
        extra,
    }
}

/// The answer text of a candidate (thought parts left out) and its function calls.
pub fn candidate_output(c: &Candidate) -> (String, Vec<&FunctionCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in c.content.iter().flat_map(|c| c.parts.iter()) {
        if let Some(call) = &part.function_call {
            calls.push(call);
        } else if let (Some(t), false) = (&part.text, part.thought.unwrap_or(false)) {
            text.push_str(t);
        }
    }
    (text, calls)
}

/// A function call as an OpenAI tool call; `new_id` makes the `call_…` suffix.
pub fn tool_call(call: &FunctionCall, new_id: &mut dyn FnMut() -> String) -> ToolCall {
    let arguments = match &call.args {
        Some(args) => serde_json::to_string(args).unwrap_or_else(|_| "{}".to_owned()),
        None => "{}".to_owned(),
    };
    ToolCall {
        id: call.id.clone().filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{}", new_id())),
        kind: "function".to_owned(),
        function: ChatFunctionCall { name: call.name.clone(), arguments },
    }
}

/// A complete reply as a chat completion. `model` is used when Gemini names no `modelVersion`.
pub fn completion(resp: &GenerateContentResponse, model: &str, created: i64, new_id: &mut dyn FnMut() -> String) -> ChatCompletion {
    let mut choices: Vec<Choice> = resp
        .candidates
        .iter()
        .enumerate()
        .map(|(pos, c)| {
            let (text, calls) = candidate_output(c);
            let tool_calls: Vec<ToolCall> = calls.into_iter().map(|call| tool_call(call, new_id)).collect();
            let finish = c.finish_reason.as_deref().map(|r| finish_reason(r, !tool_calls.is_empty()).to_owned());
            Choice {
                index: c.index.unwrap_or(u32::try_from(pos).unwrap_or(u32::MAX)),
                message: ResponseMessage {
                    role: Role::Assistant,
                    content: if text.is_empty() && !tool_calls.is_empty() { None } else { Some(text) },
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    extra: Map::new(),
                },
                finish_reason: finish,
                extra: Map::new(),
            }
        })
        .collect();
    if choices.is_empty() {
        let blocked = resp.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_ref()).is_some();
        choices.push(Choice {
            index: 0,
            message: ResponseMessage { role: Role::Assistant, content: Some(String::new()), tool_calls: None, extra: Map::new() },
            finish_reason: Some(if blocked { "content_filter" } else { "stop" }.to_owned()),
            extra: Map::new(),
        });
    }
    ChatCompletion {
        id: resp.response_id.clone().unwrap_or_else(|| format!("chatcmpl-{}", new_id())),
        object: "chat.completion".to_owned(),
        created,
        model: resp.model_version.clone().unwrap_or_else(|| model.to_owned()),
        choices,
        usage: resp.usage_metadata.as_ref().map(usage),
        extra: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    fn translate(body: Value) -> Value {
        let req: ChatRequest = serde_json::from_value(body).unwrap();
        serde_json::to_value(request(&req).unwrap()).unwrap()
    }

    #[test]
    fn a_full_conversation_matches_the_fixture() {
        let canonical: Value = serde_json::from_str(&fixture("request_canonical.json")).unwrap();
        let expected: Value = serde_json::from_str(&fixture("request_gemini.json")).unwrap();
        assert_eq!(translate(canonical), expected);
    }

    #[test]
    fn tool_choice_modes() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]});
        let with = |choice: Value| {
            let mut b = base.clone();
            b["tool_choice"] = choice;
            translate(b)
        };
        assert_eq!(with(json!("auto"))["toolConfig"], json!({"functionCallingConfig": {"mode": "AUTO"}}));
        assert_eq!(with(json!("none"))["toolConfig"], json!({"functionCallingConfig": {"mode": "NONE"}}));
        assert_eq!(with(json!("required"))["toolConfig"], json!({"functionCallingConfig": {"mode": "ANY"}}));
        assert_eq!(
            with(json!({"type": "function", "function": {"name": "f"}}))["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
        // Empty parameters are left out; no tool_choice, no toolConfig.
        let out = translate(base.clone());
        assert_eq!(out["tools"], json!([{"functionDeclarations": [{"name": "f"}]}]));
        assert!(out.get("toolConfig").is_none());
    }

    #[test]
    fn json_output_and_generation_settings() {
        let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true,
                "schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"], "additionalProperties": false}}},
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "stop": "END", "n": 2, "seed": 7,
            "presence_penalty": 0.5, "reasoning_effort": "low", "user": "u-1", "logit_bias": {"1": 2}}));
        assert_eq!(
            out["generationConfig"],
            json!({"stopSequences": ["END"], "candidateCount": 2, "maxOutputTokens": 50, "temperature": 0.2, "topP": 0.9, "seed": 7,
                "presencePenalty": 0.5, "responseMimeType": "application/json",
                "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}, "required": ["a"]},
                "thinkingConfig": {"thinkingBudget": 1024}})
        );
        let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}));
        assert_eq!(out["generationConfig"], json!({"responseMimeType": "application/json"}));
        let out = translate(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert!(out.get("generationConfig").is_none());
    }

    #[test]
    fn odd_inputs_are_refused_not_sent() {
        let bad = |body: Value| {
            let req: ChatRequest = serde_json::from_value(body).unwrap();
            request(&req).err()
        };
        let part = |url: &str| json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]});
        assert!(matches!(bad(part("data:image/png,rawbytes")), Some(ProviderError::Unsupported(_))));
        assert!(matches!(bad(part("ftp://x/y.png")), Some(ProviderError::Unsupported(_))));
        assert!(bad(part("gs://bucket/cat.png")).is_none());
        let orphan = json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "nope", "content": "1"}]});
        assert!(matches!(bad(orphan), Some(ProviderError::Unsupported(_))));
    }

    #[test]
    fn text_reply_with_thoughts_and_cache() {
        let resp: GenerateContentResponse = serde_json::from_str(&fixture("generate_text.json")).unwrap();
        let c = completion(&resp, "gemini-2.5-flash", 1, &mut ids());
        assert_eq!(c.id, "g6eJafflLZKRkdUPoZCXmA0");
        assert_eq!(c.model, "gemini-2.5-flash");
        assert_eq!(c.choices[0].message.content.as_deref(), Some("Warsaw is the capital of Poland."));
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("stop"));
        let u = c.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens, u.cached_tokens()), (15, 37, 52, 4));
        assert_eq!(u.extra["completion_tokens_details"]["reasoning_tokens"], 30);
    }

    #[test]
    fn function_call_reply() {
        let resp: GenerateContentResponse = serde_json::from_str(&fixture("generate_function_call.json")).unwrap();
        let c = completion(&resp, "m", 1, &mut ids());
        let choice = &c.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(choice.message.content, None);
        let calls = choice.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "call_id1");
        assert_eq!(calls[0].kind, "function");
        assert_eq!(calls[0].function.name, "get_weather");
        assert_eq!(calls[0].function.arguments, r#"{"City":"New York"}"#);
        assert_eq!(c.usage.unwrap().total_tokens, 129);
    }

    #[test]
    fn candidates_limits_filters_and_blocked_prompts() {
        let resp: GenerateContentResponse = serde_json::from_str(&fixture("generate_max_tokens_two_candidates.json")).unwrap();
        let c = completion(&resp, "m", 1, &mut ids());
        assert_eq!(c.choices.len(), 2);
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("length"));
        assert_eq!(c.choices[1].index, 1);
        assert_eq!(c.choices[1].finish_reason.as_deref(), Some("content_filter"));
        let resp: GenerateContentResponse = serde_json::from_str(&fixture("generate_prompt_blocked.json")).unwrap();
        let c = completion(&resp, "m", 1, &mut ids());
        assert_eq!(c.choices[0].finish_reason.as_deref(), Some("content_filter"));
        assert_eq!(c.usage.unwrap().prompt_tokens, 12);
    }
}
