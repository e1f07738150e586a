//! Video generation: the canonical request and result, the rules each video family documents,
//! and the pure translation to and from the two upstream wire shapes the hub speaks — OpenAI's
//! Videos API (Sora: a job object polled until `completed`, then `GET /videos/{id}/content`)
//! and Gemini's Veo (`:predictLongRunning`, an operation polled until `done`, then its sample's
//! `uri`). Parsing a job or an operation never panics, whatever the upstream sends.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::provider::Protocol;
use crate::validate::InvalidRequest;

/// Longest prompt accepted, in characters.
pub const MAX_PROMPT_CHARS: usize = 32_000;
/// Longest clip any family makes, in seconds; a request above it is refused before resolving.
pub const MAX_SECONDS: u32 = 20;

/// One video to generate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoRequest {
    pub model: String,
    pub prompt: String,
    /// Clip length; each family has its own choices and default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    /// `WIDTHxHEIGHT` (`720x1280`) or an aspect ratio (`16:9`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    /// A first frame to animate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<InputImage>,
}

/// An image given inline: its type and base64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputImage {
    pub mime_type: String,
    pub data: String,
}

/// A finished video, downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoResult {
    pub bytes: Vec<u8>,
    pub mime_type: String,
    /// What the call is billed for.
    pub seconds: u32,
    /// The upstream model that made it.
    pub model: String,
}

fn invalid(param: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest { param, message: message.into() }
}

/// The rules every family shares: a prompt, not too long, and a sane length.
pub fn validate(req: &VideoRequest) -> Result<(), InvalidRequest> {
    if req.model.trim().is_empty() {
        return Err(invalid("model", "'model' must not be empty"));
    }
    if req.prompt.trim().is_empty() {
        return Err(invalid("prompt", "'prompt' must not be empty"));
    }
    let chars = req.prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(invalid("prompt", format!("'prompt' is {chars} characters; the limit is {MAX_PROMPT_CHARS}")));
    }
    if let Some(s) = req.seconds {
        if s == 0 || s > MAX_SECONDS {
            return Err(invalid("seconds", format!("'seconds' must be between 1 and {MAX_SECONDS}, got {s}")));
        }
    }
    Ok(())
}

/// The documented choices of one video family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's Sora (`sora-2`, `sora-2-pro`): 4, 8 or 12 s (default 4); `720x1280` (default)
    /// or `1280x720`, and for `sora-2-pro` also `1024x1792` and `1792x1024`.
    Sora,
    /// Google's Veo 3: 4, 6 or 8 s (default 8); `16:9` (default) or `9:16`, at 720p or 1080p.
    Veo,
}

const SORA_SECONDS: [u32; 3] = [4, 8, 12];
const SORA_SIZES: [&str; 2] = ["720x1280", "1280x720"];
const SORA_PRO_SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];
const VEO_SECONDS: [u32; 3] = [4, 6, 8];

impl Family {
    /// The family an upstream protocol makes videos with, if any.
    pub fn for_protocol(protocol: Protocol) -> Option<Family> {
        match protocol {
            Protocol::OpenAiChat => Some(Family::Sora),
            Protocol::GeminiGenerateContent => Some(Family::Veo),
            _ => None,
        }
    }

    fn default_seconds(self) -> u32 {
        match self {
            Family::Sora => 4,
            Family::Veo => 8,
        }
    }

    /// The seconds the call asks for (the family's default when it does not say).
    pub fn seconds(self, req: &VideoRequest) -> u32 {
        req.seconds.unwrap_or_else(|| self.default_seconds())
    }

