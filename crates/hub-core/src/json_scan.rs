//! Finding top-level members of a JSON object without parsing the rest.
//!
//! An upstream reply that passes through unchanged only has to give up its `usage` member;
//! walking the whole document through a deserializer to skip `choices` costs more than the
//! rest of the hub's work on the reply. The scanner checks the document's structure (strings
//! closed, brackets balanced and matching, one object and nothing after it) but does not
//! validate numbers or literals: the member found is parsed properly by the caller.

/// Why the scanner gave up; the caller falls back to a full parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("not a well-formed JSON object")]
    Malformed,
    /// A member name holds an escape: only a real parser can compare it.
    #[error("escaped member name")]
    EscapedName,
}

/// The raw bytes of the value of the top-level member `name` of the JSON object in `json`
/// (the first one, if it appears twice), or `None` when the object has no such member.
pub fn top_level_member<'a>(json: &'a [u8], name: &str) -> Result<Option<&'a [u8]>, ScanError> {
    top_level_members(json, [name]).map(|[found]| found)
}

/// [`top_level_member`] for several names in one walk over the document.
pub fn top_level_members<'a, const N: usize>(json: &'a [u8], names: [&str; N]) -> Result<[Option<&'a [u8]>; N], ScanError> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return Err(ScanError::Malformed);
    }
    i = skip_ws(json, i + 1);
    let mut found = [None; N];
    if json.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if json.get(i) != Some(&b'"') {
                return Err(ScanError::Malformed);
            }
            let key_end = string_end(json, i)?;
            let key = &json[i + 1..key_end - 1];
            if key.contains(&b'\\') {
                return Err(ScanError::EscapedName);
            }
            i = skip_ws(json, key_end);
            if json.get(i) != Some(&b':') {
                return Err(ScanError::Malformed);
            }
            let start = skip_ws(json, i + 1);
            let end = value_end(json, start)?;
            for (slot, name) in found.iter_mut().zip(names) {
                if slot.is_none() && key == name.as_bytes() {
                    *slot = Some(&json[start..end]);
                }
            }
            i = skip_ws(json, end);
            match json.get(i) {
                Some(b',') => i = skip_ws(json, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(ScanError::Malformed),
            }
        }
    }
    if skip_ws(json, i) != json.len() {
        return Err(ScanError::Malformed);
    }
    Ok(found)
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while matches!(json.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// `json[start]` is `"`; returns the index just past the closing quote.
fn string_end(json: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut i = start + 1;
    loop {
        let rest = json.get(i..).ok_or(ScanError::Malformed)?;
        let at = memchr::memchr2(b'"', b'\\', rest).ok_or(ScanError::Malformed)?;
        i += at;
        if json[i] == b'"' {
            return Ok(i + 1);
        }
        // A backslash escapes the next byte, whatever it is.
        i += 2;
    }
}

/// Returns the index just past the value starting at `start`.
fn value_end(json: &[u8], start: usize) -> Result<usize, ScanError> {
    match json.get(start) {
        None => Err(ScanError::Malformed),
        Some(b'"') => string_end(json, start),
        Some(b'{' | b'[') => container_end(json, start),
        Some(_) => {
            // A number or a literal: up to the next delimiter.
            let mut i = start;
            while let Some(&b) = json.get(i) {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                    break;
                }
                if matches!(b, b'"' | b'{' | b'[' | b':') {
                    return Err(ScanError::Malformed);
                }
                i += 1;
            }
            if i == start {
                Err(ScanError::Malformed)
            } else {
                Ok(i)
            }
        }
    }
}

