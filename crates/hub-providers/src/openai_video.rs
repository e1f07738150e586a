//! Video generation on the OpenAI protocol (Sora): `POST {base}/videos` as a multipart form,
//! as OpenAI's SDKs send it (the input image as the `input_reference` file part), then
//! `GET {base}/videos/{id}` until the job ends, then `GET {base}/videos/{id}/content`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hub_core::video::{self, Family, VideoRequest, VideoResult};
use tokio::time::Instant;

use crate::adapter::Target;
use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::openai::parse_failure;
use crate::video::{call_json, download, invalid_for_family, wait_for, Auth, VideoPolling};

/// One multipart form: text fields, then an optional file part.
pub(crate) fn form(boundary: &str, fields: &[(&str, String)], file: Option<(&str, &str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some((name, mime, bytes)) = file {
        let ext = mime.rsplit('/').next().unwrap_or("bin");
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"reference.{ext}\"\r\nContent-Type: {mime}\r\n\r\n").as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// A job id as a path segment, refusing anything that could change the URL.
fn job_id(id: &str) -> Result<&str, ProviderError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')) {
        Ok(id)
    } else {
        Err(ProviderError::Protocol("the video job id is not a plain id".to_owned()))
    }
}


pub async fn video(client: &HttpClient, target: &Target, req: &VideoRequest, polling: &VideoPolling) -> Result<VideoResult, ProviderError> {
    let fields = video::sora_fields(req, &target.model).map_err(invalid_for_family)?;
    let image = match &req.image {
        Some(i) => Some((i.mime_type.as_str(), STANDARD.decode(i.data.trim()).map_err(|_| invalid_for_family(hub_core::validate::InvalidRequest { param: "image", message: "the input image is not valid base64".to_owned() }))?)),
        None => None,
    };
    let boundary = format!("aignehub{}", hub_core::base62::random(&mut rand::rngs::OsRng, 24));
    let body = form(&boundary, &fields, image.as_ref().map(|(m, b)| ("input_reference", *m, b.as_slice())));
    let base = target.base_url.trim_end_matches('/');
    let started = Instant::now();
    let submit = client.inner.post(format!("{base}/videos")).header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}")).body(body);
    let (id, _) = video::parse_sora_job(&call_json(client, target, submit, Auth::Bearer, parse_failure).await?).map_err(|e| ProviderError::Protocol(e.0))?;
    let id = job_id(&id)?.to_owned();
    let status_url = format!("{base}/videos/{id}");
    wait_for(polling, started, || async {
        let bytes = call_json(client, target, client.inner.get(&status_url), Auth::Bearer, parse_failure).await?;
        video::parse_sora_job(&bytes).map(|(_, s)| s).map_err(|e| ProviderError::Protocol(e.0))
    })
    .await?;
    let (bytes, mime_type) = download(client, target, &format!("{status_url}/content"), Auth::Bearer, parse_failure).await?;
    Ok(VideoResult { bytes, mime_type, seconds: Family::Sora.seconds(req), model: target.model.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_what_openai_sdks_send() {
        let body = form("B", &[("model", "sora-2".to_owned()), ("prompt", "a cat".to_owned())], Some(("input_reference", "image/png", b"PNG")));
        let text = String::from_utf8(body).unwrap_or_default();
        assert_eq!(
            text,
            "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nsora-2\r\n--B\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n\
             --B\r\nContent-Disposition: form-data; name=\"input_reference\"; filename=\"reference.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--B--\r\n"
        );
        assert!(job_id("video_abc-1").is_ok());
        assert!(job_id("../files").is_err() && job_id("").is_err() && job_id("a?b").is_err());
    }
}