    /// Checks the request against this family's documented choices for `model` (the upstream
    /// model id).
    pub fn check(self, req: &VideoRequest, model: &str) -> Result<(), InvalidRequest> {
        let seconds = self.seconds(req);
        let allowed: &[u32] = match self {
            Family::Sora => &SORA_SECONDS,
            Family::Veo => &VEO_SECONDS,
        };
        if !allowed.contains(&seconds) {
            return Err(invalid("seconds", format!("'{model}' makes clips of {} seconds, not {seconds}", list(allowed))));
        }
        match self {
            Family::Sora => {
                sora_size(req.size.as_deref(), model)?;
            }
            Family::Veo => {
                veo_shape(req.size.as_deref())?;
            }
        }
        Ok(())
    }
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Sora's `size` for the request: as given, or from an aspect ratio.
fn sora_size(size: Option<&str>, model: &str) -> Result<&'static str, InvalidRequest> {
    let sizes: &[&'static str] = if model.starts_with("sora-2-pro") { &SORA_PRO_SIZES } else { &SORA_SIZES };
    let wanted = match size.map(str::trim) {
        None | Some("") => return Ok("720x1280"),
        Some("9:16") => "720x1280",
        Some("16:9") => "1280x720",
        Some(s) => s,
    };
    sizes
        .iter()
        .find(|s| **s == wanted)
        .copied()
        .ok_or_else(|| invalid("size", format!("'{model}' makes videos of size {}, not '{wanted}'", sizes.join(", "))))
}

/// Veo's aspect ratio and resolution for the request.
fn veo_shape(size: Option<&str>) -> Result<(&'static str, Option<&'static str>), InvalidRequest> {
    Ok(match size.map(str::trim) {
        None | Some("") | Some("16:9") => ("16:9", None),
        Some("9:16") => ("9:16", None),
        Some("1280x720") => ("16:9", Some("720p")),
        Some("720x1280") => ("9:16", Some("720p")),
        Some("1920x1080") => ("16:9", Some("1080p")),
        Some("1080x1920") => ("9:16", Some("1080p")),
        Some(other) => {
            return Err(invalid("size", format!("Veo makes videos of aspect ratio 16:9 or 9:16 (or sizes 1280x720, 720x1280, 1920x1080, 1080x1920), not '{other}'")))
        }
    })
}

/// The text fields of Sora's `POST /videos` form (the input image, if any, is sent as the
/// `input_reference` file part).
pub fn sora_fields(req: &VideoRequest, model: &str) -> Result<Vec<(&'static str, String)>, InvalidRequest> {
    Family::Sora.check(req, model)?;
    let size = sora_size(req.size.as_deref(), model)?;
    Ok(vec![
        ("model", model.to_owned()),
        ("prompt", req.prompt.clone()),
        ("seconds", Family::Sora.seconds(req).to_string()),
        ("size", size.to_owned()),
    ])
}

/// Veo's `:predictLongRunning` body.
pub fn veo_body(req: &VideoRequest) -> Result<Value, InvalidRequest> {
    Family::Veo.check(req, "veo")?;
    let (aspect, resolution) = veo_shape(req.size.as_deref())?;
    let mut instance = json!({ "prompt": req.prompt });
    if let Some(image) = &req.image {
        instance["image"] = json!({ "bytesBase64Encoded": image.data, "mimeType": image.mime_type });
    }
    let mut parameters = json!({ "durationSeconds": Family::Veo.seconds(req), "aspectRatio": aspect });
    if let Some(r) = resolution {
        parameters["resolution"] = json!(r);
    }
    Ok(json!({ "instances": [instance], "parameters": parameters }))
}

/// Where a job stands, in either family's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Queued or rendering; `progress` in percent when the upstream says.
    Running { progress: Option<u8> },
    /// Done; the file is at `uri` (Veo) or at the job's content route (Sora: `None`).
    Succeeded { uri: Option<String> },
    /// Done without a video; `message` is the upstream's reason.
    Failed { code: Option<String>, message: String },
}

/// A reply that is not the shape the family documents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

/// A Sora job object: its id and state.
pub fn parse_sora_job(bytes: &[u8]) -> Result<(String, JobState), WireError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| WireError(format!("video job: {e}")))?;
    let id = v.get("id").and_then(Value::as_str).filter(|s| !s.is_empty()).ok_or_else(|| WireError("video job has no 'id'".to_owned()))?;
    let progress = v.get("progress").and_then(Value::as_u64).map(|p| u8::try_from(p.min(100)).unwrap_or(100));
    let state = match v.get("status").and_then(Value::as_str) {
        Some("queued" | "in_progress") => JobState::Running { progress },
        Some("completed") => JobState::Succeeded { uri: None },
        Some("failed") => {
            let error = v.get("error");
            JobState::Failed {
                code: error.and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_owned),
                message: error.and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("the video could not be generated").to_owned(),
            }
        }
        other => return Err(WireError(format!("video job has an unknown status {other:?}"))),
    };
    Ok((id.to_owned(), state))
}

/// The operation name `:predictLongRunning` answers.
pub fn parse_veo_submitted(bytes: &[u8]) -> Result<String, WireError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| WireError(format!("operation: {e}")))?;
    v.get("name")
        .and_then(Value::as_str)
        .filter(|n| n.starts_with("models/") && n.contains("/operations/") && !n.contains(".."))
        .map(str::to_owned)
        .ok_or_else(|| WireError("operation has no usable 'name'".to_owned()))
}

