//! `POST /api/v2/chat`: the AIGNE chat input → [`ChatRequest`], and the canonical reply or
//! chunks → the AIGNE reply object or `delta` events.
//!
//! Roles `system|user|agent|tool` become `system|user|assistant|tool`; tool-call arguments travel
//! as JSON objects on this side and as JSON text on the canonical side; `url` and `file` content
//! parts become `image_url` parts (data URLs for files) or OpenAI `file` parts for non-images.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{invalid, required_model, OutputUsage};
use crate::chat::{
    ChatChunk, ChatCompletion, ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl, Message, ResponseFormat, Role, StreamOptions,
    Tool, ToolCall, Usage,
};
use crate::validate::InvalidRequest;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatInput {
    pub messages: Vec<InputMessage>,
    #[serde(default)]
    pub model_options: Option<ModelOptions>,
    /// Some callers name the model at the top level.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub tools: Option<Vec<InputTool>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub response_format: Option<InputResponseFormat>,
    /// `url` (what the SDK always sends) or `file`; chat replies carry no files today.
    #[serde(default)]
    pub output_file_type: Option<String>,
}

/// The model options the hub maps; the rest (`cacheConfig`, `modalities`, …) are dropped.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelOptions {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// `minimal|low|medium|high`, or a thinking budget in tokens (not mapped).
    #[serde(default)]
    pub reasoning_effort: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    System,
    User,
    Agent,
    Tool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputMessage {
    pub role: InputRole,
    #[serde(default)]
    pub content: Option<InputContent>,
    #[serde(default)]
    pub tool_calls: Option<Vec<InputToolCall>>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum InputContent {
    Text(String),
    Parts(Vec<InputPart>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum InputPart {
    Text {
        text: String,
    },
    Url {
        url: String,
        #[serde(default, rename = "mimeType")]
        mime_type: Option<String>,
    },
    File {
        data: String,
        #[serde(default, rename = "mimeType")]
        mime_type: Option<String>,
        #[serde(default)]
        filename: Option<String>,
    },
    /// A path on the caller's machine: meaningless to a remote hub (the SDK inlines these).
    Local {
        #[serde(default)]
        path: Option<String>,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputToolCall {
    pub id: String,
    pub function: InputFunctionCall,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputFunctionCall {
    pub name: String,
    /// A JSON object (a string is taken as JSON text already).
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputTool {
    pub function: InputFunctionDef,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputFunctionDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        #[serde(rename = "jsonSchema")]
        json_schema: InputJsonSchema,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct InputJsonSchema {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub schema: Value,
    #[serde(default)]
    pub strict: Option<bool>,
}

/// The canonical request for an AIGNE chat input. Streamed calls ask the upstream for usage: the
/// final event carries it.
pub fn to_chat_request(input: ChatInput, stream: bool) -> Result<ChatRequest, InvalidRequest> {
    let opts = input.model_options.unwrap_or_default();
    let model = required_model(opts.model.as_deref(), input.model.as_deref())?;
    let messages = input.messages.into_iter().map(message).collect::<Result<Vec<_>, _>>()?;
    let tools: Option<Vec<Tool>> = input.tools.filter(|t| !t.is_empty()).map(|tools| tools.into_iter().map(tool).collect());
    let mut extra = Map::new();
    if let Some(v) = opts.frequency_penalty {
        extra.insert("frequency_penalty".to_owned(), Value::from(v));
    }
    if let Some(v) = opts.presence_penalty {
        extra.insert("presence_penalty".to_owned(), Value::from(v));
    }
    // OpenAI refuses `parallel_tool_calls` without tools; the SDK always sends it.
    if let (Some(v), Some(_)) = (opts.parallel_tool_calls, &tools) {
        extra.insert("parallel_tool_calls".to_owned(), Value::Bool(v));
    }
    if let Some(Value::String(effort)) = opts.reasoning_effort {
        extra.insert("reasoning_effort".to_owned(), Value::String(effort));
    }
    let tool_choice = match (input.tool_choice, &tools) {
        (Some(choice), Some(_)) => Some(tool_choice(choice)?),
        _ => None,
    };
    Ok(ChatRequest {
        model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions { include_usage: Some(true), extra: Map::new() }),
        max_tokens: opts.max_tokens,
        max_completion_tokens: None,
        n: None,
        temperature: opts.temperature,
        top_p: opts.top_p,
        stop: None,
        seed: None,
        user: None,
        tools,
        tool_choice,
        response_format: input.response_format.and_then(response_format),
        extra,
    })
}

fn message(m: InputMessage) -> Result<Message, InvalidRequest> {
    let role = match m.role {
        InputRole::System => Role::System,
        InputRole::User => Role::User,
        InputRole::Agent => Role::Assistant,
        InputRole::Tool => Role::Tool,
    };
    if role == Role::Tool && m.tool_call_id.as_deref().is_none_or(str::is_empty) {
        return Err(invalid("input.messages", "a message with role 'tool' needs 'toolCallId', the id of the call it answers"));
    }
    let content = m.content.map(content).transpose()?;
    let tool_calls = m.tool_calls.filter(|c| !c.is_empty()).map(|calls| calls.into_iter().map(tool_call).collect());
    Ok(Message { role, content, name: m.name, tool_calls, tool_call_id: m.tool_call_id, extra: Map::new() })
}

fn content(c: InputContent) -> Result<Content, InvalidRequest> {
    match c {
        InputContent::Text(t) => Ok(Content::Text(t)),
        InputContent::Parts(parts) => parts.into_iter().map(part).collect::<Result<Vec<_>, _>>().map(Content::Parts),
    }
}

fn part(p: InputPart) -> Result<ContentPart, InvalidRequest> {
    Ok(match p {
        InputPart::Text { text } => ContentPart::Text { text },
        InputPart::Url { url, .. } => ContentPart::ImageUrl { image_url: ImageUrl { url, detail: None } },
        InputPart::File { data, mime_type, filename } => {
            let mime = mime_type.unwrap_or_else(|| "image/png".to_owned());
            let data_url = format!("data:{mime};base64,{data}");
            if mime.starts_with("image/") {
                ContentPart::ImageUrl { image_url: ImageUrl { url: data_url, detail: None } }
            } else {
                let mut file = Map::new();
                file.insert("file_data".to_owned(), Value::String(data_url));
                if let Some(name) = filename {
                    file.insert("filename".to_owned(), Value::String(name));
                }
                ContentPart::File { file: Value::Object(file) }
            }
        }
        InputPart::Local { .. } => {
            return Err(invalid("input.messages", "content of type 'local' names a file on the caller's machine; send it as 'file' (base64) or 'url'"))
        }
    })
}

fn tool_call(c: InputToolCall) -> ToolCall {
    let arguments = match c.function.arguments {
        Value::String(text) => text,
        Value::Null => "{}".to_owned(),
        other => other.to_string(),
    };
    ToolCall { id: c.id, kind: "function".to_owned(), function: FunctionCall { name: c.function.name, arguments } }
}

fn tool(t: InputTool) -> Tool {
    let f = t.function;
    Tool { kind: "function".to_owned(), function: FunctionDef { name: f.name, description: f.description, parameters: f.parameters, strict: None } }
}

/// `auto|none|required` pass; a tool object names the one function to call.
fn tool_choice(choice: Value) -> Result<Value, InvalidRequest> {
    match &choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(choice),
        Value::Object(o) => match o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str) {
            Some(name) => Ok(serde_json::json!({"type": "function", "function": {"name": name}})),
            None => Err(invalid("input.toolChoice", "'toolChoice' as an object must be a tool: {\"type\":\"function\",\"function\":{\"name\":…}}")),
        },
        _ => Err(invalid("input.toolChoice", "'toolChoice' must be 'auto', 'none', 'required' or a tool")),
    }
}

fn response_format(f: InputResponseFormat) -> Option<ResponseFormat> {
    match f {
        InputResponseFormat::Text => None,
        InputResponseFormat::JsonObject => Some(ResponseFormat::JsonObject),
        InputResponseFormat::JsonSchema { json_schema: s } => {
            let mut o = Map::new();
            o.insert("name".to_owned(), Value::String(s.name));
            if let Some(d) = s.description {
                o.insert("description".to_owned(), Value::String(d));
            }
            o.insert("schema".to_owned(), s.schema);
            if let Some(strict) = s.strict {
                o.insert("strict".to_owned(), Value::Bool(strict));
            }
            Some(ResponseFormat::JsonSchema { json_schema: Value::Object(o) })
        }
    }
}

/// Whether the reply's text is meant as JSON (the reply then carries it parsed, as `json`).
pub fn wants_json(req: &ChatRequest) -> bool {
    matches!(req.response_format, Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }))
}

// ---------------------------------------------------------------------------------------------
// Replies

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: OutputFunction,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputFunction {
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

/// The non-streamed reply: `{"text","toolCalls"?,"json"?,"model","usage"?}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatReply {
    pub text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutputToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    pub model: String,
    /// Absent when the upstream did not report usage (the hub never invents numbers here).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<OutputUsage>,
}

/// The upstream produced a tool call whose arguments are not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the upstream's call to tool '{name}' has arguments that are not a JSON object")]
pub struct BadArguments {
    pub name: String,
}

/// JSON-text arguments → the object the AIGNE side expects (empty text is `{}`).
pub fn arguments_object(name: &str, text: &str) -> Result<Value, BadArguments> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(BadArguments { name: name.to_owned() }),
    }
}

/// JSON-mode text parsed, when it is a JSON object; otherwise the reply carries the text only.
fn parse_json_text(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text.trim()).ok().filter(Value::is_object)
}

