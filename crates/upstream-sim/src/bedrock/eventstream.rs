//! `application/vnd.amazon.eventstream` framing, as Bedrock writes it:
//!
//! ```text
//! [total length u32 BE][headers length u32 BE][CRC32 of the previous 8 bytes]
//! [headers][payload][CRC32 of everything before]
//! ```
//!
//! Headers are written as strings (type 7): `[name len u8][name][7][value len u16 BE][value]`.

/// Appends one message with string headers to `out`.
pub fn write_message(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: &[u8]) {
    let headers_len: usize = headers.iter().map(|(n, v)| 1 + n.len() + 1 + 2 + v.len()).sum();
    let total = 12 + headers_len + payload.len() + 4;
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..start + 8]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    for (name, value) in headers {
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(7);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// An event (`:message-type: event`) carrying a JSON payload.
pub fn write_event(out: &mut Vec<u8>, event_type: &str, payload: &[u8]) {
    write_message(out, &[(":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")], payload);
}

/// A modelled exception (`:message-type: exception`), named by its stream member
/// (`throttlingException`), with `{"message":…}` as payload.
pub fn write_exception(out: &mut Vec<u8>, exception_type: &str, payload: &[u8]) {
    write_message(
        out,
        &[(":exception-type", exception_type), (":content-type", "application/json"), (":message-type", "exception")],
        payload,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "empty message" and "headers only" vectors of the AWS event stream test suite.
    #[test]
    fn frames_match_the_reference_encoding() {
        let mut out = Vec::new();
        write_message(&mut out, &[], b"");
        assert_eq!(out, [0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff]);
        let mut out = Vec::new();
        write_message(&mut out, &[("event-type", "x")], b"");
        assert_eq!(&out[..8], &[0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x0f]);
        assert_eq!(crc32fast::hash(&out[..out.len() - 4]).to_be_bytes(), out[out.len() - 4..]);
    }
}
