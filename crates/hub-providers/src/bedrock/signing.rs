//! AWS credentials, the signing region, the endpoint URL, and SigV4 signatures (computed by the
//! `aws-sigv4` crate; this module only feeds it the request).
//!
//! The hub stores a Bedrock credential as one secret: `ACCESS_KEY_ID:SECRET_ACCESS_KEY`, or
//! `ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN` for temporary credentials; an Amazon Bedrock
//! API key (`ABSK…`, `bedrock-api-key-…`) is also accepted and sent as a bearer token.
//!
//! The region is read from the base URL's host when it is an AWS endpoint
//! (`bedrock-runtime.<region>.amazonaws.com`, the `-fips` form, `.amazonaws.com.cn`, and VPC
//! endpoints `vpce-….bedrock-runtime.<region>.vpce.amazonaws.com`). Any other host (a proxy, a
//! private gateway, a simulator) is signed for the hub's default region: `AWS_REGION`, else
//! `AWS_DEFAULT_REGION`, else `us-east-1`, read once when the hub starts.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::ProviderError;

/// The signing name of Bedrock Runtime (its endpoints are `bedrock-runtime.*`, its signatures
/// say `bedrock`).
pub const SERVICE: &str = "bedrock";
pub const FALLBACK_REGION: &str = "us-east-1";

/// An access key pair, with a session token for temporary credentials. Never printed.
#[derive(Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AwsCredentials([redacted])")
    }
}

impl AwsCredentials {
    /// Parses the stored secret. The error never quotes it.
    pub fn parse(secret: &str) -> Result<AwsCredentials, ProviderError> {
        let mut parts = secret.trim().splitn(3, ':');
        let id = parts.next().unwrap_or_default().trim();
        let key = parts.next().unwrap_or_default().trim();
        let token = parts.next().map(str::trim).filter(|t| !t.is_empty());
        if id.is_empty() || key.is_empty() {
            return Err(ProviderError::Config(
                "the Amazon Bedrock credential must be ACCESS_KEY_ID:SECRET_ACCESS_KEY or ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN".to_owned(),
            ));
        }
        Ok(AwsCredentials { access_key_id: id.to_owned(), secret_access_key: key.to_owned(), session_token: token.map(str::to_owned) })
    }

    /// Every part, for scrubbing provider text.
    pub fn parts(&self) -> Vec<String> {
        let mut v = vec![self.access_key_id.clone(), self.secret_access_key.clone()];
        v.extend(self.session_token.clone());
        v
    }
}

/// What the stored secret holds: an access key pair, whose requests are signed with SigV4, or
/// an Amazon Bedrock API key (`ABSK…` long-term, `bedrock-api-key-…` short-term), which is sent
/// as a bearer token instead.
#[derive(Clone)]
pub enum Credential {
    Keys(AwsCredentials),
    ApiKey(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credential([redacted])")
    }
}

impl Credential {
    pub fn parse(secret: &str) -> Result<Credential, ProviderError> {
        let s = secret.trim();
        if !s.contains(':') && (s.starts_with("ABSK") || s.starts_with("bedrock-api-key-")) {
            return Ok(Credential::ApiKey(s.to_owned()));
        }
        AwsCredentials::parse(s).map(Credential::Keys)
    }

    /// Every secret part, for scrubbing provider text.
    pub fn parts(&self) -> Vec<String> {
        match self {
            Credential::Keys(k) => k.parts(),
            Credential::ApiKey(k) => vec![k.clone()],
        }
    }

    /// The headers that authenticate a request: a SigV4 signature over `method`, `url`,
    /// `headers` and `body`, or the bearer API key.
    pub fn auth_headers(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        region: &str,
        time: SystemTime,
    ) -> Result<Vec<(&'static str, String)>, ProviderError> {
        match self {
            Credential::Keys(k) => sign_request(method, url, headers, body, k, region, time),
            Credential::ApiKey(k) => Ok(vec![("authorization", format!("Bearer {k}"))]),
        }
    }
}

/// The default region for hosts that do not name one: `AWS_REGION`, `AWS_DEFAULT_REGION`, then
/// `us-east-1`.
pub fn default_region_from_env() -> String {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| is_region(v))
        .unwrap_or_else(|| FALLBACK_REGION.to_owned())
}

