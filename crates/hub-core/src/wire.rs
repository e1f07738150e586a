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
use crate::json_scan::{string_len, Cursor, ScanError};

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
            Completion::OpenAiJson { body, output_chars, .. } => output_chars.unwrap_or_else(|| match scan_facts(body, Part::Message) {
                Some(facts) => facts.output_chars,
                None => serde_json::from_slice::<Probe<'_>>(body).map_or(0, |p| p.choices.iter().map(|c| c.message.as_ref().map_or(0, ProbeText::chars)).sum()),
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
        if let Some(facts) = scan_facts(&body, Part::Message) {
            return Ok(Completion::OpenAiJson { body, usage: facts.usage.map(ProbeUsage::into_usage), output_chars: Some(facts.output_chars), service_tier });
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
        if let Some(facts) = scan_facts(&json, Part::Delta) {
            let usage_only = facts.no_choices && facts.usage.is_some();
            return Ok(Chunk::OpenAiJson { usage: facts.usage.map(ProbeUsage::into_usage), output_chars: facts.output_chars, usage_only, json });
        }
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

/// Which text a choice carries: `delta` in a chunk, `message` in a whole reply.
#[derive(Clone, Copy)]
enum Part {
    Delta,
    Message,
}

/// What [`Probe`] reads, found by the scanner instead of a deserializer: a chunk arrives many
/// times per call, and a parse walks and checks every string of it only to count its output.
struct Facts {
    usage: Option<ProbeUsage>,
    output_chars: usize,
    /// `choices` is missing or empty.
    no_choices: bool,
}

/// [`Facts`] of an OpenAI reply or chunk in one walk, or `None` when anything is off the common
/// shape (malformed, a member the hub reads holding an unexpected type, an escaped member name,
/// `choices` or `usage` twice): the caller then parses the whole document with [`Probe`], which
/// decides and reports the error.
fn scan_facts(json: &[u8], part: Part) -> Option<Facts> {
    let counted: &[u8] = match part {
        Part::Delta => b"delta",
        Part::Message => b"message",
    };
    let mut cursor = Cursor::new(json);
    let (mut usage_raw, mut seen_choices, mut seen_usage) = (None, false, false);
    let (mut output_chars, mut choices) = (0, 0);
    cursor
        .object(|c, name| match name {
            b"choices" => {
                if std::mem::replace(&mut seen_choices, true) {
                    return Err(ScanError::Malformed);
                }
                c.array(|c| {
                    choices += 1;
                    c.object(|c, name| {
                        if name == counted {
                            text(c, &mut output_chars, true)
                        } else if name == b"delta" || name == b"message" {
                            text(c, &mut output_chars, false)
                        } else {
                            c.skip().map(drop)
                        }
                    })
                })
            }
            b"usage" => {
                if std::mem::replace(&mut seen_usage, true) {
                    return Err(ScanError::Malformed);
                }
                if !c.null() {
                    let raw = c.skip()?;
                    if raw.first() != Some(&b'{') {
                        return Err(ScanError::Malformed);
                    }
                    usage_raw = Some(raw);
                }
                Ok(())
            }
            _ => c.skip().map(drop),
        })
        .ok()?;
    cursor.end().ok()?;
    let usage = match usage_raw {
        Some(raw) => Some(serde_json::from_slice::<ProbeUsage>(raw).ok()?),
        None => None,
    };
    Some(Facts { usage, output_chars, no_choices: choices == 0 })
}

/// A choice's `delta` or `message` (or `null`): adds the length of its text and tool calls to
/// `chars` when `count`, and checks the types either way (as the full parse would).
fn text(c: &mut Cursor<'_>, chars: &mut usize, count: bool) -> Result<(), ScanError> {
    if c.null() {
        return Ok(());
    }
    c.object(|c, name| match name {
        b"content" => optional_text(c, chars, count),
        b"tool_calls" if c.null() => Ok(()),
        b"tool_calls" => c.array(|c| {
            c.object(|c, name| match name {
                b"function" if c.null() => Ok(()),
                b"function" => c.object(|c, name| match name {
                    b"name" | b"arguments" => optional_text(c, chars, count),
                    _ => c.skip().map(drop),
                }),
                _ => c.skip().map(drop),
            })
        }),
        _ => c.skip().map(drop),
    })
}

/// A string or `null` member; its decoded length is added to `chars` when `count`.
fn optional_text(c: &mut Cursor<'_>, chars: &mut usize, count: bool) -> Result<(), ScanError> {
    if c.null() {
        return Ok(());
    }
    let len = string_len(c.string()?)?;
    if count {
        *chars += len;
    }
    Ok(())
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
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn arb_text() -> impl Strategy<Value = Value> {
        prop_oneof![Just(Value::Null), "[ -~\\\"\n\u{e9}\u{1F600}]{0,10}".prop_map(Value::String)]
    }

    /// A `delta` or `message` object as upstreams send them: content, maybe tool calls, and
    /// members the hub does not read.
    fn arb_part() -> impl Strategy<Value = Value> {
        let call = (arb_text(), arb_text(), any::<bool>()).prop_map(|(name, arguments, with_fn)| {
            if with_fn { json!({"id":"call_1","type":"function","function":{"name":name,"arguments":arguments}}) } else { json!({"index":0,"function":null}) }
        });
        (arb_text(), prop::option::of(prop::collection::vec(call, 0..3)), any::<bool>()).prop_map(|(content, calls, role)| {
            let mut part = json!({"content": content});
            if let Some(calls) = calls {
                part["tool_calls"] = Value::Array(calls);
            }
            if role {
                part["role"] = json!("assistant");
                part["refusal"] = Value::Null;
            }
            part
        })
    }

    fn arb_reply() -> impl Strategy<Value = Value> {
        let choice = (arb_part(), any::<bool>(), any::<bool>()).prop_map(|(part, delta, present)| {
            let key = if delta { "delta" } else { "message" };
            if present { json!({"index":0, key: part, "logprobs":null, "finish_reason":null}) } else { json!({"index":0, "finish_reason":"stop"}) }
        });
        let usage = prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            (0u64..1000, 0u64..1000, prop::option::of(0u64..10)).prop_map(|(p, c, cached)| Some(json!({"prompt_tokens":p,"completion_tokens":c,"total_tokens":p + c,"prompt_tokens_details":{"cached_tokens":cached,"audio_tokens":0}}))),
        ];
        (prop::option::of(prop::collection::vec(choice, 0..3)), usage).prop_map(|(choices, usage)| {
            let mut reply = json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m"});
            if let Some(c) = choices {
                reply["choices"] = Value::Array(c);
            }
            if let Some(u) = usage {
                reply["usage"] = u;
            }
            reply
        })
    }

    proptest! {
        /// The scanner reads what the full parse reads, for chunks and whole replies alike.
        #[test]
        fn scanned_facts_agree_with_a_full_parse(reply in arb_reply(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&reply) } else { serde_json::to_string(&reply) }.unwrap_or_default();
            let probe: Probe<'_> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            for part in [Part::Delta, Part::Message] {
                let facts = scan_facts(text.as_bytes(), part).unwrap_or_else(|| panic!("the scanner gave up on {text}"));
                let chars: usize = probe.choices.iter().map(|c| match part {
                    Part::Delta => c.delta.as_ref(),
                    Part::Message => c.message.as_ref(),
                }.map_or(0, ProbeText::chars)).sum();
                prop_assert_eq!(facts.output_chars, chars, "{}", text);
                prop_assert_eq!(facts.no_choices, probe.choices.is_empty());
                prop_assert_eq!(facts.usage.map(ProbeUsage::into_usage), probe.usage.as_ref().map(|u| ProbeUsage { prompt_tokens: u.prompt_tokens, completion_tokens: u.completion_tokens, total_tokens: u.total_tokens, prompt_tokens_details: u.prompt_tokens_details.as_ref().map(|d| ProbeTokenDetails { cached_tokens: d.cached_tokens }) }.into_usage()));
            }
        }
    }

    #[test]
    fn replies_off_the_common_shape_go_to_the_full_parse() {
        for odd in [r#"{"choices":null}"#, r#"{"choices":[],"choices":[]}"#, r#"{"usage":null,"usage":null}"#, r#"{"choices":[{"message":5}]}"#, r#"{"choices":{}}"#, r#"{"choices":[1]}"#, r#"{"choices":[{"delta":{"content":5}}]}"#, r#"{"usage":"x"}"#, r#"{"choic\u0065s":[]}"#, r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":["f"]}}]}}]}"#] {
            assert!(scan_facts(odd.as_bytes(), Part::Delta).is_none(), "{odd}");
        }
        assert!(Chunk::from_openai_json(Bytes::from_static(br#"{"choices":null}"#)).is_err(), "the full parse still refuses it");
        let escaped = Chunk::from_openai_json(Bytes::from_static(br#"{"choic\u0065s":[{"delta":{"content":"abc"}}]}"#)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(escaped.output_chars(), 3, "an escaped member name is still read, by the full parse");
    }

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
