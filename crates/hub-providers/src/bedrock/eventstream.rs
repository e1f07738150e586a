//! The `application/vnd.amazon.eventstream` framing of Bedrock's streamed replies.
//!
//! One message is:
//!
//! ```text
//! [total length u32 BE][headers length u32 BE][prelude CRC32 u32 BE]
//! [headers …][payload …][message CRC32 u32 BE]
//! ```
//!
//! The prelude CRC covers the first 8 bytes, the message CRC everything before it. A header is
//! `[name length u8][name][type u8][value]`, the value's encoding given by its type.
//!
//! The decoder is pure and incremental: feed it bytes as they arrive and it yields complete,
//! checked messages. It is bounded: the prelude is checked (CRC and lengths) as soon as its 12
//! bytes are in, so a message longer than the limit, or garbage, is refused before its body is
//! buffered. Arbitrary input never panics.

use std::fmt;

/// Bytes of the prelude: two lengths and the prelude CRC.
pub const PRELUDE_LEN: usize = 12;
/// Prelude plus the trailing message CRC: the smallest possible message.
pub const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + 4;
/// The AWS SDKs refuse messages over 16 MiB and header blocks over 128 KiB; so does this decoder.
pub const DEFAULT_MAX_MESSAGE: usize = 16 * 1024 * 1024;
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// A typed header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of a string header (`:event-type`, `:message-type`, …).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(n, v)| match v {
            HeaderValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    #[error("an event stream prelude failed its checksum")]
    PreludeChecksum,
    #[error("an event stream message failed its checksum")]
    MessageChecksum,
    #[error("an event stream message declared impossible lengths (total {total}, headers {headers})")]
    Lengths { total: u32, headers: u32 },
    #[error("an event stream message of {0} bytes exceeds the limit")]
    TooLarge(u32),
    #[error("an event stream message has malformed headers: {0}")]
    Headers(&'static str),
}

pub struct EventStreamDecoder {
    buf: Vec<u8>,
    max_message: usize,
}

impl fmt::Debug for EventStreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStreamDecoder").field("buffered", &self.buf.len()).finish()
    }
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        EventStreamDecoder::new(DEFAULT_MAX_MESSAGE)
    }
}

impl EventStreamDecoder {
    pub fn new(max_message: usize) -> EventStreamDecoder {
        EventStreamDecoder { buf: Vec::new(), max_message: max_message.max(MIN_MESSAGE_LEN) }
    }

    /// Feeds bytes; appends every message they complete to `out`. After an error the stream is
    /// unusable (framing is lost) and the caller must stop.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), EventStreamError> {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        let result = loop {
            match self.next_message(start) {
                Ok(Some((message, len))) => {
                    out.push(message);
                    start += len;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..start);
        result
    }

    /// Whether no partial message is buffered: a body that ends here ended on a frame boundary.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The message starting at `start`, with its length, once all of it has arrived.
    fn next_message(&self, start: usize) -> Result<Option<(Message, usize)>, EventStreamError> {
        let rest = self.buf.get(start..).unwrap_or_default();
        let Some(prelude) = rest.get(..PRELUDE_LEN) else { return Ok(None) };
        let total = be_u32(prelude, 0);
        let headers_len = be_u32(prelude, 4);
        if crc32fast::hash(&prelude[..8]) != be_u32(prelude, 8) {
            return Err(EventStreamError::PreludeChecksum);
        }
        let total_len = total as usize;
        if total_len > self.max_message {
            return Err(EventStreamError::TooLarge(total));
        }
        let headers_end = PRELUDE_LEN.checked_add(headers_len as usize);
        match headers_end {
            Some(end) if total_len >= MIN_MESSAGE_LEN && end <= total_len - 4 && headers_len as usize <= MAX_HEADERS_LEN => {}
            _ => return Err(EventStreamError::Lengths { total, headers: headers_len }),
        }
        let Some(whole) = rest.get(..total_len) else { return Ok(None) };
        let crc_at = total_len - 4;
        if crc32fast::hash(&whole[..crc_at]) != be_u32(whole, crc_at) {
            return Err(EventStreamError::MessageChecksum);
        }
        let headers_end = PRELUDE_LEN + headers_len as usize;
        let headers = parse_headers(&whole[PRELUDE_LEN..headers_end])?;
        let payload = whole[headers_end..crc_at].to_vec();
        Ok(Some((Message { headers, payload }, total_len)))
    }
}

