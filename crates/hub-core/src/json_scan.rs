//! Reading a few members of a JSON document without parsing the rest.
//!
//! An upstream reply that passes through unchanged only has to give up its `usage` member, and
//! a streamed chunk its usage and the length of its text; walking the whole document through a
//! deserializer to skip the rest costs more than the rest of the hub's work on it.
//! [`top_level_members`] finds members of the outer object in one walk; [`Cursor`] descends
//! into the members a caller names and skips the others whole; [`string_len`] measures a
//! string's text without decoding it. All check the document's structure (strings closed,
//! brackets balanced and matching, one document and nothing after it) but do not validate
//! numbers or literals: what they find is parsed properly by the caller.

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
    let mut found = [None; N];
    let mut cursor = Cursor::new(json);
    cursor.object(|c, key| {
        let value = c.skip()?;
        for (slot, name) in found.iter_mut().zip(names) {
            if slot.is_none() && key == name.as_bytes() {
                *slot = Some(value);
            }
        }
        Ok(())
    })?;
    cursor.end()?;
    Ok(found)
}

/// A reader that walks one JSON document by its grammar, for callers that read a few members
/// and skip the rest: [`Cursor::object`] and [`Cursor::array`] hand each member or element to
/// the caller, who reads it ([`Cursor::string`], a nested `object` or `array`) or skips it
/// ([`Cursor::skip`]). The structure is checked as it goes (strings closed, brackets matched,
/// commas and colons where they belong), so text that resembles a member never fools it;
/// numbers and literals are not validated. Any error ends the walk.
pub struct Cursor<'a> {
    json: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(json: &'a [u8]) -> Cursor<'a> {
        Cursor { json, i: 0 }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.i = skip_ws(self.json, self.i);
        self.json.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), ScanError> {
        if self.peek() != Some(b) {
            return Err(ScanError::Malformed);
        }
        self.i += 1;
        Ok(())
    }

    /// Consumes `null` if it is next.
    pub fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.json.get(self.i..self.i + 4) == Some(b"null") && self.json.get(self.i + 4).is_none_or(|b| is_delimiter(*b)) {
            self.i += 4;
            return true;
        }
        false
    }

    /// Reads a string value: its raw token, quotes and escapes included.
    pub fn string(&mut self) -> Result<&'a [u8], ScanError> {
        if self.peek() != Some(b'"') {
            return Err(ScanError::Malformed);
        }
        let start = self.i;
        self.i = string_end(self.json, start)?.0;
        Ok(&self.json[start..self.i])
    }

    /// Skips one value of any kind; returns its raw text.
    pub fn skip(&mut self) -> Result<&'a [u8], ScanError> {
        let start = skip_ws(self.json, self.i);
        self.i = value_end(self.json, start)?;
        Ok(&self.json[start..self.i])
    }

    /// Walks an object, calling `member` with each member's name (without quotes) and the
    /// cursor at its value, which `member` must read or skip. Names with escapes are refused
    /// ([`ScanError::EscapedName`]): only a real parser can compare them.
    pub fn object(&mut self, mut member: impl FnMut(&mut Cursor<'a>, &'a [u8]) -> Result<(), ScanError>) -> Result<(), ScanError> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(ScanError::Malformed);
            }
            let start = self.i;
            let (end, escaped) = string_end(self.json, start)?;
            if escaped {
                return Err(ScanError::EscapedName);
            }
            self.i = end;
            self.expect(b':')?;
            let json = self.json;
            member(self, &json[start + 1..end - 1])?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(ScanError::Malformed),
            }
        }
    }

    /// Walks an array, calling `element` with the cursor at each element, which `element` must
    /// read or skip.
    pub fn array(&mut self, mut element: impl FnMut(&mut Cursor<'a>) -> Result<(), ScanError>) -> Result<(), ScanError> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(ScanError::Malformed),
            }
        }
    }

    /// Checks that nothing but whitespace follows what was read.
    pub fn end(&mut self) -> Result<(), ScanError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(ScanError::Malformed),
        }
    }
}

/// What a byte is to a number or a literal being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Part,
    /// A delimiter ends it.
    End,
    /// A byte that cannot follow one.
    Invalid,
}

/// [`Scalar`] of every byte, looked up instead of compared against each delimiter in turn.
const SCALAR_BYTE: [Scalar; 256] = {
    let mut table = [Scalar::Part; 256];
    let ends = *b",}] \t\n\r";
    let mut n = 0;
    while n < ends.len() {
        table[ends[n] as usize] = Scalar::End;
        n += 1;
    }
    let invalid = *b"\"{[:";
    n = 0;
    while n < invalid.len() {
        table[invalid[n] as usize] = Scalar::Invalid;
        n += 1;
    }
    table
};

