//! Extractors that turn every malformed request into a problem naming the field.

use super::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A JSON body. Syntax errors, wrong types, missing and unknown fields become a 400 that
/// names the field; bodies over 1 MiB a 413.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !ct.is_empty() && !ct.starts_with("application/json") && !ct.contains("+json") {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send application/json, not {ct}"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body exceeds {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_body", e.body_text())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses JSON, naming the path of the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs on every field; a valid body does not need it.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." { "(body)".to_owned() } else { path };
        let code = if inner.is_syntax() || inner.is_eof() { "malformed_json" } else { "validation_failed" };
        ApiError::new(StatusCode::BAD_REQUEST, code, format!("{field}: {inner}")).field(field)
    })
}

/// Query parameters, with a 400 naming the parameter at fault.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(q.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let field = e.path().to_string();
            ApiError::bad_request(&field, format!("query parameter {field}: {}", e.into_inner()))
        })
    }
}

/// A path segment that must parse as one of our ids.
pub fn path_id<T>(
    field: &str,
    raw: &str,
    parse: fn(&str) -> Result<T, loyalty_core::ids::IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::invalid(field, format!("{field} {raw:?} {}", e.0)))
}