/// The first choice of a completion as the AIGNE reply. `model` names the model when the
/// upstream's reply does not.
pub fn to_reply(c: ChatCompletion, json_mode: bool, model: &str) -> Result<ChatReply, BadArguments> {
    let usage = c.usage.as_ref().map(OutputUsage::from_canonical);
    let model = if c.model.is_empty() { model.to_owned() } else { c.model };
    let (text, calls) = match c.choices.into_iter().next() {
        Some(choice) => (choice.message.content.unwrap_or_default(), choice.message.tool_calls.unwrap_or_default()),
        None => (String::new(), Vec::new()),
    };
    let tool_calls = calls
        .into_iter()
        .map(|t| {
            let arguments = arguments_object(&t.function.name, &t.function.arguments)?;
            Ok(OutputToolCall { id: t.id, kind: "function", function: OutputFunction { name: t.function.name, arguments } })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let json = (json_mode && tool_calls.is_empty()).then(|| parse_json_text(&text)).flatten();
    Ok(ChatReply { text, tool_calls, json, model, usage })
}

// ---------------------------------------------------------------------------------------------
// Streaming

#[derive(Serialize)]
struct TextEvent<'a> {
    delta: TextDelta<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    text: TextField<'a>,
}

#[derive(Serialize)]
struct TextField<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    delta: JsonDelta<'a>,
}