/// A Veo operation: running, done with its first sample's URI, or done with an error (an
/// answer whose samples were all filtered counts as failed, with Google's reason).
pub fn parse_veo_operation(bytes: &[u8]) -> Result<JobState, WireError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| WireError(format!("operation: {e}")))?;
    if !v.is_object() {
        return Err(WireError("operation is not an object".to_owned()));
    }
    if v.get("done").and_then(Value::as_bool) != Some(true) {
        return Ok(JobState::Running { progress: None });
    }
    if let Some(error) = v.get("error") {
        return Ok(JobState::Failed {
            code: error.get("code").map(|c| c.to_string()),
            message: error.get("message").and_then(Value::as_str).unwrap_or("the video could not be generated").to_owned(),
        });
    }
    let reply = v.get("response").and_then(|r| r.get("generateVideoResponse"));
    let uri = reply
        .and_then(|r| r.get("generatedSamples"))
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(|s| s.get("video"))
        .and_then(|s| s.get("uri"))
        .and_then(Value::as_str);
    if let Some(uri) = uri {
        return Ok(JobState::Succeeded { uri: Some(uri.to_owned()) });
    }
    let reason = reply
        .and_then(|r| r.get("raiMediaFilteredReasons"))
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(Value::as_str);
    Ok(JobState::Failed {
        code: reason.map(|_| "filtered".to_owned()),
        message: reason.unwrap_or("the operation ended without a video").to_owned(),
    })
}

/// `POST /v1/videos` as OpenAI clients send it (JSON, or the text fields of the form).
#[derive(Debug, Clone, Deserialize)]
pub struct OpenAiVideoCreate {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub prompt: String,
    /// `"4"` in OpenAI's API; a number is taken too.
    #[serde(default)]
    pub seconds: Option<Value>,
    #[serde(default)]
    pub size: Option<String>,
}

/// The canonical request (`sora-2` when no model is named, as OpenAI's default).
pub fn from_openai(body: OpenAiVideoCreate, image: Option<InputImage>) -> Result<VideoRequest, InvalidRequest> {
    let seconds = match body.seconds.filter(|v| !v.is_null()) {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("seconds", format!("'seconds' must be a whole number of seconds, got {v}")))?,
        ),
    };
    let model = body.model.filter(|m| !m.trim().is_empty()).unwrap_or_else(|| "sora-2".to_owned());
    Ok(VideoRequest { model, prompt: body.prompt, seconds, size: body.size, image })
}

