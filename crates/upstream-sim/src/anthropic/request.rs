//! The parts of a Messages API request the simulator reads. Like the OpenAI side, message text
//! is never kept: words are counted while serde reads it, and only text holding a `[[sim:`
//! marker is copied.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::openai::request::{Model, Text};
use crate::tokens::count_words;

const MARKER: &str = "[[sim:";

#[derive(Debug, Deserialize)]
pub(crate) struct MessagesRequest<'a> {
    #[serde(borrow, default)]
    pub model: Option<Model<'a>>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(borrow, default)]
    pub messages: Option<Vec<Message<'a>>>,
    /// A string or text blocks; the OpenAI side's reader counts both shapes.
    #[serde(default)]
    pub system: Option<Text>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(borrow, default)]
    pub tools: Option<Vec<Tool<'a>>>,
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message<'a> {
    #[serde(borrow, default)]
    pub role: Cow<'a, str>,
    #[serde(default)]
    pub content: Content,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tool<'a> {
    #[serde(borrow, default)]
    pub name: Cow<'a, str>,
}

/// `{"type":"auto"|"any"|"none"}` or `{"type":"tool","name":…}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ToolChoice {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// A message's words and, when it holds a marker, its text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    pub words: u64,
    pub marked: Option<String>,
}

impl Content {
    fn add(&mut self, words: u64, marked: Option<String>) {
        self.words += words;
        if let Some(m) = marked {
            match &mut self.marked {
                Some(existing) => {
                    existing.push(' ');
                    existing.push_str(&m);
                }
                None => self.marked = Some(m),
            }
        }
    }
}

/// One content block: `text` of a text block, `content` of a `tool_result` (a string or text
/// blocks). Images, documents and `tool_use` inputs carry no prompt words.
#[derive(Deserialize)]
struct Block {
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    content: Option<Text>,
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of content blocks")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Content, E> {
        let mut c = Content::default();
        c.add(count_words(s), s.contains(MARKER).then(|| s.to_owned()));
        Ok(c)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
        Ok(Content::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
        let mut c = Content::default();
        while let Some(block) = seq.next_element::<Block>()? {
            for t in [block.text, block.content].into_iter().flatten() {
                c.add(t.words, t.marked);
            }
        }
        Ok(c)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Content, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Content::default())
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

impl MessagesRequest<'_> {
    /// Text of the last user turn, where per-request markers are read. A turn of tool results
    /// alone has none, so a marker that asked for a tool call is not read again once the
    /// result comes back.
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
    fn counts_text_and_tool_results() {
        let body = br#"{"model":"claude-sonnet-4-5","max_tokens":64,"system":[{"type":"text","text":"Be brief."}],
            "messages":[
              {"role":"user","content":"What is the weather [[sim:tool]]"},
              {"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"t","name":"w","input":{"text":"not counted"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"fifteen degrees"},
                                         {"type":"tool_result","tool_use_id":"u","content":[{"type":"text","text":"sunny"}]},
                                         {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}
            ],"tool_choice":{"type":"tool","name":"w"}}"#;
        let req: MessagesRequest = serde_json::from_slice(body).unwrap();
        let words: Vec<u64> = req
            .messages
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.content.words)
            .collect();
        assert_eq!(words, vec![5, 1, 3]);
        assert_eq!(req.system.as_ref().unwrap().words, 2);
        assert_eq!(req.last_user_marked_text(), None);
        assert_eq!(req.tool_choice.as_ref().unwrap().name.as_deref(), Some("w"));
        assert_eq!(req.max_tokens, Some(64));
    }
}
