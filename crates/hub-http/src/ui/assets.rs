//! The vendored stylesheet and script, embedded in the binary.

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], CSS)
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], JS)
}
