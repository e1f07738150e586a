//! `multipart/form-data` bodies (RFC 7578), as OpenAI's SDKs send `POST /v1/videos`: the
//! parts' names, optional file names and types, and their bytes. Pure and bounded: it never
//! panics and never copies more than the body.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

/// Why a body is not a form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed multipart body: {0}")]
pub struct MultipartError(pub &'static str);

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"')).filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The parts of `body`, in order.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let start = find(body, delimiter).ok_or(MultipartError("no boundary"))?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    let next_delimiter = [b"\r\n".as_slice(), delimiter].concat();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or(MultipartError("a boundary is not followed by a line break"))?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError("a part has no header end"))?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| MultipartError("part headers are not UTF-8"))?;
        let after_head = &rest[head_end + 4..];
        let end = find(after_head, &next_delimiter).ok_or(MultipartError("a part has no closing boundary"))?;
        parts.push(part(head, &after_head[..end])?);
        rest = &after_head[end + next_delimiter.len()..];
    }
}

fn part(head: &str, data: &[u8]) -> Result<Part, MultipartError> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else { continue };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                let Some((k, v)) = param.split_once('=') else { continue };
                let v = v.trim().trim_matches('"').to_owned();
                match k.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(v),
                    "filename" => filename = Some(v),
                    _ => {}
                }
            }
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    let name = name.ok_or(MultipartError("a part has no name"))?;
    Ok(Part { name, filename, content_type, data: data.to_vec() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fields_and_files_as_sdks_send_them() {
        let body = b"--x1\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\nwalking\r\n--x1\r\ncontent-disposition: form-data; name=\"input_reference\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n--x1--\r\n";
        let parts = parse(body, "x1").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].name.as_str(), parts[0].data.as_slice()), ("prompt", b"a cat\r\nwalking".as_slice()));
        assert_eq!(parts[1].filename.as_deref(), Some("a.png"));
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].data, b"\x89PNG");
        assert_eq!(boundary("multipart/form-data; boundary=\"x1\""), Some("x1"));
        assert_eq!(boundary("application/json"), None);
        assert!(parse(b"--x1\r\nContent-Disposition: form-data\r\n\r\nv\r\n--x1--", "x1").is_err());
        assert!(parse(b"no form", "x1").is_err());
    }

    proptest! {
        #[test]
        fn any_body_parses_or_fails_without_panicking(body in prop::collection::vec(prop_oneof![Just(b'-'), Just(b'\r'), Just(b'\n'), Just(b'b'), any::<u8>()], 0..200)) {
            let _ = parse(&body, "b");
        }
    }
}
