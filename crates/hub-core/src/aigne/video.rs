//! `POST /api/v2/video`: the AIGNE SDK's `AIGNEHubVideoModel` input → the canonical video
//! request, and the finished video → its reply
//! (`{"videos":[{"type":"url","url","mimeType"}],"usage":{…},"model","seconds"}`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{invalid, required_model, OutputUsage};
use crate::validate::InvalidRequest;
use crate::video::{InputImage, VideoRequest};

/// `{"prompt","model"?,"size"?,"seconds"?,"image"?,"modelOptions":{"model",…},"outputFileType"?}`;
/// `size` and `seconds` may also sit in `modelOptions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoInput {
    pub prompt: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub size: Option<String>,
    /// A string in the SDK's schema (`"8"`); a number is taken too.
    #[serde(default)]
    pub seconds: Option<Value>,
    /// The framework's file content: `{"type":"file","data","mimeType"}`, or a `data:` URL.
    #[serde(default)]
    pub image: Option<Value>,
    #[serde(default)]
    pub model_options: Option<Map<String, Value>>,
    /// `url` (what the SDK sends) or `file` (base64 in the reply).
    #[serde(default)]
    pub output_file_type: Option<String>,
}

/// The canonical request, and whether the reply carries the file itself (`file`) rather than a URL.
pub fn to_video_request(input: VideoInput) -> Result<(VideoRequest, bool), InvalidRequest> {
    let opts = input.model_options.as_ref();
    let option = |key: &str| opts.and_then(|o| o.get(key)).filter(|v| !v.is_null());
    let model = required_model(option("model").and_then(Value::as_str), input.model.as_deref())?;
    let seconds = match input.seconds.as_ref().filter(|v| !v.is_null()).or_else(|| option("seconds")) {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("input.seconds", format!("'seconds' must be a whole number of seconds, got {v}")))?,
        ),
    };
    let size = input.size.or_else(|| option("size").and_then(Value::as_str).map(str::to_owned));
    let inline = match input.output_file_type.as_deref() {
        None | Some("url") => false,
        Some("file") => true,
        Some(other) => return Err(invalid("input.outputFileType", format!("'outputFileType' must be 'url' or 'file', got '{other}'"))),
    };
    let image = input.image.as_ref().filter(|v| !v.is_null()).map(input_image).transpose()?;
    Ok((VideoRequest { model, prompt: input.prompt, seconds, size, image }, inline))
}

/// An inline image: `{"type":"file","data","mimeType"}` or a `data:` URL (`{"type":"url"}` or a
/// bare string). The hub does not fetch remote images or read local paths.
fn input_image(v: &Value) -> Result<InputImage, InvalidRequest> {
    let url = v.as_str().or_else(|| (v.get("type").and_then(Value::as_str) == Some("url")).then(|| v.get("url").and_then(Value::as_str)).flatten());
    if let Some(url) = url {
        let parsed = url.strip_prefix("data:").and_then(|rest| rest.split_once(";base64,"));
        return match parsed {
            Some((mime, data)) if mime.starts_with("image/") => Ok(InputImage { mime_type: mime.to_owned(), data: data.to_owned() }),
            _ => Err(invalid("input.image", "'input.image' must be inline: a data: URL or {\"type\":\"file\",\"data\",\"mimeType\"}; the hub does not fetch images")),
        };
    }
    match (v.get("type").and_then(Value::as_str), v.get("data").and_then(Value::as_str)) {
        (Some("file"), Some(data)) => {
            let mime = v.get("mimeType").and_then(Value::as_str).unwrap_or("image/png");
            Ok(InputImage { mime_type: mime.to_owned(), data: data.to_owned() })
        }
        _ => Err(invalid("input.image", "'input.image' must be {\"type\":\"file\",\"data\",\"mimeType\"} or a data: URL")),
    }
}

/// One video as the framework's file content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum VideoFile {
    Url {
        url: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
    File {
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoReply {
    pub videos: Vec<VideoFile>,
    pub usage: OutputUsage,
    pub model: String,
    pub seconds: u32,
}

pub fn to_video_reply(video: VideoFile, model: &str, seconds: u32) -> VideoReply {
    VideoReply { videos: vec![video], usage: OutputUsage::default(), model: model.to_owned(), seconds }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Result<(VideoRequest, bool), InvalidRequest> {
        to_video_request(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn the_sdk_input_becomes_the_canonical_request() {
        let (req, inline) = input(json!({"prompt": "a cat", "seconds": "8", "size": "1280x720", "modelOptions": {"model": "openai/sora-2"}, "outputFileType": "url"})).unwrap();
        assert_eq!(req, VideoRequest { model: "openai/sora-2".into(), prompt: "a cat".into(), seconds: Some(8), size: Some("1280x720".into()), image: None });
        assert!(!inline);
        let (req, inline) = input(json!({"prompt": "a cat", "model": "google/veo-3.0-generate-001", "modelOptions": {"seconds": 4, "size": "9:16"}, "outputFileType": "file"})).unwrap();
        assert_eq!((req.seconds, req.size.as_deref(), inline), (Some(4), Some("9:16"), true));
        let (req, _) = input(json!({"prompt": "p", "modelOptions": {"model": "m"}, "image": {"type": "file", "data": "AAAA", "mimeType": "image/jpeg"}})).unwrap();
        assert_eq!(req.image, Some(InputImage { mime_type: "image/jpeg".into(), data: "AAAA".into() }));
        let (req, _) = input(json!({"prompt": "p", "modelOptions": {"model": "m"}, "image": {"type": "url", "url": "data:image/png;base64,BBBB"}})).unwrap();
        assert_eq!(req.image, Some(InputImage { mime_type: "image/png".into(), data: "BBBB".into() }));
    }

    #[test]
    fn bad_inputs_name_their_parameter() {
        assert_eq!(input(json!({"prompt": "p"})).unwrap_err().param, "input.modelOptions.model");
        assert_eq!(input(json!({"prompt": "p", "model": "m", "seconds": "eight"})).unwrap_err().param, "input.seconds");
        assert_eq!(input(json!({"prompt": "p", "model": "m", "outputFileType": "local"})).unwrap_err().param, "input.outputFileType");
        assert_eq!(input(json!({"prompt": "p", "model": "m", "image": {"type": "url", "url": "https://x/a.png"}})).unwrap_err().param, "input.image");
        assert_eq!(input(json!({"prompt": "p", "model": "m", "image": {"type": "local", "path": "/etc/passwd"}})).unwrap_err().param, "input.image");
    }

    #[test]
    fn the_reply_is_what_the_sdk_reads() {
        let reply = to_video_reply(VideoFile::Url { url: "http://hub/files/a".into(), mime_type: "video/mp4".into() }, "sora-2", 4);
        assert_eq!(
            serde_json::to_value(reply).unwrap(),
            json!({"videos": [{"type": "url", "url": "http://hub/files/a", "mimeType": "video/mp4"}], "usage": {"inputTokens": 0, "outputTokens": 0}, "model": "sora-2", "seconds": 4})
        );
    }
}
