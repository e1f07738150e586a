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

/// One token of a JSON document, as [`Tokens`] reads it. Strings keep their quotes and
/// escapes; numbers and literals are their raw text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `{`
    ObjectStart,
    /// `[`
    ArrayStart,
    /// `}` or `]`
    End,
    /// A member name (raw, quotes included); its value follows.
    Name(&'a [u8]),
    String(&'a [u8]),
    /// A number or a literal (`true`, `false`, `null`), not validated further.
    Scalar(&'a [u8]),
}

/// A pull reader of one JSON document's tokens, in one pass: the structure is checked as it
/// goes (strings closed, brackets matched, commas and colons where they belong, nothing after
/// the document), so a caller that only looks for a few members is never fooled by text that
/// resembles them. Numbers and literals are not validated.
pub struct Tokens<'a> {
    json: &'a [u8],
    i: usize,
    open: Closers,
    next: Expect,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (the document, an array element, a member's value).
    Value,
    /// A value or the `]` of an array just opened.
    FirstElement,
    /// A member name or the `}` of an object just opened.
    FirstName,
    /// A member name (after a comma).
    Name,
    /// A comma, a closing bracket, or the end of the document.
    AfterValue,
    Done,
}

impl<'a> Tokens<'a> {
    pub fn new(json: &'a [u8]) -> Tokens<'a> {
        Tokens { json, i: 0, open: Closers::default(), next: Expect::Value }
    }

    /// The offset just past the last token read.
    pub fn offset(&self) -> usize {
        self.i
    }

    /// The next token; `Ok(None)` at the end of a well-formed document.
    pub fn next_token(&mut self) -> Result<Option<Token<'a>>, ScanError> {
        let json = self.json;
        loop {
            let i = skip_ws(json, self.i);
            let at = json.get(i).copied();
            match self.next {
                Expect::Done => return Ok(None),
                Expect::AfterValue => match at {
                    None if self.open.is_empty() => {
                        self.i = i;
                        self.next = Expect::Done;
                        return Ok(None);
                    }
                    Some(b',') => {
                        self.i = i + 1;
                        self.next = if self.open.top() == Some(b'}') { Expect::Name } else { Expect::Value };
                    }
                    Some(b @ (b'}' | b']')) if self.open.pop() == Some(b) => {
                        self.i = i + 1;
                        return Ok(Some(Token::End));
                    }
                    _ => return Err(ScanError::Malformed),
                },
                Expect::FirstName | Expect::Name => {
                    if self.next == Expect::FirstName && at == Some(b'}') {
                        self.open.pop();
                        self.i = i + 1;
                        self.next = Expect::AfterValue;
                        return Ok(Some(Token::End));
                    }
                    if at != Some(b'"') {
                        return Err(ScanError::Malformed);
                    }
                    let end = string_end(json, i)?;
                    let colon = skip_ws(json, end);
                    if json.get(colon) != Some(&b':') {
                        return Err(ScanError::Malformed);
                    }
                    self.i = colon + 1;
                    self.next = Expect::Value;
                    return Ok(Some(Token::Name(&json[i..end])));
                }
                Expect::FirstElement | Expect::Value => {
                    if self.next == Expect::FirstElement && at == Some(b']') {
                        self.open.pop();
                        self.i = i + 1;
                        self.next = Expect::AfterValue;
                        return Ok(Some(Token::End));
                    }
                    let token = match at {
                        Some(b'{') => {
                            self.open.push(b'}');
                            self.i = i + 1;
                            self.next = Expect::FirstName;
                            return Ok(Some(Token::ObjectStart));
                        }
                        Some(b'[') => {
                            self.open.push(b']');
                            self.i = i + 1;
                            self.next = Expect::FirstElement;
                            return Ok(Some(Token::ArrayStart));
                        }
                        Some(b'"') => {
                            self.i = string_end(json, i)?;
                            Token::String(&json[i..self.i])
                        }
                        Some(_) => {
                            self.i = value_end(json, i)?;
                            Token::Scalar(&json[i..self.i])
                        }
                        None => return Err(ScanError::Malformed),
                    };
                    self.next = Expect::AfterValue;
                    return Ok(Some(token));
                }
            }
        }
    }
}

/// The length in UTF-8 bytes of the text of a JSON string token (`raw` includes its quotes),
/// escapes decoded, without building the text. Control characters, unknown escapes and lone
/// surrogates are refused, as a parser refuses them. The bytes between escapes are taken to be
/// UTF-8 already (the caller holds text).
pub fn string_len(raw: &[u8]) -> Result<usize, ScanError> {
    let inner = match raw {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Err(ScanError::Malformed),
    };
    let mut len = 0;
    let mut i = 0;
    while i < inner.len() {
        let Some(at) = memchr::memchr2(b'\\', b'"', &inner[i..]) else {
            len += inner.len() - i;
            break;
        };
        len += at;
        i += at;
        if inner[i] == b'"' {
            // An unescaped quote inside means `raw` was not one string.
            return Err(ScanError::Malformed);
        }
        match inner.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                len += 1;
                i += 2;
            }
            Some(b'u') => {
                let unit = hex4(inner, i + 2)?;
                i += 6;
                len += match unit {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by an escaped low one: 4 bytes together.
                        if inner.get(i) != Some(&b'\\') || inner.get(i + 1) != Some(&b'u') || !matches!(hex4(inner, i + 2)?, 0xDC00..=0xDFFF) {
                            return Err(ScanError::Malformed);
                        }
                        i += 6;
                        4
                    }
                    0xDC00..=0xDFFF => return Err(ScanError::Malformed),
                    0..=0x7F => 1,
                    0x80..=0x7FF => 2,
                    _ => 3,
                };
            }
            _ => return Err(ScanError::Malformed),
        }
    }
    if inner.iter().any(|&b| b < 0x20) {
        return Err(ScanError::Malformed);
    }
    Ok(len)
}

