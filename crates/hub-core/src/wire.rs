//! Replies that may stay in the OpenAI wire format.
//!
//! When the provider speaks the OpenAI protocol and the client does too, re-parsing every reply
//! and chunk into typed structs only to serialize them again costs allocations on the hot path
//! and can drop fields the hub does not model. Adapters for such providers hand back the
//! upstream's JSON untouched, together with the few facts the hub needs (usage, how much output
//! there was); everything else stays typed. Consumers that need the typed form parse on demand.

use bytes::Bytes;
use serde::Deserialize;

use crate::chat::{ChatChunk, ChatCompletion, Usage};

/// A complete, non-streamed reply.
#[derive(Debug, Clone)]
pub enum Completion {
    Typed(ChatCompletion),
    /// An OpenAI `chat.completion` object exactly as the upstream sent it.
    /// `output_chars` is counted on demand when the probe did not need to walk the reply.
    /// `service_tier` is read in the same walk that finds `usage`.
    OpenAiJson { body: Bytes, usage: Option<Usage>, output_chars: Option<usize>, service_tier: Option<String> },
}

/// One streamed chunk.
#[derive(Debug, Clone)]
pub enum Chunk {
    Typed(ChatChunk),
    /// An OpenAI `chat.completion.chunk` object exactly as the upstream sent it.
    OpenAiJson { json: Bytes, usage: Option<Usage>, output_chars: usize, usage_only: bool },
}

#[derive(Debug, thiserror::Error)]
#[error("the reply is not valid OpenAI JSON: {0}")]
pub struct WireError(#[from] serde_json::Error);

impl Completion {
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            Completion::Typed(c) => c.usage.as_ref(),
            Completion::OpenAiJson { usage, .. } => usage.as_ref(),
        }
    }

    pub fn output_chars(&self) -> usize {
        match self {
            Completion::Typed(c) => c
                .choices
                .iter()
                .map(|ch| ch.message.content.as_deref().map_or(0, str::len) + tool_call_chars(ch.message.tool_calls.as_deref()))
                .sum(),
            Completion::OpenAiJson { body, output_chars, .. } => output_chars.unwrap_or_else(|| {
                serde_json::from_slice::<Probe<'_>>(body).map_or(0, |p| p.choices.iter().map(|c| c.message.as_ref().map_or(0, ProbeText::chars)).sum())
            }),
        }
    }

    /// The processing tier the upstream reports it used (`service_tier`), when it says.
    pub fn service_tier(&self) -> Option<String> {
        match self {
            Completion::Typed(c) => c.extra.get("service_tier").and_then(serde_json::Value::as_str).map(str::to_owned),
            Completion::OpenAiJson { service_tier, .. } => service_tier.clone(),
        }
    }

    /// The reply as OpenAI JSON bytes (no work when it already is).
    pub fn to_openai_json(&self) -> Result<Bytes, WireError> {
        match self {
            Completion::Typed(c) => Ok(Bytes::from(serde_json::to_vec(c)?)),
            Completion::OpenAiJson { body, .. } => Ok(body.clone()),
        }
    }

    /// The typed reply (parses when it is still in wire form).
    pub fn into_typed(self) -> Result<ChatCompletion, WireError> {
        match self {
            Completion::Typed(c) => Ok(c),
            Completion::OpenAiJson { body, .. } => Ok(serde_json::from_slice(&body)?),
        }
    }

    /// Reads the facts the hub needs from an OpenAI reply without building the typed tree.
    /// With believable usage only the `usage` member is parsed (the output size only matters
    /// for an estimate); otherwise the reply is walked to count its output.
    pub fn from_openai_json(body: Bytes) -> Result<Completion, WireError> {
        let (usage_raw, tier_raw) = match crate::json_scan::top_level_members(&body, ["usage", "service_tier"]) {
            Ok([usage, tier]) => (usage, tier),
            Err(_) => (None, None),
        };
        let service_tier = tier_raw.and_then(tier_text);
        if let Some(raw) = usage_raw {
            if let Ok(Some(usage)) = serde_json::from_slice::<Option<ProbeUsage>>(raw) {
                let usage = usage.into_usage();
                if usage.is_believable() {
                    return Ok(Completion::OpenAiJson { body, usage: Some(usage), output_chars: None, service_tier });
                }
            }
        }
        let probe: Probe<'_> = serde_json::from_slice(&body)?;
        let output_chars = probe.choices.iter().map(|c| c.message.as_ref().map_or(0, ProbeText::chars)).sum();
        let usage = probe.usage.map(ProbeUsage::into_usage);
        Ok(Completion::OpenAiJson { body, usage, output_chars: Some(output_chars), service_tier })
    }
}

