//! What the simulator reads from a Converse request, and the checks Bedrock makes that a
//! gateway's translation can get wrong: the conversation starts with a user turn and alternates
//! roles, text blocks are not blank, images are one of the four formats with base64 bytes,
//! tool blocks come with a `toolConfig`, `maxTokens` is in range.

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use super::errors::BedrockError;
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::openai::chat::MAX_OUTPUT_TOKENS;
use crate::state::AppState;
use crate::tokens::{count_words, prompt_tokens};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConverseRequest {
    #[serde(default)]
    messages: Option<Vec<WireMessage>>,
    #[serde(default)]
    system: Vec<Value>,
    #[serde(default)]
    inference_config: Option<InferenceConfig>,
    #[serde(default)]
    tool_config: Option<ToolConfig>,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    #[serde(default)]
    role: String,
    #[serde(default)]
    content: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct InferenceConfig {
    #[serde(default)]
    max_tokens: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    #[serde(default)]
    tools: Vec<Value>,
    #[serde(default)]
    tool_choice: Option<Value>,
}

/// Everything decided about a request before any waiting starts.
#[derive(Debug)]
pub(crate) struct Plan {
    pub model: String,
    pub tokens: u32,
    pub prompt_tokens: u64,
    /// Tool name when the reply is a tool call.
    pub tool: Option<String>,
    pub applied: Applied,
}

const BLOCK_KINDS: [&str; 10] =
    ["text", "image", "document", "video", "toolUse", "toolResult", "guardContent", "cachePoint", "reasoningContent", "citationsContent"];

pub(crate) fn plan(model: &str, body: &[u8], stream: bool, state: &AppState) -> Result<Plan, BedrockError> {
    let req: ConverseRequest = serde_json::from_slice(body)
        .map_err(|_| BedrockError::validation("Malformed input request, please reformat your input and try again."))?;
    if model.starts_with("missing-") {
        return Err(BedrockError::validation("The provided model identifier is invalid."));
    }
    let messages = req
        .messages
        .ok_or_else(|| BedrockError::validation("1 validation error detected: Value null at 'messages' failed to satisfy constraint: Member must not be null"))?;
    if messages.first().map(|m| m.role.as_str()) != Some("user") {
        return Err(BedrockError::validation("A conversation must start with a user message. Try again with a conversation that starts with a user message."));
    }
    let mut uses_tools = false;
    let mut words = Vec::with_capacity(messages.len() + 1);
    let system_words: u64 = req.system.iter().filter_map(|b| b.get("text").and_then(Value::as_str)).map(count_words).sum();
    if !req.system.is_empty() {
        words.push(system_words);
    }
    for (i, m) in messages.iter().enumerate() {
        if m.role != "user" && m.role != "assistant" {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value '{}' at 'messages.{}.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                m.role,
                i + 1
            )));
        }
        if i > 0 && messages[i - 1].role == m.role {
            return Err(BedrockError::validation(
                "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.",
            ));
        }
        if m.content.is_empty() {
            return Err(BedrockError::validation(format!("The content field in the Message object at messages.{i} is empty. Add a ContentBlock object to the content field and try again.")));
        }
        let mut n = 0;
        for (j, block) in m.content.iter().enumerate() {
            n += check_block(block, i, j, &m.role, &mut uses_tools)?;
        }
        words.push(n);
    }
    if uses_tools && req.tool_config.is_none() {
        return Err(BedrockError::validation("The toolConfig field must be defined when using toolUse and toolResult content blocks."));
    }
    let tokens = match req.inference_config.unwrap_or_default().max_tokens {
        None => state.tunables.default_completion_tokens(),
        Some(n) if n < 1 => {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value '{n}' at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )))
        }
        Some(n) if n > i64::from(MAX_OUTPUT_TOKENS) => {
            return Err(BedrockError::validation(format!(
                "The maximum tokens you requested exceeds the model limit of {MAX_OUTPUT_TOKENS}. Try again with a maximum tokens value that is lower than {MAX_OUTPUT_TOKENS}."
            )))
        }
        Some(n) => u32::try_from(n).unwrap_or(MAX_OUTPUT_TOKENS),
    };

    let kind = if stream { RequestKind::ChatStream } else { RequestKind::Chat };
    let mut applied = Applied::default();
    if let Some(last_user) = messages.iter().rev().find(|m| m.role == "user") {
        parse_markers(&texts(&last_user.content).join(" "), kind, &mut applied);
    }
    state.faults.take_for(kind, &mut applied);
    let tool = req.tool_config.as_ref().and_then(|tc| tool_call_name(tc, applied.force_tool));
    Ok(Plan { model: model.to_owned(), tokens, prompt_tokens: prompt_tokens(words), tool, applied })
}