/// The hub's own job object on `/v1/videos`, in OpenAI's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VideoJob {
    pub id: String,
    pub object: &'static str,
    pub created_at: i64,
    /// `queued`, `in_progress`, `completed` or `failed`.
    pub status: &'static str,
    pub completed_at: Option<i64>,
    pub error: Option<JobError>,
    pub expires_at: Option<i64>,
    pub model: String,
    pub progress: u8,
    pub remixed_from_video_id: Option<String>,
    pub seconds: String,
    pub size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn req(seconds: Option<u32>, size: Option<&str>) -> VideoRequest {
        VideoRequest { model: "m".into(), prompt: "a cat".into(), seconds, size: size.map(str::to_owned), image: None }
    }

    #[test]
    fn shared_rules_name_the_parameter() {
        assert_eq!(validate(&req(None, None)), Ok(()));
        assert_eq!(validate(&VideoRequest { prompt: " ".into(), ..req(None, None) }).unwrap_err().param, "prompt");
        assert_eq!(validate(&VideoRequest { model: String::new(), ..req(None, None) }).unwrap_err().param, "model");
        assert_eq!(validate(&req(Some(0), None)).unwrap_err().param, "seconds");
        assert_eq!(validate(&req(Some(21), None)).unwrap_err().param, "seconds");
        let long = VideoRequest { prompt: "a".repeat(MAX_PROMPT_CHARS + 1), ..req(None, None) };
        assert_eq!(validate(&long).unwrap_err().param, "prompt");
    }

    #[test]
    fn sora_takes_its_documented_lengths_and_sizes() {
        let fields = sora_fields(&req(Some(8), Some("16:9")), "sora-2").unwrap();
        assert_eq!(fields, vec![("model", "sora-2".into()), ("prompt", "a cat".into()), ("seconds", "8".into()), ("size", "1280x720".into())]);
        assert_eq!(sora_fields(&req(None, None), "sora-2").unwrap()[2].1, "4");
        assert_eq!(sora_fields(&req(Some(6), None), "sora-2").unwrap_err().param, "seconds");
        assert_eq!(sora_fields(&req(None, Some("1792x1024")), "sora-2").unwrap_err().param, "size");
        assert!(sora_fields(&req(Some(12), Some("1792x1024")), "sora-2-pro").is_ok());
        assert_eq!(Family::Sora.seconds(&req(None, None)), 4);
    }

    #[test]
    fn veo_takes_aspect_ratios_or_sizes() {
        let body = veo_body(&req(Some(4), Some("1080x1920"))).unwrap();
        assert_eq!(body, json!({"instances": [{"prompt": "a cat"}], "parameters": {"durationSeconds": 4, "aspectRatio": "9:16", "resolution": "1080p"}}));
        let with_image = VideoRequest { image: Some(InputImage { mime_type: "image/png".into(), data: "AAAA".into() }), ..req(None, None) };
        let body = veo_body(&with_image).unwrap();
        assert_eq!(body["instances"][0]["image"], json!({"bytesBase64Encoded": "AAAA", "mimeType": "image/png"}));
        assert_eq!(body["parameters"], json!({"durationSeconds": 8, "aspectRatio": "16:9"}));
        assert_eq!(veo_body(&req(Some(12), None)).unwrap_err().param, "seconds");
        assert_eq!(veo_body(&req(None, Some("4:3"))).unwrap_err().param, "size");
        assert_eq!(Family::for_protocol(Protocol::GeminiGenerateContent), Some(Family::Veo));
        assert_eq!(Family::for_protocol(Protocol::AnthropicMessages), None);
    }

    #[test]
    fn openai_clients_requests_become_canonical() {
        let body: OpenAiVideoCreate = serde_json::from_value(json!({"prompt": "a cat", "seconds": "8", "size": "1280x720"})).unwrap();
        let req = from_openai(body, None).unwrap();
        assert_eq!(req, VideoRequest { model: "sora-2".into(), prompt: "a cat".into(), seconds: Some(8), size: Some("1280x720".into()), image: None });
        let body: OpenAiVideoCreate = serde_json::from_value(json!({"model": "google/veo-3.0-generate-001", "prompt": "a cat", "seconds": 4})).unwrap();
        assert_eq!(from_openai(body, None).unwrap().seconds, Some(4));
        let body: OpenAiVideoCreate = serde_json::from_value(json!({"prompt": "a cat", "seconds": "many"})).unwrap();
        assert_eq!(from_openai(body, None).unwrap_err().param, "seconds");
    }

    #[test]
    fn sora_jobs_from_the_reference() {
        let queued = parse_sora_job(include_bytes!("../fixtures/video/sora_queued.json")).unwrap();
        assert_eq!(queued, ("video_68d7512d07848190b3e45da0ecbebcde004da08e1e0678d5".to_owned(), JobState::Running { progress: Some(0) }));
        let running = parse_sora_job(include_bytes!("../fixtures/video/sora_in_progress.json")).unwrap();
        assert_eq!(running.1, JobState::Running { progress: Some(33) });
        let done = parse_sora_job(include_bytes!("../fixtures/video/sora_completed.json")).unwrap();
        assert_eq!(done.1, JobState::Succeeded { uri: None });
        let failed = parse_sora_job(include_bytes!("../fixtures/video/sora_failed.json")).unwrap();
        assert_eq!(failed.1, JobState::Failed { code: Some("moderation_blocked".into()), message: "Your request was blocked by our moderation system.".into() });
        assert!(parse_sora_job(br#"{"id":"v","status":"exploded"}"#).is_err());
        assert!(parse_sora_job(br#"{"status":"queued"}"#).is_err());
    }

    #[test]
    fn veo_operations_from_the_reference() {
        let name = parse_veo_submitted(include_bytes!("../fixtures/video/veo_submitted.json")).unwrap();
        assert_eq!(name, "models/veo-3.0-generate-001/operations/h3x8zq2kvw1o");
        assert!(parse_veo_submitted(br#"{"name":"models/x/operations/../../files"}"#).is_err());
        assert_eq!(parse_veo_operation(include_bytes!("../fixtures/video/veo_running.json")).unwrap(), JobState::Running { progress: None });
        assert_eq!(
            parse_veo_operation(include_bytes!("../fixtures/video/veo_done.json")).unwrap(),
            JobState::Succeeded { uri: Some("https://generativelanguage.googleapis.com/v1beta/files/3l8bq9v2m0xk:download?alt=media".into()) }
        );
        assert_eq!(
            parse_veo_operation(include_bytes!("../fixtures/video/veo_failed.json")).unwrap(),
            JobState::Failed { code: Some("3".into()), message: "The prompt could not be submitted.".into() }
        );
        let filtered = parse_veo_operation(include_bytes!("../fixtures/video/veo_filtered.json")).unwrap();
        assert!(matches!(filtered, JobState::Failed { code: Some(ref c), .. } if c == "filtered"));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![Just("done".to_owned()), Just("response".to_owned()), Just("generateVideoResponse".to_owned()), Just("generatedSamples".to_owned()), Just("video".to_owned()), Just("uri".to_owned()), Just("error".to_owned()), Just("status".to_owned()), Just("id".to_owned()), Just("progress".to_owned()), "[a-z]{1,4}"],
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsing_replies_never_panics(v in json_value(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let _ = parse_sora_job(&bytes);
            let _ = parse_veo_operation(&bytes);
            let _ = parse_veo_submitted(&bytes);
            let _ = parse_sora_job(&raw);
            let _ = parse_veo_operation(&raw);
            let _ = parse_veo_submitted(&raw);
        }
    }
}
