//! Bedrock Runtime's JSON shapes (API version 2023-09-30), as the API reference names them.
//!
//! Requests are serialized from enums (a content block is a union: exactly one member set);
//! replies are read into structs of optional members so that members this hub does not use
//! (documents, citations, guardrail traces, new block types) are skipped instead of failing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------------------------
// Converse / ConverseStream request

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<SystemBlock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_config: Option<InferenceConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Converse members a client may set directly (`additionalModelRequestFields`,
    /// `guardrailConfig`, …), passed through unchanged.
    #[serde(flatten)]
    pub passthrough: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WireRole {
    User,
    Assistant,
}

#[derive(Debug, Clone, Serialize)]
pub struct WireMessage {
    pub role: WireRole,
    pub content: Vec<ContentBlock>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemBlock {
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentBlock {
    Text(String),
    Image(ImageBlock),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageBlock {
    /// `png`, `jpeg`, `gif` or `webp`.
    pub format: &'static str,
    pub source: ImageSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImageSource {
    /// Base64 of the image bytes (JSON carries blobs as base64).
    pub bytes: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<ToolResultContent>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolResultContent {
    Json(Value),
    Text(String),
    Image(ImageBlock),
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
}

impl InferenceConfig {
    pub fn is_empty(&self) -> bool {
        self.max_tokens.is_none() && self.temperature.is_none() && self.top_p.is_none() && self.stop_sequences.is_none()
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    pub tools: Vec<ToolEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolEntry {
    pub tool_spec: ToolSpec,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub input_schema: InputSchema,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputSchema {
    pub json: Value,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ToolChoice {
    Auto(Empty),
    Any(Empty),
    Tool(NamedTool),
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

#[derive(Debug, Clone, Serialize)]
pub struct NamedTool {
    pub name: String,
}

// ---------------------------------------------------------------------------------------------
// Converse reply

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseResponse {
    #[serde(default)]
    pub output: Option<ConverseOutput>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConverseOutput {
    #[serde(default)]
    pub message: Option<OutputMessage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutputMessage {
    #[serde(default)]
    pub content: Vec<OutputBlock>,
}

/// A reply content block: one member is set; unknown members are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputBlock {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<OutputToolUse>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningContent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputToolUse {
    pub tool_use_id: String,
    pub name: String,
    #[serde(default)]
    pub input: Value,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningContent {
    #[serde(default)]
    pub reasoning_text: Option<ReasoningText>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReasoningText {
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// ConverseStream events (the payload of each event stream message, by `:event-type`)

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStartEvent {
    pub content_block_index: u32,
    #[serde(default)]
    pub start: Option<BlockStart>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    #[serde(default)]
    pub tool_use: Option<ToolUseStart>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    pub tool_use_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDeltaEvent {
    pub content_block_index: u32,
    pub delta: BlockDelta,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockDelta {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ToolUseDelta {
    #[serde(default)]
    pub input: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReasoningDelta {
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStopEvent {
    #[serde(default)]
    pub stop_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MetadataEvent {
    #[serde(default)]
    pub usage: Option<TokenUsage>,
}

/// The body of an error reply and of an exception message: `{"message":"…"}` (some AWS front
/// ends write `Message`, and some add `__type`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
    #[serde(default, rename = "__type")]
    pub kind: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// InvokeModel bodies for embedding models

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanEmbedRequest<'a> {
    pub input_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitanEmbedResponse {
    pub embedding: Vec<f32>,
    #[serde(default)]
    pub input_text_token_count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CohereEmbedRequest<'a> {
    pub texts: &'a [String],
    pub input_type: &'a str,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CohereEmbedResponse {
    pub embeddings: CohereEmbeddings,
}

/// Cohere v3 answers a list of float vectors; v4 answers them by type (`{"float":[…]}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CohereEmbeddings {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}