/// The top-level `service_tier` string of an OpenAI reply or chunk, without parsing the rest.
fn tier_member(json: &[u8]) -> Option<String> {
    crate::json_scan::top_level_member(json, "service_tier").ok().flatten().and_then(tier_text)
}

/// A `service_tier` member's value as text (`null` or anything but a string: none).
fn tier_text(raw: &[u8]) -> Option<String> {
    serde_json::from_slice::<Option<String>>(raw).ok().flatten()
}

impl Chunk {
    /// The processing tier the upstream reports (OpenAI sends `service_tier` on every chunk).
    pub fn service_tier(&self) -> Option<String> {
        match self {
            Chunk::Typed(c) => c.extra.get("service_tier").and_then(serde_json::Value::as_str).map(str::to_owned),
            Chunk::OpenAiJson { json, .. } => tier_member(json),
        }
    }

    pub fn usage(&self) -> Option<&Usage> {
        match self {
            Chunk::Typed(c) => c.usage.as_ref(),
            Chunk::OpenAiJson { usage, .. } => usage.as_ref(),
        }
    }

    pub fn output_chars(&self) -> usize {
        match self {
            Chunk::Typed(c) => c.output_chars(),
            Chunk::OpenAiJson { output_chars, .. } => *output_chars,
        }
    }

    /// The trailing chunk that only carries usage (`"choices": []`).
    pub fn is_usage_only(&self) -> bool {
        match self {
            Chunk::Typed(c) => c.choices.is_empty() && c.usage.is_some(),
            Chunk::OpenAiJson { usage_only, .. } => *usage_only,
        }
    }

    /// The chunk as OpenAI JSON; `with_usage` false drops a typed chunk's usage field (the
    /// wire form's `"usage": null` fields are left as the upstream sent them).
    pub fn to_openai_json(&self, with_usage: bool) -> Result<Bytes, WireError> {
        match self {
            Chunk::Typed(c) if !with_usage && c.usage.is_some() => {
                let mut c = c.clone();
                c.usage = None;
                Ok(Bytes::from(serde_json::to_vec(&c)?))
            }
            Chunk::Typed(c) => Ok(Bytes::from(serde_json::to_vec(c)?)),
            Chunk::OpenAiJson { json, .. } => Ok(json.clone()),
        }
    }

    /// [`Chunk::to_openai_json`] taking the chunk: the wire form's bytes move out without even
    /// a reference count (a first clone of them allocates).
    pub fn into_openai_json(self, with_usage: bool) -> Result<Bytes, WireError> {
        match self {
            Chunk::OpenAiJson { json, .. } => Ok(json),
            typed => typed.to_openai_json(with_usage),
        }
    }

    pub fn into_typed(self) -> Result<ChatChunk, WireError> {
        match self {
            Chunk::Typed(c) => Ok(c),
            Chunk::OpenAiJson { json, .. } => Ok(serde_json::from_slice(&json)?),
        }
    }

    pub fn from_openai_json(json: Bytes) -> Result<Chunk, WireError> {
        let probe: Probe<'_> = serde_json::from_slice(&json)?;
        let output_chars = probe.choices.iter().map(|c| c.delta.as_ref().map_or(0, ProbeText::chars)).sum();
        let usage_only = probe.choices.is_empty() && probe.usage.is_some();
        let usage = probe.usage.map(ProbeUsage::into_usage);
        Ok(Chunk::OpenAiJson { json, usage, output_chars, usage_only })
    }
}

impl From<ChatChunk> for Chunk {
    fn from(c: ChatChunk) -> Chunk {
        Chunk::Typed(c)
    }
}

impl From<ChatCompletion> for Completion {
    fn from(c: ChatCompletion) -> Completion {
        Completion::Typed(c)
    }
}

