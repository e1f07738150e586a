//! Veo through the Gemini API: `POST {root}/models/{model}:predictLongRunning`, then
//! `GET {root}/{operation name}` until `done`, then the first sample's `uri`. The API key goes
//! with the download only when the URI is on the provider's own origin, so a reply naming
//! another host never receives the credential.

use hub_core::video::{self, Family, VideoRequest, VideoResult};
use tokio::time::Instant;

use super::{endpoint, errors::parse_failure};
use crate::adapter::Target;
use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::video::{call_json, download, invalid_for_family, wait_for, Auth, VideoPolling};

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..].find(['/', '?', '#']).map_or(url.len(), |i| after_scheme + i);
    Some(&url[..end])
}

pub async fn video(client: &HttpClient, target: &Target, req: &VideoRequest, polling: &VideoPolling) -> Result<VideoResult, ProviderError> {
    let body = video::veo_body(req).map_err(invalid_for_family)?;
    let body = serde_json::to_vec(&body).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))?;
    let submit_url = endpoint(&target.base_url, &target.model, "predictLongRunning")?;
    // The operation lives under the same version root as the model.
    let root = submit_url.split("/models/").next().unwrap_or_default().to_owned();
    let started = Instant::now();
    let submit = client.inner.post(&submit_url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    let name = video::parse_veo_submitted(&call_json(client, target, submit, Auth::GoogApiKey, parse_failure).await?).map_err(|e| ProviderError::Protocol(e.0))?;
    let status_url = format!("{root}/{name}");
    let uri = wait_for(polling, started, || async {
        let bytes = call_json(client, target, client.inner.get(&status_url), Auth::GoogApiKey, parse_failure).await?;
        video::parse_veo_operation(&bytes).map_err(|e| ProviderError::Protocol(e.0))
    })
    .await?;
    let uri = uri.ok_or_else(|| ProviderError::Protocol("the operation ended without a video URI".to_owned()))?;
    let same_origin = origin(&uri).is_some() && origin(&uri) == origin(&submit_url);
    let (bytes, mime_type) = if same_origin {
        download(client, target, &uri, Auth::GoogApiKey, parse_failure).await?
    } else {
        let anonymous = Target { api_key: None, ..target.clone() };
        download(client, &anonymous, &uri, Auth::GoogApiKey, parse_failure).await?
    };
    Ok(VideoResult { bytes, mime_type, seconds: Family::Veo.seconds(req), model: target.model.clone() })
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(origin("https://generativelanguage.googleapis.com/v1beta/files/x:download?alt=media"), Some("https://generativelanguage.googleapis.com"));
        assert_eq!(origin("http://127.0.0.1:9/v1beta"), Some("http://127.0.0.1:9"));
        assert_eq!(origin("http://h?x"), Some("http://h"));
        assert_eq!(origin("not a url"), None);
        assert_ne!(origin("https://evil.example/v1beta"), origin("https://generativelanguage.googleapis.com/v1beta"));
    }
}