/// A byte that ends a number or a literal.
fn is_delimiter(b: u8) -> bool {
    SCALAR_BYTE[usize::from(b)] == Scalar::End
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
        let Some(at) = quote_or_backslash(&inner[i..]) else {
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

/// `json[start]` is `"`; returns the index just past the closing quote, and whether the string
/// holds an escape.
fn string_end(json: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        let rest = json.get(i..).ok_or(ScanError::Malformed)?;
        i += quote_or_backslash(rest).ok_or(ScanError::Malformed)?;
        if json[i] == b'"' {
            return Ok((i + 1, escaped));
        }
        // A backslash escapes the next byte, whatever it is.
        escaped = true;
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
    let mut at = 0;
    while let Some(word) = text.get(at..at + 8) {
        if at == 32 {
            return memchr::memchr2(b'"', b'\\', &text[at..]).map(|p| at + p);
        }
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let hits = zero_bytes(w ^ QUOTES) | zero_bytes(w ^ BACKSLASHES);
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    text[at..].iter().position(|&b| b == b'"' || b == b'\\').map(|p| at + p)
}

/// Returns the index just past the value starting at `start`.
fn value_end(json: &[u8], start: usize) -> Result<usize, ScanError> {
    match json.get(start) {
        None => Err(ScanError::Malformed),
        Some(b'"') => string_end(json, start).map(|(end, _)| end),
        Some(b'{' | b'[') => container_end(json, start),
        Some(_) => {
            // A number or a literal: up to the next delimiter.
            let mut i = start;
            while let Some(&b) = json.get(i) {
                match SCALAR_BYTE[usize::from(b)] {
                    Scalar::Part => i += 1,
                    Scalar::End => break,
                    Scalar::Invalid => return Err(ScanError::Malformed),
                }
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
                i = string_end(json, i)?.0;
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

    /// A value read through the cursor alone (members and elements by its walk, scalars by
    /// serde_json).
    fn rebuild(c: &mut Cursor<'_>) -> Result<Value, ScanError> {
        match c.peek() {
            Some(b'{') => {
                let mut map = serde_json::Map::new();
                c.object(|c, name| {
                    let name = String::from_utf8(name.to_vec()).map_err(|_| ScanError::Malformed)?;
                    map.insert(name, rebuild(c)?);
                    Ok(())
                })?;
                Ok(Value::Object(map))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                c.array(|c| {
                    items.push(rebuild(c)?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            Some(b'"') => serde_json::from_slice(c.string()?).map_err(|_| ScanError::Malformed),
            _ => serde_json::from_slice(c.skip()?).map_err(|_| ScanError::Malformed),
        }
    }

    fn read(text: &str) -> Result<Value, ScanError> {
        let mut c = Cursor::new(text.as_bytes());
        let value = rebuild(&mut c)?;
        c.end()?;
        Ok(value)
    }

    #[test]
    fn the_cursor_reads_members_and_skips_the_rest() {
        let doc = br#" {"a" : [1, "x]", {}], "b":{"c":null, "d" : "e"} } "#;
        let mut c = Cursor::new(doc);
        let (mut skipped, mut members) = (None, Vec::new());
        let walked = c.object(|c, name| match name {
            b"a" => c.skip().map(|raw| skipped = Some(raw)),
            b"b" => c.object(|c, name| {
                members.push((name, if c.null() { None } else { Some(c.string()?) }));
                Ok(())
            }),
            _ => Err(ScanError::Malformed),
        });
        assert_eq!(walked, Ok(()));
        assert_eq!(c.end(), Ok(()));
        assert_eq!(skipped, Some(&br#"[1, "x]", {}]"#[..]));
        assert_eq!(members, vec![(&b"c"[..], None), (&b"d"[..], Some(&br#""e""#[..]))]);
        assert_eq!(read_escaped_name(), Err(ScanError::EscapedName));
        assert_eq!(read("[]"), Ok(json!([])));
        assert_eq!(read(r#" "s" "#), Ok(json!("s")));
        assert!(!Cursor::new(b"nullx").null(), "null only as a whole literal");
    }

    fn read_escaped_name() -> Result<Value, ScanError> {
        read(r#"{"a\u0062":1}"#)
    }

    #[test]
    fn the_cursor_refuses_what_is_not_one_document() {
        for bad in ["", "{", "[1", "[1,]", "[,1]", "[1 2]", "[1] x", "[}", "{]", r#"{"a":1,}"#, r#"{"a" 1}"#, r#"{a:1}"#, r#"{"a":}"#, r#"["a]"#, "{} {}", r#"{"a":1 "b":2}"#, r#"[1:2]"#, r#"{"a","b"}"#] {
            assert_eq!(read(bad).err(), Some(ScanError::Malformed), "{bad}");
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

    fn arb_json() -> impl Strategy<Value = Value> {
        arb_json_named("[a-z_\"{}]{0,8}")
    }

    /// Any JSON value, with member names drawn from `names` (a regex).
    fn arb_json_named(names: &'static str) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            // Eighths: exact in binary, so the comparison tests the scanner, not float parsing.
            any::<i32>().prop_map(|n| json!(f64::from(n) / 8.0)),
            "[ -~\\\\\"{}\\[\\]\u{e9}\u{1F600}\n]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(names, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
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
            let mut c = Cursor::new(&bytes);
            let _ = rebuild(&mut c).and_then(|_| c.end());
            let _ = string_len(&bytes);
        }

        /// The word-at-a-time search finds what a byte-by-byte one finds, at any length and
        /// position (the bytes around the searched ones included, for false positives).
        #[test]
        fn quote_or_backslash_finds_the_first(text in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'!'), Just(b']'), Just(0x80u8), Just(0xA2u8), Just(0xDCu8), Just(0u8), any::<u8>()], 0..80), skew in 0usize..8) {
            let text = &text[skew.min(text.len())..];
            prop_assert_eq!(quote_or_backslash(text), text.iter().position(|&b| b == b'"' || b == b'\\'));
        }

        /// Any document serde_json writes (compact or pretty), member names without escapes,
        /// reads back through the cursor as the same value.
        #[test]
        fn the_cursor_rebuilds_the_document(doc in arb_json_named("[a-z_{}\\[\\]:,]{0,8}"), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap_or_default();
            prop_assert_eq!(read(&text), Ok(doc), "{}", text);
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
