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

/// Parses JSON, naming the path of the field at fault. A body must be one JSON value: bytes
/// after it (other than white space) are refused, not ignored.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Tracking the path costs on every field; a valid body does not need it.
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    // JSON has one number type, and JSON Schema counts `116.0` as the integer 116: a body the
    // document allows must not be refused for writing an integer with a zero fraction.
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if integral_floats_to_integers(&mut value) {
            if let Ok(v) = T::deserialize(value) {
                return Ok(v);
            }
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = named(e.path());
        json_problem(path, e.into_inner())
    })?;
    de.end().map_err(|e| json_problem(String::new(), e))?;
    Ok(value)
}

/// Rewrites every float with no fraction within `i64`'s range as that integer; says whether
/// any was. Bounds are the rules' to check, as for any integer.
fn integral_floats_to_integers(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            // `i64::MAX as f64` rounds up to 2⁶³, itself out of range: hence `<`.
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                *v = Value::from(f as i64);
                return true;
            }
            false
        }
        Value::Array(items) => items.iter_mut().fold(false, |any, i| integral_floats_to_integers(i) | any),
        Value::Object(fields) => fields.values_mut().fold(false, |any, f| integral_floats_to_integers(f) | any),
        _ => false,
    }
}

/// The path as a field name (`lines[0].paid_minor`), without the keys the parser had not
/// read yet when the body broke off (serde_path_to_error's `?`); empty for the body itself.
fn named(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// A 400 for a body that is not JSON (where it broke, by line and column) or not the JSON
/// expected (the field; a missing one by its own name, which serde's message carries).
fn json_problem(path: String, e: serde_json::Error) -> ApiError {
    let text = e.to_string();
    let message = text.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&text);
    if e.is_data() {
        if let Some(name) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
            let field = if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
            return ApiError::bad_request(&field, format!("{field}: is required"));
        }
        let field = if path.is_empty() { "(body)".to_owned() } else { path };
        return ApiError::bad_request(&field, format!("{field}: {message}"));
    }
    let message = if message == "trailing characters" { "trailing characters after the JSON value" } else { message };
    let place = format!("malformed JSON at line {}, column {}: {message}", e.line(), e.column());
    let (field, detail) =
        if path.is_empty() { ("(body)".to_owned(), place) } else { (path.clone(), format!("{path}: {place}")) };
    ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", detail).field(field)
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