fn tool_call_chars(calls: Option<&[crate::chat::ToolCall]>) -> usize {
    calls.map_or(0, |calls| calls.iter().map(|t| t.function.name.len() + t.function.arguments.len()).sum())
}

/// Just the fields the hub reads; serde skips the rest without allocating.
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(default, borrow)]
    choices: Vec<ProbeChoice<'a>>,
    #[serde(default)]
    usage: Option<ProbeUsage>,
}

/// The token counts of `usage`. Deliberately not [`Usage`]: its catch-all for unknown fields
/// makes serde buffer the whole object first, and the wire form keeps those fields anyway.
#[derive(Deserialize)]
struct ProbeUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<ProbeTokenDetails>,
}

#[derive(Deserialize)]
struct ProbeTokenDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

impl ProbeUsage {
    fn into_usage(self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            prompt_tokens_details: self.prompt_tokens_details.map(|d| crate::chat::PromptTokensDetails { cached_tokens: d.cached_tokens, extra: Default::default() }),
            extra: Default::default(),
        }
    }
}

#[derive(Deserialize)]
struct ProbeChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<ProbeText<'a>>,
    #[serde(default, borrow)]
    message: Option<ProbeText<'a>>,
}

#[derive(Deserialize)]
struct ProbeText<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<ProbeToolCall<'a>>>,
}

#[derive(Deserialize)]
struct ProbeToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<ProbeFunction<'a>>,
}

#[derive(Deserialize)]
struct ProbeFunction<'a> {
    #[serde(default, borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<std::borrow::Cow<'a, str>>,
}

impl ProbeText<'_> {
    fn chars(&self) -> usize {
        self.content.as_deref().map_or(0, str::len)
            + self.tool_calls.as_deref().map_or(0, |calls| {
                calls
                    .iter()
                    .filter_map(|t| t.function.as_ref())
                    .map(|f| f.name.as_deref().map_or(0, str::len) + f.arguments.as_deref().map_or(0, str::len))
                    .sum()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_chunks_expose_usage_and_output_without_a_typed_tree() {
        let json = Bytes::from_static(br#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi \"there\""},"logprobs":null,"finish_reason":null}],"usage":null}"#);
        let c = Chunk::from_openai_json(json.clone()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.output_chars(), 10);
        assert!(c.usage().is_none());
        assert!(!c.is_usage_only());
        assert_eq!(c.to_openai_json(false).ok(), Some(json));
        let last = Chunk::from_openai_json(Bytes::from_static(br#"{"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}"#)).unwrap_or_else(|e| panic!("{e}"));
        assert!(last.is_usage_only());
        assert_eq!(last.usage().map(|u| u.total_tokens), Some(9));
    }

    #[test]
    fn wire_completions_count_tool_call_output() {
        let body = Bytes::from_static(br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#);
        let c = Completion::from_openai_json(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.output_chars(), 8);
        assert_eq!(c.usage().map(|u| u.completion_tokens), Some(2));
        let typed = c.into_typed().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(typed.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn wire_usage_reads_cached_tokens_among_fields_the_hub_does_not_model() {
        let body = Bytes::from_static(br#"{"id":"x","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":6,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2},"cost":0.1}}"#);
        let c = Completion::from_openai_json(body.clone()).unwrap_or_else(|e| panic!("{e}"));
        let usage = c.usage().cloned().unwrap_or_default();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens()), (10, 4, 14, 6));
        assert_eq!(c.to_openai_json().ok(), Some(body), "the wire form keeps every field");
    }

    #[test]
    fn wire_completions_tell_the_tier_they_ran_in() {
        let body = Bytes::from_static(br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[],"service_tier":"flex","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#);
        let c = Completion::from_openai_json(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.service_tier().as_deref(), Some("flex"));
        let typed = Completion::Typed(c.into_typed().unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(typed.service_tier().as_deref(), Some("flex"));
        let none = Completion::from_openai_json(Bytes::from_static(br#"{"id":"x","choices":[],"service_tier":null}"#)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(none.service_tier(), None);
        let chunk = Chunk::from_openai_json(Bytes::from_static(br#"{"id":"c","object":"chat.completion.chunk","service_tier":"priority","choices":[]}"#)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chunk.service_tier().as_deref(), Some("priority"));
    }
}
