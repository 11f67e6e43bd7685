//! `/healthz`: whether this process can take writes, not only whether it answers. A server
//! whose writer has stopped, or whose database refuses writes, still serves reads; a probe
//! that only read would call it healthy while every write fails, and no supervisor would act.

use super::problem::ApiError;
use super::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loyalty_store::Writability;
use std::time::Duration;

/// How long each check may take before the server counts as unhealthy. The writer answers a
/// ping between batches, which take milliseconds; seconds mean it is stuck or far behind.
pub const CHECK_WITHIN: Duration = Duration::from_secs(5);

/// 200 when the writer answers, the database reads and would accept a write; otherwise a 503
/// problem whose `code` says which of them failed first: `writer_stopped`, `writer_busy`,
/// `storage_unavailable`, `storage_busy` or `read_only`. The `_busy` codes are a server that is
/// alive but slow (a long queue, another process holding SQLite's write lock): restarting it
/// does not help, unlike a stopped writer.
pub async fn healthz(State(s): State<AppState>) -> Response {
    match check(&s).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "database": s.store.backend(), "writes": "ok"})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn check(s: &AppState) -> Result<(), ApiError> {
    let unavailable = |code: &str, detail: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, detail);
    match s.writer.ping(CHECK_WITHIN).await {
        Ok(true) => {}
        Ok(false) => {
            return Err(unavailable(
                "writer_busy",
                format!("the writer has not reached a no-op within {} s", CHECK_WITHIN.as_secs()),
            ))
        }
        Err(_) => {
            return Err(unavailable(
                "writer_stopped",
                "the writer stopped: this process makes no more writes and must be restarted".into(),
            ))
        }
    }
    let timed_out = |what: &str| {
        let detail = format!("the database did not answer a {what} within {} s", CHECK_WITHIN.as_secs());
        ApiError::unavailable(detail).with_code("storage_busy")
    };
    tokio::time::timeout(CHECK_WITHIN, s.store.member_ids(None, 1)).await.map_err(|_| timed_out("read"))??;
    match tokio::time::timeout(CHECK_WITHIN, s.store.write_probe()).await.map_err(|_| timed_out("write probe"))?? {
        Writability::Writable => Ok(()),
        Writability::ReadOnly(why) => Err(ApiError::read_only(format!("the database does not accept writes: {why}"))),
    }
}
