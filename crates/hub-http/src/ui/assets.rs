//! The vendored stylesheet and script, embedded in the binary.

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
const CHARTS_JS: &str = include_str!("../../assets/charts.js");
const PLAYGROUND_JS: &str = include_str!("../../assets/playground.js");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard.css");

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], CSS)
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], JS)
}

pub async fn charts_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], CHARTS_JS)
}

pub async fn dashboard_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], DASHBOARD_CSS)
}

pub async fn playground_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"))], PLAYGROUND_JS)
}
