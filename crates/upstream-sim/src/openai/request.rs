//! The parts of a chat completion request the simulator reads.
//!
//! Message text is never copied: a custom visitor counts its words while
//! serde reads it and keeps the text only when it carries a `[[sim:`
//! marker, so large prompts cost no allocation beyond the parse itself.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::tokens::count_words;

const MARKER: &str = "[[sim:";

#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<Model<'a>>,
    #[serde(borrow, default)]
    pub messages: Option<Vec<Message<'a>>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    #[serde(default)]
    pub n: Option<u32>,
    /// `flex` and `priority` are answered as used; anything else runs as `default`.
    #[serde(default)]
    pub service_tier: Option<String>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
}

/// A model name; wrapped so that serde borrows it from the body.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct Model<'a>(#[serde(borrow)] pub Cow<'a, str>);

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message<'a> {
    #[serde(borrow, default)]
    pub role: Cow<'a, str>,
    #[serde(default)]
    pub content: Text,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tool<'a> {
    #[serde(borrow, default)]
    pub function: Option<FunctionName<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionName<'a> {
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
}

/// `"none" | "auto" | "required"` or `{"type":"function","function":{"name":…}}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ToolChoice {
    Mode(String),
    Named { function: OwnedFunctionName },
    Other(IgnoredAny),
}

#[derive(Debug, Deserialize)]
pub(crate) struct OwnedFunctionName {
    pub name: String,
}

/// What the simulator needs from a text: its word count, and the text
/// itself only when it holds a marker.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Text {
    pub words: u64,
    pub marked: Option<String>,
}

impl Text {
    fn add_str(&mut self, s: &str) {
        self.words += count_words(s);
        if s.contains(MARKER) {
            self.push_marked(s.to_owned());
        }
    }

    fn add(&mut self, other: Text) {
        self.words += other.words;
        if let Some(m) = other.marked {
            self.push_marked(m);
        }
    }

    fn push_marked(&mut self, m: String) {
        match &mut self.marked {
            Some(existing) => {
                existing.push(' ');
                existing.push_str(&m);
            }
            None => self.marked = Some(m),
        }
    }
}

/// One content part: only `text` matters (images, audio and refusals
/// carry no prompt words in the simulator's accounting).
#[derive(Deserialize)]
struct Part {
    #[serde(default)]
    text: Option<Text>,
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, an array of content parts, or null")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Text, E> {
        let mut t = Text::default();
        t.add_str(s);
        Ok(t)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Text, E> {
        Ok(Text::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Text, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text, A::Error> {
        let mut t = Text::default();
        while let Some(part) = seq.next_element::<Part>()? {
            if let Some(text) = part.text {
                t.add(text);
            }
        }
        Ok(t)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
        // Not a shape OpenAI accepts for content, but the simulator is not
        // the place to validate it: count nothing.
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text::default())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

impl ChatRequest<'_> {
    /// Text of the last user message, where per-request markers are read.
    pub(crate) fn last_user_marked_text(&self) -> Option<&str> {
        self.messages
            .as_ref()?
            .iter()
            .rev()
            .find(|m| m.role == "user")?
            .content
            .marked
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_content_shapes() {
        let body = br#"{"model":"gpt-4o","messages":[
            {"role":"system","content":"Be brief."},
            {"role":"user","content":[{"type":"text","text":"Hi [[sim:tool]] there"},{"type":"image_url","image_url":{"url":"x"}}]},
            {"role":"assistant","content":null,"tool_calls":[]},
            {"role":"user","content":"esc\"aped\n text"}
        ],"temperature":0.2}"#;
        let req: ChatRequest = serde_json::from_slice(body).unwrap();
        let msgs = req.messages.as_ref().unwrap();
        let words: Vec<u64> = msgs.iter().map(|m| m.content.words).collect();
        assert_eq!(words, vec![2, 3, 0, 2]);
        assert_eq!(req.model.as_ref().unwrap().0, "gpt-4o");
        assert_eq!(req.last_user_marked_text(), None);
        assert_eq!(
            msgs[1].content.marked.as_deref(),
            Some("Hi [[sim:tool]] there")
        );
    }
}
