//! One JSON request/response call to an OpenAI-protocol endpoint (embeddings, images): the
//! credential as a bearer header, first-byte and total deadlines, bounded bodies, and provider
//! errors parsed into safe failures. Chat has its own streaming-aware path in `openai.rs`.

use crate::adapter::Target;
use crate::client::{transport_error, HttpClient};
use crate::error::{ProviderError, TimeoutKind};
use crate::openai::parse_failure;
use crate::reply::{read_limited, retry_after};

/// Largest reply accepted (embeddings of large batches and base64 images are big).
const MAX_REPLY_BYTES: usize = 128 * 1024 * 1024;
/// Largest error body read.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// `POST {base_url}/{path}` with a JSON body; the reply body on success.
pub(crate) async fn post_json(client: &HttpClient, target: &Target, path: &str, body: Vec<u8>) -> Result<Vec<u8>, ProviderError> {
    let url = format!("{}/{path}", target.base_url.trim_end_matches('/'));
    let work = async {
        let mut builder = client
            .inner
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body);
        if let Some(key) = &target.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        let response = tokio::time::timeout(client.timeouts.first_byte, builder.send())
            .await
            .map_err(|_| ProviderError::Timeout(TimeoutKind::FirstByte))?
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let wait = retry_after(response.headers());
            let bytes = read_limited(response, MAX_ERROR_BYTES).await.unwrap_or_default();
            let credential = target.api_key.as_ref().map(|k| k.expose());
            return Err(ProviderError::Upstream(parse_failure(status, &bytes, wait, credential)));
        }
        read_limited(response, MAX_REPLY_BYTES).await
    };
    tokio::time::timeout(client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
}