/// The four hex digits of a `\u` escape starting at `at`.
fn hex4(text: &[u8], at: usize) -> Result<u32, ScanError> {
    let digits = text.get(at..at + 4).ok_or(ScanError::Malformed)?;
    digits.iter().try_fold(0u32, |n, &d| {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(ScanError::Malformed),
        };
        Ok(n * 16 + u32::from(v))
    })
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
        i += quote_or_backslash(rest).ok_or(ScanError::Malformed)?;
        if json[i] == b'"' {
            return Ok(i + 1);
        }
        // A backslash escapes the next byte, whatever it is.
        i += 2;
    }
}

/// The index of the first `"` or `\` in `text`. Most names and values are short, so eight
/// bytes are tested at a time in a register before handing a long rest to memchr, whose setup
/// costs more than a short string.
fn quote_or_backslash(text: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_ne_bytes([b'"'; 8]);
    const BACKSLASHES: u64 = u64::from_ne_bytes([b'\\'; 8]);
    // The high bit of each byte that is zero (a false positive only above a true one, so the
    // lowest set bit is exact).
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut words = text.chunks_exact(8);
    let mut at = 0;
    for (n, word) in words.by_ref().enumerate() {
        if n == 4 {
            return memchr::memchr2(b'"', b'\\', &text[at..]).map(|p| at + p);
        }
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let hits = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words.remainder().iter().position(|&b| b == b'"' || b == b'\\').map(|p| at + p)
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

    fn top(&self) -> Option<u8> {
        let last = self.len.checked_sub(1)?;
        match self.inline.get(last) {
            Some(&b) => Some(b),
            None => self.deeper.last().copied(),
        }
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

    fn tokens(text: &str) -> Result<Vec<Token<'_>>, ScanError> {
        let mut t = Tokens::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(token) = t.next_token()? {
            out.push(token);
        }
        Ok(out)
    }

    #[test]
    fn tokens_follow_the_document() {
        use Token::*;
        assert_eq!(
            tokens(r#" {"a" : [1, "x]", {}], "b":{"c":null} } "#),
            Ok(vec![ObjectStart, Name(br#""a""#), ArrayStart, Scalar(b"1"), String(br#""x]""#), ObjectStart, End, End, Name(br#""b""#), ObjectStart, Name(br#""c""#), Scalar(b"null"), End, End])
        );
        assert_eq!(tokens("[]"), Ok(vec![ArrayStart, End]));
        assert_eq!(tokens(r#""s""#), Ok(vec![String(br#""s""#)]));
    }

    #[test]
    fn tokens_refuse_what_is_not_one_document() {
        for bad in ["", "{", "[1", "[1,]", "[,1]", "[1 2]", "[1] x", "[}", "{]", r#"{"a":1,}"#, r#"{"a" 1}"#, r#"{a:1}"#, r#"{"a":}"#, r#"["a]"#, "{} {}", r#"{"a":1 "b":2}"#, r#"[1:2]"#, r#"{"a","b"}"#] {
            assert_eq!(tokens(bad).err(), Some(ScanError::Malformed), "{bad}");
        }
    }

    #[test]
    fn string_len_decodes_escapes_and_refuses_what_a_parser_refuses() {
        assert_eq!(string_len(br#""""#), Ok(0));
        assert_eq!(string_len(br#""Hi \"there\"""#), Ok(10));
        assert_eq!(string_len(br#""\n\t\/\\""#), Ok(4));
        assert_eq!(string_len(br#""\u00e9\u20ac\ud83d\ude00""#), Ok(2 + 3 + 4));
        assert_eq!(string_len("\"é😀\"".as_bytes()), Ok(6));
        for bad in [&br#""\ud83d""#[..], br#""\ude00""#, br#""\ud83dx""#, br#""\x""#, br#""\u12""#, br#""\u12g4""#, br#""a"b""#, b"\"a\nb\"", br#""abc"#, b"abc", br#"""#] {
            assert_eq!(string_len(bad), Err(ScanError::Malformed), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// A value from tokens, by the tokens' structure alone; `first` is its first token.
    fn rebuild(first: Token<'_>, t: &mut Tokens<'_>) -> Result<Value, ScanError> {
        let parse = |raw: &[u8]| serde_json::from_slice::<Value>(raw).map_err(|_| ScanError::Malformed);
        match first {
            Token::ObjectStart => {
                let mut map = serde_json::Map::new();
                loop {
                    match t.next_token()?.ok_or(ScanError::Malformed)? {
                        Token::End => return Ok(Value::Object(map)),
                        Token::Name(raw) => {
                            let Value::String(name) = parse(raw)? else { return Err(ScanError::Malformed) };
                            let first = t.next_token()?.ok_or(ScanError::Malformed)?;
                            map.insert(name, rebuild(first, t)?);
                        }
                        _ => return Err(ScanError::Malformed),
                    }
                }
            }
            Token::ArrayStart => {
                let mut items = Vec::new();
                loop {
                    match t.next_token()?.ok_or(ScanError::Malformed)? {
                        Token::End => return Ok(Value::Array(items)),
                        first => items.push(rebuild(first, t)?),
                    }
                }
            }
            Token::String(raw) | Token::Scalar(raw) => parse(raw),
            Token::End | Token::Name(_) => Err(ScanError::Malformed),
        }
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
            let mut t = Tokens::new(&bytes);
            while let Ok(Some(_)) = t.next_token() {}
            let _ = string_len(&bytes);
        }

        /// The word-at-a-time search finds what a byte-by-byte one finds, at any length and
        /// position (the bytes around the searched ones included, for false positives).
        #[test]
        fn quote_or_backslash_finds_the_first(text in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'!'), Just(b']'), Just(0x80u8), Just(0xA2u8), Just(0xDCu8), Just(0u8), any::<u8>()], 0..80), skew in 0usize..8) {
            let text = &text[skew.min(text.len())..];
            prop_assert_eq!(quote_or_backslash(text), text.iter().position(|&b| b == b'"' || b == b'\\'));
        }

        /// Any document serde_json writes (compact or pretty) reads back, token by token, as the
        /// same value.
        #[test]
        fn tokens_rebuild_the_document(doc in arb_json(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap_or_default();
            let mut t = Tokens::new(text.as_bytes());
            let first = t.next_token().ok().flatten().unwrap_or_else(|| panic!("no first token: {text}"));
            let rebuilt = rebuild(first, &mut t).unwrap_or_else(|e| panic!("{e}: {text}"));
            prop_assert_eq!(t.next_token(), Ok(None));
            prop_assert_eq!(rebuilt, doc);
        }

        /// Whichever characters are written as `\u` escapes (surrogate pairs beyond the BMP),
        /// the length is the text's length in UTF-8.
        #[test]
        fn string_len_is_the_decoded_length(text in "[ -~\\\"\n\t\u{1}\u{e9}\u{7ff}\u{800}\u{ffff}\u{1F600}]{0,16}", escape_mask in any::<u32>()) {
            let mut raw = String::from("\"");
            for (n, c) in text.chars().enumerate() {
                if escape_mask & (1 << (n % 32)) != 0 || c.is_control() || c == '"' || c == '\\' {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        raw.push_str(&format!("\\u{u:04x}"));
                    }
                } else {
                    raw.push(c);
                }
            }
            raw.push('"');
            prop_assert_eq!(string_len(raw.as_bytes()), Ok(text.len()), "{}", raw);
            let written = serde_json::to_string(&text).unwrap_or_default();
            prop_assert_eq!(string_len(written.as_bytes()), Ok(text.len()), "{}", written);
        }
    }
}