/// A big-endian u32 at `at`; callers have checked the bounds.
fn be_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_be_bytes(b)
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EventStreamError> {
        if self.bytes.len() < n {
            return Err(EventStreamError::Headers("a header runs past the header block"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EventStreamError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

fn parse_headers(block: &[u8]) -> Result<Vec<(String, HeaderValue)>, EventStreamError> {
    let mut cur = Cursor { bytes: block };
    let mut headers = Vec::new();
    while !cur.bytes.is_empty() {
        let [name_len] = cur.array::<1>()?;
        if name_len == 0 {
            return Err(EventStreamError::Headers("a header has an empty name"));
        }
        let name = std::str::from_utf8(cur.take(usize::from(name_len))?)
            .map_err(|_| EventStreamError::Headers("a header name is not UTF-8"))?
            .to_owned();
        let [kind] = cur.array::<1>()?;
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(cur.array()?)),
            3 => HeaderValue::Short(i16::from_be_bytes(cur.array()?)),
            4 => HeaderValue::Int(i32::from_be_bytes(cur.array()?)),
            5 => HeaderValue::Long(i64::from_be_bytes(cur.array()?)),
            6 | 7 => {
                let len = u16::from_be_bytes(cur.array()?);
                let raw = cur.take(usize::from(len))?;
                if kind == 6 {
                    HeaderValue::Bytes(raw.to_vec())
                } else {
                    let s = std::str::from_utf8(raw).map_err(|_| EventStreamError::Headers("a string header is not UTF-8"))?;
                    HeaderValue::String(s.to_owned())
                }
            }
            8 => HeaderValue::Timestamp(i64::from_be_bytes(cur.array()?)),
            9 => HeaderValue::Uuid(cur.array()?),
            _ => return Err(EventStreamError::Headers("a header has an unknown value type")),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

/// Frames one message with string headers, as Bedrock sends its events. Used by tests to build
/// streams from the API reference's event examples.
#[cfg(test)]
pub(crate) fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in headers {
        block.push(name.len() as u8);
        block.extend_from_slice(name.as_bytes());
        block.push(7);
        block.extend_from_slice(&(value.len() as u16).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    let total = (MIN_MESSAGE_LEN + block.len() + payload.len()) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&block);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// An event message as Bedrock frames it.
#[cfg(test)]
pub(crate) fn encode_event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode(&[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")], payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> (Vec<Message>, Result<(), EventStreamError>) {
        let mut d = EventStreamDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = d.feed(c, &mut out) {
                return (out, Err(e));
            }
        }
        (out, Ok(()))
    }

    #[test]
    fn a_message_round_trips() {
        let bytes = encode_event("contentBlockDelta", br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#);
        let (msgs, res) = decode_all(&[&bytes]);
        assert_eq!(res, Ok(()));
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].header_str(":event-type"), Some("contentBlockDelta"));
        assert_eq!(msgs[0].header_str(":message-type"), Some("event"));
        assert_eq!(msgs[0].payload, br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#);
    }

    /// The "all headers" vector of the AWS event stream test suite, re-framed here: every header
    /// type decodes to its value.
    #[test]
    fn every_header_type_decodes() {
        let mut block = Vec::new();
        let mut header = |name: &str, kind: u8, value: &[u8]| {
            block.push(name.len() as u8);
            block.extend_from_slice(name.as_bytes());
            block.push(kind);
            block.extend_from_slice(value);
        };
        header("true", 0, &[]);
        header("false", 1, &[]);
        header("byte", 2, &[0xcf]);
        header("short", 3, &[0x00, 0x2a]);
        header("int", 4, &[0x00, 0x00, 0x00, 0x2a]);
        header("long", 5, &42i64.to_be_bytes());
        header("bytes", 6, &[0x00, 0x02, 0xbe, 0xef]);
        header("string", 7, &[0x00, 0x02, b'h', b'i']);
        header("ts", 8, &8_675_309i64.to_be_bytes());
        header("uuid", 9, &[7u8; 16]);
        let total = (MIN_MESSAGE_LEN + block.len()) as u32;
        let mut msg = total.to_be_bytes().to_vec();
        msg.extend_from_slice(&(block.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&msg);
        msg.extend_from_slice(&crc.to_be_bytes());
        msg.extend_from_slice(&block);
        let crc = crc32fast::hash(&msg);
        msg.extend_from_slice(&crc.to_be_bytes());
        let (msgs, res) = decode_all(&[&msg]);
        assert_eq!(res, Ok(()));
        let values: Vec<_> = msgs[0].headers.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            values,
            vec![
                HeaderValue::Bool(true),
                HeaderValue::Bool(false),
                HeaderValue::Byte(-49),
                HeaderValue::Short(42),
                HeaderValue::Int(42),
                HeaderValue::Long(42),
                HeaderValue::Bytes(vec![0xbe, 0xef]),
                HeaderValue::String("hi".into()),
                HeaderValue::Timestamp(8_675_309),
                HeaderValue::Uuid([7u8; 16]),
            ]
        );
    }

    #[test]
    fn the_smallest_message_is_empty() {
        let (msgs, res) = decode_all(&[&encode(&[], b"")]);
        assert_eq!(res, Ok(()));
        assert_eq!(msgs, vec![Message { headers: vec![], payload: vec![] }]);
    }

    #[test]
    fn corrupted_bytes_fail_their_checksum() {
        let mut bytes = encode_event("messageStop", br#"{"stopReason":"end_turn"}"#);
        let last = bytes.len() - 6;
        bytes[last] ^= 0x01;
        assert_eq!(decode_all(&[&bytes]).1, Err(EventStreamError::MessageChecksum));
        let mut bytes = encode_event("messageStop", b"{}");
        bytes[2] ^= 0x01;
        assert_eq!(decode_all(&[&bytes]).1, Err(EventStreamError::PreludeChecksum));
    }

    #[test]
    fn oversized_messages_are_refused_from_the_prelude() {
        let bytes = encode_event("contentBlockDelta", &[b'x'; 256]);
        let mut d = EventStreamDecoder::new(64);
        let mut out = Vec::new();
        // Only the prelude has arrived: the limit already applies.
        assert!(matches!(d.feed(&bytes[..PRELUDE_LEN], &mut out), Err(EventStreamError::TooLarge(_))));
    }

    #[test]
    fn a_partial_message_waits_for_its_end() {
        let bytes = encode_event("messageStart", br#"{"role":"assistant"}"#);
        let mut d = EventStreamDecoder::default();
        let mut out = Vec::new();
        assert_eq!(d.feed(&bytes[..bytes.len() - 1], &mut out), Ok(()));
        assert!(out.is_empty());
        assert!(!d.is_empty());
        assert_eq!(d.feed(&bytes[bytes.len() - 1..], &mut out), Ok(()));
        assert_eq!(out.len(), 1);
        assert!(d.is_empty());
    }

    fn frames() -> Vec<u8> {
        let mut all = Vec::new();
        all.extend(encode_event("messageStart", br#"{"role":"assistant"}"#));
        all.extend(encode_event("contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"h\u{e9}llo\"}}".as_bytes()));
        all.extend(encode_event("messageStop", br#"{"stopReason":"end_turn"}"#));
        all
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..96), 0..16)) {
            let mut d = EventStreamDecoder::new(4096);
            let mut out = Vec::new();
            for c in &chunks {
                if d.feed(c, &mut out).is_err() { break; }
            }
        }

        /// Arbitrary bytes behind a valid prelude reach the header parser and the payload split.
        #[test]
        fn arbitrary_bodies_behind_valid_preludes_never_panic(headers_len in 0u32..64, body in proptest::collection::vec(any::<u8>(), 0..128)) {
            let total = (MIN_MESSAGE_LEN + body.len()) as u32;
            let mut msg = total.to_be_bytes().to_vec();
            msg.extend_from_slice(&headers_len.to_be_bytes());
            let crc = crc32fast::hash(&msg);
            msg.extend_from_slice(&crc.to_be_bytes());
            msg.extend_from_slice(&body);
            let crc = crc32fast::hash(&msg);
            msg.extend_from_slice(&crc.to_be_bytes());
            let mut d = EventStreamDecoder::default();
            let mut out = Vec::new();
            let _ = d.feed(&msg, &mut out);
        }

        #[test]
        fn splitting_anywhere_gives_the_same_messages(a in 0usize..200, b in 0usize..200) {
            let all = frames();
            let (a, b) = (a.min(all.len()), b.min(all.len()));
            let (lo, hi) = (a.min(b), a.max(b));
            let (whole, _) = decode_all(&[&all]);
            let (parts, res) = decode_all(&[&all[..lo], &all[lo..hi], &all[hi..]]);
            prop_assert_eq!(res, Ok(()));
            prop_assert_eq!(whole.len(), 3);
            prop_assert_eq!(whole, parts);
        }
    }
}