/// Validates one content block; returns the prompt words it holds.
fn check_block(block: &Value, i: usize, j: usize, role: &str, uses_tools: &mut bool) -> Result<u64, BedrockError> {
    let at = format!("messages.{i}.content.{j}");
    let Some(obj) = block.as_object().filter(|o| o.len() == 1) else {
        return Err(BedrockError::validation(format!("The ContentBlock object at {at} must set exactly one field.")));
    };
    let (kind, value) = obj.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
    if !BLOCK_KINDS.contains(&kind) {
        return Err(BedrockError::validation(format!("The ContentBlock object at {at} has an unknown field '{kind}'.")));
    }
    match kind {
        "text" => {
            let text = value.as_str().unwrap_or_default();
            if text.trim().is_empty() {
                return Err(BedrockError::validation(format!("The text field in the ContentBlock object at {at} is blank. Add text to the text field, and try again.")));
            }
            Ok(count_words(text))
        }
        "image" => {
            if role != "user" {
                return Err(BedrockError::validation(format!("The model doesn't support images in an assistant message ({at}).")));
            }
            check_image(value, &at)?;
            Ok(0)
        }
        "toolUse" => {
            *uses_tools = true;
            if value.get("toolUseId").and_then(Value::as_str).is_none_or(str::is_empty) || value.get("name").and_then(Value::as_str).is_none() {
                return Err(BedrockError::validation(format!("The toolUse block at {at} needs a toolUseId and a name.")));
            }
            Ok(0)
        }
        "toolResult" => {
            *uses_tools = true;
            if value.get("toolUseId").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(BedrockError::validation(format!("The toolResult block at {at} needs a toolUseId.")));
            }
            let content = value.get("content").and_then(Value::as_array).cloned().unwrap_or_default();
            for (k, c) in content.iter().enumerate() {
                if let Some(img) = c.get("image") {
                    check_image(img, &format!("{at}.toolResult.content.{k}"))?;
                }
            }
            Ok(content.iter().filter_map(|c| c.get("text").and_then(Value::as_str)).map(count_words).sum())
        }
        _ => Ok(0),
    }
}

fn check_image(value: &Value, at: &str) -> Result<(), BedrockError> {
    let format = value.get("format").and_then(Value::as_str).unwrap_or_default();
    if !["png", "jpeg", "gif", "webp"].contains(&format) {
        return Err(BedrockError::validation(format!(
            "1 validation error detected: Value '{format}' at '{at}.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]"
        )));
    }
    let bytes = value.get("source").and_then(|s| s.get("bytes")).and_then(Value::as_str).unwrap_or_default();
    match base64::engine::general_purpose::STANDARD.decode(bytes) {
        Ok(b) if !b.is_empty() => Ok(()),
        _ => Err(BedrockError::validation(format!("The image at {at} has no valid base64 bytes."))),
    }
}

/// The text blocks of a turn (tool result texts included), where markers are read.
fn texts(content: &[Value]) -> Vec<&str> {
    let mut out = Vec::new();
    for block in content {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            out.push(t);
        }
        if let Some(results) = block.get("toolResult").and_then(|r| r.get("content")).and_then(Value::as_array) {
            out.extend(results.iter().filter_map(|c| c.get("text").and_then(Value::as_str)));
        }
    }
    out
}

/// A tool call is made when tools are offered and `toolChoice` is `any` (the first tool) or
/// names a tool, or when the prompt carries `[[sim:tool]]`.
fn tool_call_name(tc: &ToolConfig, forced: bool) -> Option<String> {
    let first = tc.tools.iter().find_map(|t| t.pointer("/toolSpec/name").and_then(Value::as_str))?.to_owned();
    let choice = tc.tool_choice.as_ref();
    if let Some(name) = choice.and_then(|c| c.pointer("/tool/name")).and_then(Value::as_str) {
        return Some(name.to_owned());
    }
    if choice.and_then(|c| c.get("any")).is_some() || forced {
        return Some(first);
    }
    None
}
