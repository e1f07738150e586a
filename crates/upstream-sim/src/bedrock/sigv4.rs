//! AWS Signature Version 4 verification, recomputed here step by step from the published
//! algorithm (canonical request → string to sign → HMAC chain) rather than with an AWS crate,
//! so that a client's signing is checked against the specification, not against itself.
//!
//! What is checked, in the order AWS checks it: an `Authorization` header is present and well
//! formed; the access key id is the configured one; the scope names service `bedrock` and the
//! date of `x-amz-date`; that date is within 5 minutes of now; `host` is signed; and the
//! signature matches. Session tokens (`x-amz-security-token`) are covered by the signature
//! when signed but not themselves validated.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

/// The service name Bedrock Runtime requests are signed for.
pub const SERVICE: &str = "bedrock";
/// How far a request's time may be from the server's.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request was refused: each is a 403 with the AWS error type and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// A header that is not a SigV4 one, or lacks a part.
    Incomplete(String),
    /// An access key id the server does not know.
    UnknownKey,
    /// A scope, date or signature that does not verify.
    BadSignature(String),
}

impl AuthError {
    /// `(x-amzn-ErrorType name, message)` as AWS words them.
    pub fn name_and_message(&self) -> (&'static str, String) {
        match self {
            AuthError::Missing => ("MissingAuthenticationTokenException", "Missing Authentication Token".to_owned()),
            AuthError::Incomplete(m) => ("IncompleteSignatureException", m.clone()),
            AuthError::UnknownKey => ("UnrecognizedClientException", "The security token included in the request is invalid.".to_owned()),
            AuthError::BadSignature(m) => ("InvalidSignatureException", m.clone()),
        }
    }
}

const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

/// The request as the server received it.
pub struct Received<'a> {
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded).
    pub raw_path: &'a str,
    pub raw_query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// From the URI, for HTTP/2 requests that carry no `host` header.
    pub authority: Option<&'a str>,
    pub body: &'a [u8],
}

struct Parsed<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Parsed<'_>, AuthError> {
    let rest = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| AuthError::Incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={value}")))?;
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |what: &str| AuthError::Incomplete(format!("Authorization header requires '{what}' parameter."));
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(AuthError::Incomplete(format!("Credential should be scoped to a valid region. Credential={credential}")));
    };
    if terminator != "aws4_request" {
        return Err(AuthError::BadSignature("Credential should be scoped with a valid terminator: 'aws4_request'.".to_owned()));
    }
    Ok(Parsed { access_key_id, date, region, service, signed_headers: signed.split(';').collect(), signature })
}

/// Checks the request's signature against `(access key id, secret access key)` at time `now`.
pub fn verify(req: &Received<'_>, credentials: &(String, String), now: SystemTime) -> Result<(), AuthError> {
    let auth = req.headers.get(http::header::AUTHORIZATION).ok_or(AuthError::Missing)?;
    let auth = auth.to_str().map_err(|_| AuthError::Incomplete("The Authorization header is not valid text.".to_owned()))?;
    let p = parse_authorization(auth)?;
    if p.access_key_id != credentials.0 {
        return Err(AuthError::UnknownKey);
    }
    if p.service != SERVICE {
        return Err(AuthError::BadSignature(format!("Credential should be scoped to correct service: '{SERVICE}'. ")));
    }
    let amz_date = header_text(req.headers, "x-amz-date")
        .ok_or_else(|| AuthError::Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".to_owned()))?;
    let request_time = parse_amz_date(&amz_date).ok_or_else(|| AuthError::Incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")))?;
    if !amz_date.starts_with(p.date) || p.date.len() != 8 {
        return Err(AuthError::BadSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            p.date,
            amz_date.get(..8).unwrap_or_default()
        )));
    }
    let now_s = unix(now);
    if request_time + MAX_SKEW.as_secs() < now_s {
        return Err(AuthError::BadSignature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - 5 min.)",
            format_amz_date(now_s - MAX_SKEW.as_secs()),
            format_amz_date(now_s)
        )));
    }
    if request_time > now_s + MAX_SKEW.as_secs() {
        return Err(AuthError::BadSignature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + 5 min.)",
            format_amz_date(now_s + MAX_SKEW.as_secs()),
            format_amz_date(now_s)
        )));
    }
    if !p.signed_headers.contains(&"host") {
        return Err(AuthError::BadSignature("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".to_owned()));
    }
    let canonical = canonical_request(req, &p.signed_headers);
    let expected = signature(&credentials.1, &amz_date, p.date, p.region, p.service, &canonical);
    if expected.as_bytes() != p.signature.as_bytes() {
        return Err(AuthError::BadSignature(MISMATCH.to_owned()));
    }
    Ok(())
}