#[derive(Serialize)]
struct JsonDelta<'a> {
    json: &'a FinalFields,
}

/// What the last event sets on the SDK's output object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalFields {
    pub model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<OutputUsage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<OutputToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

#[derive(Debug, Default)]
struct PartialCall {
    index: u32,
    id: String,
    name: String,
    arguments: String,
}

/// Turns canonical chunks into AIGNE `delta` events: text goes out as it comes
/// (`{"delta":{"text":{"text":…}}}`); tool calls (assembled from their fragments across chunks),
/// usage, the model and JSON-mode output go in one final `{"delta":{"json":{…}}}`.
#[derive(Debug, Default)]
pub struct StreamTranslator {
    json_mode: bool,
    /// The whole text, kept only in JSON mode (to parse at the end).
    text: String,
    calls: Vec<PartialCall>,
    usage: Option<Usage>,
    model: String,
}

impl StreamTranslator {
    pub fn new(json_mode: bool, model: &str) -> StreamTranslator {
        StreamTranslator { json_mode, model: model.to_owned(), ..StreamTranslator::default() }
    }

    /// The event (JSON bytes) to send for one chunk, if it carries text.
    pub fn push(&mut self, chunk: &ChatChunk) -> Option<Vec<u8>> {
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        if !chunk.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        let choice = chunk.choices.iter().find(|c| c.index == 0)?;
        for d in choice.delta.tool_calls.iter().flatten() {
            let pos = match self.calls.iter().position(|c| c.index == d.index) {
                Some(p) => p,
                None => {
                    self.calls.push(PartialCall { index: d.index, ..PartialCall::default() });
                    self.calls.len() - 1
                }
            };
            let Some(call) = self.calls.get_mut(pos) else { continue };
            if let Some(id) = &d.id {
                call.id.clone_from(id);
            }
            if let Some(f) = &d.function {
                if let Some(n) = &f.name {
                    call.name.push_str(n);
                }
                if let Some(a) = &f.arguments {
                    call.arguments.push_str(a);
                }
            }
        }
        let text = choice.delta.content.as_deref().filter(|t| !t.is_empty())?;
        if self.json_mode {
            self.text.push_str(text);
        }
        serde_json::to_vec(&TextEvent { delta: TextDelta { text: TextField { text } } }).ok()
    }

    /// What the final event sets: usage, model, the assembled tool calls, JSON-mode output.
    pub fn final_fields(&mut self) -> Result<FinalFields, BadArguments> {
        let mut calls = std::mem::take(&mut self.calls);
        calls.sort_by_key(|c| c.index);
        let tool_calls = calls
            .into_iter()
            .map(|c| {
                let arguments = arguments_object(&c.name, &c.arguments)?;
                Ok(OutputToolCall { id: c.id, kind: "function", function: OutputFunction { name: c.name, arguments } })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let json = (self.json_mode && tool_calls.is_empty()).then(|| parse_json_text(&self.text)).flatten();
        Ok(FinalFields { model: self.model.clone(), usage: self.usage.as_ref().map(OutputUsage::from_canonical), tool_calls, json })
    }

    /// The final event as JSON bytes.
    pub fn finish(&mut self) -> Result<Vec<u8>, BadArguments> {
        let fields = self.final_fields()?;
        Ok(serde_json::to_vec(&JsonEvent { delta: JsonDelta { json: &fields } }).unwrap_or_default())
    }
}
