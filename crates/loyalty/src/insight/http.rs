//! Insight endpoints.

use crate::http::AppState;
use axum::Router;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi()]
pub struct InsightDoc;

/// Routes, wrapped by the caller in the integration-scope layer.
pub fn routes() -> Router<AppState> {
    Router::new()
}
