//! Static assets, embedded in the binary: the pages need no file on disk and no build step.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Every asset: its name under `/static/`, its content type and its bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("console.css", "text/css; charset=utf-8", include_str!("../../static/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_str!("../../static/console.js")),
    ("member.css", "text/css; charset=utf-8", include_str!("../../static/member.css")),
];

/// `GET /static/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some((_, content_type, body)) = ASSETS.iter().find(|(n, _, _)| *n == name) else {
        let mut resp = (StatusCode::NOT_FOUND, "no such asset").into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        return resp;
    };
    let mut resp = (*body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // An hour: assets change only with the binary, and a new binary is a restart away.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}