/// The signature of a canonical request: the string to sign, HMAC'd with the derived key.
pub fn signature(secret: &str, amz_date: &str, date: &str, region: &str, service: &str, canonical_request: &str) -> String {
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    hex(&hmac(&k_signing, string_to_sign.as_bytes()))
}

/// The canonical request: method, canonical URI, canonical query, the signed headers with their
/// trimmed values, the signed header list, and the payload's SHA-256.
pub fn canonical_request(req: &Received<'_>, signed_headers: &[&str]) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    // Every service but S3 encodes the (already encoded) path once more.
    out.push_str(&encode(if req.raw_path.is_empty() { "/" } else { req.raw_path }, false));
    out.push('\n');
    out.push_str(&canonical_query(req.raw_query.unwrap_or_default()));
    out.push('\n');
    for name in signed_headers {
        out.push_str(name);
        out.push(':');
        out.push_str(&header_value(req, name));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(req.body)));
    out
}

fn header_value(req: &Received<'_>, name: &str) -> String {
    let values: Vec<String> = req
        .headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if values.is_empty() && name == "host" {
        return req.authority.unwrap_or_default().to_owned();
    }
    values.join(",")
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_owned())
}

fn canonical_query(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), true), encode(&decode(v), true))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// SigV4 URI encoding: unreserved characters stay, everything else is `%XX` (upper case);
/// `/` stays in paths and is encoded in query components.
fn encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (b == b'/' && !encode_slash) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse::<i64>().ok());
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    u64::try_from(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se).ok()
}

/// Unix seconds → `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(0);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// The worked example of the AWS General Reference ("Signature Version 4 signing process"):
    /// IAM `ListUsers` on 2015-08-30, whose published signature is
    /// `5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7`.
    #[test]
    fn the_published_example_verifies() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"));
        headers.insert("host", HeaderValue::from_static("iam.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        let req = Received {
            method: "GET",
            raw_path: "/",
            raw_query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            authority: None,
            body: b"",
        };
        let canonical = canonical_request(&req, &["content-type", "host", "x-amz-date"]);
        assert_eq!(hex(&Sha256::digest(canonical.as_bytes())), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
        let sig = signature(SECRET, "20150830T123600Z", "20150830", "us-east-1", "iam", &canonical);
        assert_eq!(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    }

    fn signed(path: &'static str, secret: &str, amz_date: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("host", HeaderValue::from_static("127.0.0.1:9000"));
        headers.insert("x-amz-date", HeaderValue::from_static(amz_date));
        let req = Received { method: "POST", raw_path: path, raw_query: None, headers: &headers, authority: None, body: b"{}" };
        let names = ["content-type", "host", "x-amz-date"];
        let sig = signature(secret, amz_date, &amz_date[..8], "us-east-1", "bedrock", &canonical_request(&req, &names));
        let auth = format!("AWS4-HMAC-SHA256 Credential=AKID/{}/us-east-1/bedrock/aws4_request, SignedHeaders={}, Signature={sig}", &amz_date[..8], names.join(";"));
        headers.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        headers
    }

    fn check(headers: &HeaderMap, path: &str, now: u64) -> Result<(), AuthError> {
        let req = Received { method: "POST", raw_path: path, raw_query: None, headers, authority: None, body: b"{}" };
        verify(&req, &("AKID".to_owned(), SECRET.to_owned()), UNIX_EPOCH + Duration::from_secs(now))
    }

    #[test]
    fn signatures_verify_and_mismatches_are_refused() {
        let now = parse_amz_date("20240102T030405Z").unwrap();
        let path = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse";
        let good = signed(path, SECRET, "20240102T030405Z");
        assert_eq!(check(&good, path, now), Ok(()));
        // The path is part of what is signed, double-encoded.
        assert!(matches!(check(&good, "/model/other/converse", now), Err(AuthError::BadSignature(_))));
        let wrong_secret = signed(path, "not-the-secret", "20240102T030405Z");
        assert_eq!(check(&wrong_secret, path, now), Err(AuthError::BadSignature(MISMATCH.to_owned())));
        assert!(matches!(check(&good, path, now + 301), Err(AuthError::BadSignature(m)) if m.starts_with("Signature expired")));
        assert_eq!(check(&HeaderMap::new(), path, now), Err(AuthError::Missing));
        let mut other_key = good.clone();
        let auth = good.get("authorization").unwrap().to_str().unwrap().replace("Credential=AKID/", "Credential=OTHER/");
        other_key.insert("authorization", HeaderValue::from_str(&auth).unwrap());
        assert_eq!(check(&other_key, path, now), Err(AuthError::UnknownKey));
    }

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(format_amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(format_amz_date(parse_amz_date("20240229T235959Z").unwrap()), "20240229T235959Z");
        assert_eq!(parse_amz_date("2015-08-30T12:36:00Z"), None);
    }
}
