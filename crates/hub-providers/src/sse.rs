//! Incremental Server-Sent Events decoder (the framing of OpenAI-style streams).
//!
//! Pure and allocation-light: feed it byte slices as they arrive; it yields complete events.
//! Handles `\n`, `\r\n` and `\r` line endings, multi-line `data:`, comments and events split
//! anywhere, including inside a UTF-8 sequence. Bounded: an event larger than `max_event` is an
//! error instead of unbounded buffering.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("a stream event exceeded {0} bytes")]
    TooLarge(usize),
}

pub const DEFAULT_MAX_EVENT: usize = 8 * 1024 * 1024;

#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for line ends.
    scanned: usize,
    event: Option<String>,
    data: Vec<u8>,
    has_data: bool,
    /// Set when the previous chunk ended in `\r`, so a leading `\n` belongs to that line end.
    skip_lf: bool,
    max_event: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new(DEFAULT_MAX_EVENT)
    }
}

impl SseDecoder {
    pub fn new(max_event: usize) -> SseDecoder {
        SseDecoder {
            buf: Vec::new(),
            scanned: 0,
            event: None,
            data: Vec::new(),
            has_data: false,
            skip_lf: false,
            max_event,
        }
    }

    /// Feeds bytes; appends every event completed by them to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let mut input = bytes;
        if self.skip_lf && !input.is_empty() {
            if let Some(rest) = input.strip_prefix(b"\n") {
                input = rest;
            }
            self.skip_lf = false;
        }
        if self.buf.is_empty() {
            // The usual case: the read starts at a line start, so lines are read straight from
            // the input and only an unfinished tail is kept.
            let consumed = self.scan(input, 0, out);
            self.buf.extend_from_slice(&input[consumed..]);
        } else {
            self.buf.extend_from_slice(input);
            // Taken out of `self` so the lines can borrow it while the decoder's state changes.
            let buf = std::mem::take(&mut self.buf);
            let consumed = self.scan(&buf, self.scanned, out);
            self.buf = buf;
            self.buf.drain(..consumed);
        }
        self.scanned = self.buf.len();
        if self.buf.len() + self.data.len() > self.max_event {
            return Err(SseError::TooLarge(self.max_event));
        }
        Ok(())
    }

    /// Reads the complete lines of `text` (looking for line ends from `from`, the part before
    /// holds none); returns how many bytes they took.
    fn scan(&mut self, text: &[u8], from: usize, out: &mut Vec<SseEvent>) -> usize {
        let mut start = 0;
        let mut i = from;
        while let Some(offset) = memchr::memchr2(b'\n', b'\r', &text[i..]) {
            let line_end = i + offset;
            let mut next = line_end + 1;
            if text[line_end] == b'\r' {
                if next < text.len() {
                    if text[next] == b'\n' {
                        next += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
            self.line(&text[start..line_end], out);
            start = next;
            i = next;
        }
        start
    }

    /// Call at end of stream: dispatches an event left without its blank line.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line, out);
        }
        self.dispatch(out);
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(pos) => {
                let v = &line[pos + 1..];
                (&line[..pos], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                } else {
                    // The buffer moved into the last event: size it for this one (usually its
                    // only line) instead of growing it step by step.
                    self.data.reserve_exact(value.len());
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            // Valid UTF-8 (the rule) moves into the event without a copy.
            let data = match String::from_utf8(std::mem::take(&mut self.data)) {
                Ok(text) => text,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            };
            out.push(SseEvent { event: self.event.take(), data });
        }
        self.event = None;
        self.data.clear();
        self.has_data = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for c in chunks {
            let _ = d.feed(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn openai_stream_frames() {
        let body = b"data: {\"a\":1}\n\ndata: {\"a\":2}\n\ndata: [DONE]\n\n";
        let ev = decode_all(&[body]);
        let data: Vec<_> = ev.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, vec!["{\"a\":1}", "{\"a\":2}", "[DONE]"]);
    }

    #[test]
    fn crlf_comments_event_names_and_multiline_data() {
        let body = b": keep-alive\r\nevent: message_start\r\ndata: a\r\ndata: b\r\n\r\n";
        let ev = decode_all(&[body]);
        assert_eq!(ev, vec![SseEvent { event: Some("message_start".into()), data: "a\nb".into() }]);
    }

    #[test]
    fn a_cr_split_from_its_lf_is_one_line_end() {
        let ev = decode_all(&[b"data: x\r", b"\n\r\n"]);
        assert_eq!(ev, vec![SseEvent { event: None, data: "x".into() }]);
    }

    #[test]
    fn oversized_events_are_refused() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        assert!(d.feed(&[b'a'; 64], &mut out).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16)) {
            let mut d = SseDecoder::new(4096);
            let mut out = Vec::new();
            for c in &chunks {
                if d.feed(c, &mut out).is_err() { break; }
            }
            d.finish(&mut out);
        }

        #[test]
        fn any_chunking_of_any_bytes_gives_the_events_of_the_whole(
            body in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '), Just(b'd'), Just(b'a'), Just(b't'), Just(0xc3u8), Just(0xa9u8), any::<u8>()], 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut parts: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                parts.push(&body[at..c]);
                at = c;
            }
            parts.push(&body[at..]);
            prop_assert_eq!(decode_all(&[&body]), decode_all(&parts));
        }

        #[test]
        fn splitting_anywhere_gives_the_same_events(split in 0usize..60) {
            let body: &[u8] = b"data: {\"x\":\"h\xc3\xa9llo\"}\r\n\r\nevent: e\ndata: 2\n\ndata: [DONE]\n\n";
            let split = split.min(body.len());
            let whole = decode_all(&[body]);
            let parts = decode_all(&[&body[..split], &body[split..]]);
            prop_assert_eq!(whole, parts);
        }
    }
}