/// `json[start]` opens an object or array; returns the index just past its closing bracket.
fn container_end(json: &[u8], start: usize) -> Result<usize, ScanError> {
    let mut open = Closers::default();
    let mut i = start;
    while let Some(&b) = json.get(i) {
        match b {
            b'"' => {
                i = string_end(json, i)?;
                continue;
            }
            b'{' => open.push(b'}'),
            b'[' => open.push(b']'),
            b'}' | b']' => {
                if open.pop() != Some(b) {
                    return Err(ScanError::Malformed);
                }
                if open.is_empty() {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(ScanError::Malformed)
}

/// The closing brackets still expected, innermost last: the first levels on the stack (replies
/// rarely nest deeper), any further ones in a `Vec`, so a scan allocates nothing for them.
#[derive(Default)]
struct Closers {
    inline: [u8; 32],
    len: usize,
    deeper: Vec<u8>,
}

impl Closers {
    fn push(&mut self, b: u8) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = b,
            None => self.deeper.push(b),
        }
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u8> {
        self.len = self.len.checked_sub(1)?;
        match self.inline.get(self.len) {
            Some(&b) => Some(b),
            None => self.deeper.pop(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn member(json: &str, name: &str) -> Result<Option<Value>, ScanError> {
        top_level_member(json.as_bytes(), name).map(|m| m.map(|raw| serde_json::from_slice(raw).unwrap_or(Value::Null)))
    }

    #[test]
    fn deep_nesting_past_the_inline_levels_still_matches_brackets() {
        let deep = format!("{{\"usage\":{}1{},\"z\":2}}", "[".repeat(40), "]".repeat(40));
        assert_eq!(member(&deep, "z"), Ok(Some(json!(2))));
        let unbalanced = format!("{{\"usage\":{}1{}}}}}", "[".repeat(40), "]".repeat(39));
        assert_eq!(member(&unbalanced, "usage"), Err(ScanError::Malformed));
    }

    #[test]
    fn finds_the_member_whatever_surrounds_it() {
        let doc = r#" {"choices":[{"message":{"content":"say \"usage\": {} ] }"}}],"usage" : {"prompt_tokens":7,"x":[1,{"y":"}"}]} , "z":null}  "#;
        assert_eq!(member(doc, "usage"), Ok(Some(json!({"prompt_tokens":7,"x":[1,{"y":"}"}]}))));
        assert_eq!(member(doc, "z"), Ok(Some(Value::Null)));
        assert_eq!(member(doc, "missing"), Ok(None));
        assert_eq!(member("{}", "usage"), Ok(None));
        assert_eq!(member(r#"{"a":"\\","usage":2}"#, "usage"), Ok(Some(json!(2))));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_object() {
        for bad in ["", "[]", "{", r#"{"a":1"#, r#"{"a":[1}"#, r#"{"a":"x}"#, r#"{"a" 1}"#, r#"{"a":1,}"#, r#"{"a":1} x"#, r#"{"a":}"#, r#"{a:1}"#, r#"{"a":[}]}"#] {
            assert_eq!(member(bad, "a"), Err(ScanError::Malformed), "{bad}");
        }
        assert_eq!(member(r#"{"us\u0061ge":1}"#, "usage"), Err(ScanError::EscapedName));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            // Eighths: exact in binary, so the comparison tests the scanner, not float parsing.
            any::<i32>().prop_map(|n| json!(f64::from(n) / 8.0)),
            "[ -~\\\\\"{}\\[\\]\u{e9}\u{1F600}\n]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_\"{}]{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// On any object serde_json writes (compact or pretty), the scanner finds exactly the
        /// members a full parse finds.
        #[test]
        fn agrees_with_a_full_parse(members in prop::collection::btree_map("[a-z]{1,6}", arb_json(), 0..6), pretty in any::<bool>(), probe in "[a-z]{1,6}") {
            let doc = Value::Object(members.clone().into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap_or_default();
            for (name, value) in &members {
                let raw = top_level_member(text.as_bytes(), name).unwrap_or_else(|e| panic!("{e}: {text}"));
                let parsed: Value = serde_json::from_slice(raw.unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {text}"));
                prop_assert_eq!(&parsed, value);
            }
            let found = top_level_member(text.as_bytes(), &probe).unwrap_or_else(|e| panic!("{e}: {text}"));
            prop_assert_eq!(found.is_some(), members.contains_key(&probe));
        }

        /// One walk for several names finds what one walk per name finds, duplicates included.
        #[test]
        fn several_names_in_one_walk(members in prop::collection::btree_map("[a-c]{1,2}", arb_json(), 0..6), a in "[a-c]{1,2}", b in "[a-c]{1,2}") {
            let text = serde_json::to_string(&Value::Object(members.into_iter().collect())).unwrap_or_default();
            let both = top_level_members(text.as_bytes(), [a.as_str(), b.as_str()]).unwrap_or_else(|e| panic!("{e}: {text}"));
            prop_assert_eq!(both[0], top_level_member(text.as_bytes(), &a).unwrap_or_default());
            prop_assert_eq!(both[1], top_level_member(text.as_bytes(), &b).unwrap_or_default());
        }

        /// Arbitrary bytes never panic the scanner.
        #[test]
        fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = top_level_member(&bytes, "usage");
        }
    }
}