fn is_region(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.contains('-') && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The region an AWS Bedrock Runtime endpoint URL names, if it is one.
pub fn region_from_url(base_url: &str) -> Option<String> {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let aws = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") || host.ends_with(".api.aws");
    if !aws {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let at = labels.iter().position(|l| *l == "bedrock-runtime" || *l == "bedrock-runtime-fips")?;
    let region = labels.get(at + 1)?;
    is_region(region).then(|| (*region).to_owned())
}

/// `{base}/model/{modelId}/{action}`, the model id percent-encoded as one path segment
/// (`anthropic.claude-3-5-sonnet-20240620-v1:0` → `…-v1%3A0`; an ARN's `/` → `%2F`).
pub fn endpoint(base_url: &str, model: &str, action: &str) -> String {
    format!("{}/model/{}/{action}", base_url.trim_end_matches('/'), encode_segment(model))
}

fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The headers that sign a request: `authorization`, `x-amz-date` and, for temporary
/// credentials, `x-amz-security-token`. `headers` are the request's own headers to cover
/// (`host` is taken from the URL, as the HTTP client sends it).
pub fn sign_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    creds: &AwsCredentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, ProviderError> {
    sign_for(SERVICE, method, url, headers, body, creds, region, time)
}

#[allow(clippy::too_many_arguments)]
fn sign_for(
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    creds: &AwsCredentials,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, ProviderError> {
    let identity: Identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "aigne-hub",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| ProviderError::Config(format!("signing parameters: {e}")))?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body))
        .map_err(|_| ProviderError::Config("the Amazon Bedrock request URL cannot be signed".to_owned()))?;
    let (instructions, _signature) =
        sign(signable, &params).map_err(|_| ProviderError::Config("the Amazon Bedrock request could not be signed".to_owned()))?.into_parts();
    let (signed, _params) = instructions.into_parts();
    Ok(signed.into_iter().map(|h| (h.name(), h.value().to_owned())).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn credentials_parse_with_and_without_a_session_token() {
        let c = AwsCredentials::parse("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n").unwrap();
        assert_eq!(c.access_key_id, "AKIDEXAMPLE");
        assert_eq!(c.secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert!(c.session_token.is_none());
        let c = AwsCredentials::parse("ASIA1:secret:IQoJb3JpZ2luX2VjE//token==").unwrap();
        assert_eq!(c.session_token.as_deref(), Some("IQoJb3JpZ2luX2VjE//token=="));
        assert_eq!(c.parts().len(), 3);
    }

    #[test]
    fn a_malformed_credential_is_refused_without_quoting_it() {
        for bad in ["", "only-a-key-id", ":secret", "AKID:"] {
            match AwsCredentials::parse(bad) {
                Err(ProviderError::Config(m)) => assert!(bad.is_empty() || !m.contains(bad)),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(format!("{:?}", AwsCredentials::parse("AKID:SECRETSECRET").unwrap()), "AwsCredentials([redacted])");
    }

    #[test]
    fn regions_come_from_aws_hosts_only() {
        assert_eq!(region_from_url("https://bedrock-runtime.us-east-1.amazonaws.com").as_deref(), Some("us-east-1"));
        assert_eq!(region_from_url("https://bedrock-runtime.eu-west-3.amazonaws.com/").as_deref(), Some("eu-west-3"));
        assert_eq!(region_from_url("https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com").as_deref(), Some("us-gov-west-1"));
        assert_eq!(region_from_url("https://bedrock-runtime.cn-north-1.amazonaws.com.cn").as_deref(), Some("cn-north-1"));
        assert_eq!(
            region_from_url("https://vpce-0a1b2c3d4e5f-abcdefgh.bedrock-runtime.ap-southeast-2.vpce.amazonaws.com").as_deref(),
            Some("ap-southeast-2")
        );
        assert_eq!(region_from_url("http://127.0.0.1:8080"), None);
        assert_eq!(region_from_url("https://bedrock-runtime.us-east-1.example.com"), None);
    }

    #[test]
    fn model_ids_are_one_encoded_path_segment() {
        assert_eq!(
            endpoint("https://bedrock-runtime.us-east-1.amazonaws.com/", "anthropic.claude-3-5-sonnet-20240620-v1:0", "converse"),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:9", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x", "converse-stream"),
            "http://127.0.0.1:9/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x/converse-stream"
        );
    }

    #[test]
    fn bedrock_api_keys_are_bearer_tokens() {
        let c = Credential::parse("ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl").unwrap();
        let h = c.auth_headers("POST", "https://x.amazonaws.com/", &[], b"", "us-east-1", SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(h, vec![("authorization", "Bearer ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl".to_owned())]);
        assert!(matches!(Credential::parse("AKID:SECRET").unwrap(), Credential::Keys(_)));
        assert!(Credential::parse("not-a-key").is_err());
        assert_eq!(format!("{c:?}"), "Credential([redacted])");
    }

    /// The worked example of the AWS General Reference (IAM `ListUsers`, 2015-08-30) signs to
    /// its published signature: the request is fed to the signer as AWS specifies.
    #[test]
    fn the_published_example_signs_to_its_signature() {
        let creds = AwsCredentials::parse("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let headers = sign_for(
            "iam",
            "GET",
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            b"",
            &creds,
            "us-east-1",
            time,
        )
        .unwrap();
        let auth = headers.iter().find(|(k, _)| *k == "authorization").map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    /// The signature follows the SigV4 rules: scope `date/region/bedrock/aws4_request`, the
    /// signed headers named, the session token added and signed, and nothing but the signature
    /// changes with the secret.
    #[test]
    fn requests_are_signed_for_bedrock() {
        let creds = AwsCredentials::parse("AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY:TOKEN123").unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/m%3A0/converse";
        let headers = sign_request("POST", url, &[("content-type", "application/json")], b"{}", &creds, "us-east-1", time).unwrap();
        let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("x-amz-date"), "20150830T123600Z");
        assert_eq!(get("x-amz-security-token"), "TOKEN123");
        let auth = get("authorization");
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders="), "{auth}");
        assert!(auth.contains("content-type;host;x-amz-date;x-amz-security-token"), "{auth}");
        assert!(!auth.contains("wJalrXUtnFEMI"));
        let other = AwsCredentials { secret_access_key: "different".into(), ..creds.clone() };
        let again = sign_request("POST", url, &[("content-type", "application/json")], b"{}", &other, "us-east-1", time).unwrap();
        let auth2 = again.iter().find(|(k, _)| *k == "authorization").map(|(_, v)| v.clone()).unwrap();
        assert_ne!(auth, auth2);
        assert_eq!(auth.split("Signature=").next(), auth2.split("Signature=").next());
    }
}
