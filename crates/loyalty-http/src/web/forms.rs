//! Form bodies (`application/x-www-form-urlencoded`), read whole and bounded.

use axum::body::Bytes;
use std::collections::HashMap;

/// Largest form body a page accepts: forms here are a handful of short fields.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// A form's fields by name (a repeated name keeps its last value).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub HashMap<String, String>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// The field's value, trimmed; `None` when absent or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for Fields {
    type Rejection = axum::response::Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let body = Bytes::from_request(req, state).await.map_err(IntoResponse::into_response)?;
        Ok(Self::parse(&body))
    }
}

/// Reads a request's body (at most [`MAX_FORM_BYTES`]) and gives back the request with the same
/// bytes, so that a layer can look at a form before its handler does.
pub async fn buffer(req: axum::extract::Request) -> Result<(axum::extract::Request, Fields), axum::http::StatusCode> {
    let (parts, body) = req.into_parts();
    let bytes =
        axum::body::to_bytes(body, MAX_FORM_BYTES).await.map_err(|_| axum::http::StatusCode::PAYLOAD_TOO_LARGE)?;
    let fields = Fields::parse(&bytes);
    Ok((axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)), fields))
}
