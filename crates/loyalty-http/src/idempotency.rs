//! `Idempotency-Key`: a retry with the same key and body gets the stored response; the same
//! key with another body is a 422. Exactness does not rest on this layer alone: orders,
//! refunds, holds and adjustments also carry natural ids the engine deduplicates on, so a
//! retry that races the first attempt still credits nothing twice.
//!
//! A response is kept by the writer, in its next batch (`Command::Remember`), and the answer
//! goes out without waiting for that batch: waiting for it was a second commit on every
//! request's path (HTTP with a key on every order: 3.9–4.2 k → 4.4–4.9 k orders/s, p99 32–37 →
//! 31 ms; BENCHMARKS.md run L). Until it is committed the response waits in [`Pending`], which this process's
//! look-ups read first, so an immediate retry still gets it. A crash in those milliseconds
//! loses the kept response, never the write: a retry then runs again and the engine finds the
//! order, refund, hold or adjustment by its id and replays it.

use super::auth::Principal;
use super::extract::MAX_BODY_BYTES;
use super::problem::ApiError;
use super::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loyalty_engine::Command;
use loyalty_store::IdemRecord;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Responses on their way to the store, by principal and key.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<HashMap<(String, String), IdemRecord>>>);

impl Pending {
    fn get(&self, principal: &str, key: &str) -> Option<IdemRecord> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(principal.to_owned(), key.to_owned())).cloned()
    }

    /// Keeps `rec` here until the writer has committed it (or failed to: then a retry runs the
    /// request again, as after a crash). With `MAX_PENDING` already waiting (a writer that has
    /// fallen behind), the request waits for the commit itself.
    async fn keep(&self, state: &AppState, rec: IdemRecord) -> Result<(), ApiError> {
        let id = (rec.principal.clone(), rec.key.clone());
        let waiting = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id.clone()).or_insert_with(|| rec.clone());
            map.len()
        };
        let (pending, writer) = (self.clone(), state.writer.clone());
        let remember = async move {
            let kept = writer.submit(Command::Remember(rec)).await;
            pending.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            kept
        };
        if waiting > MAX_PENDING {
            remember.await?;
        } else {
            tokio::spawn(async move {
                if let Err(e) = remember.await {
                    tracing::warn!(error = %e, "an Idempotency-Key response was not kept");
                }
            });
        }
        Ok(())
    }
}

/// Most responses on their way to the store before requests wait for theirs.
const MAX_PENDING: usize = 8_192;

use loyalty_core::idempotency::MAX_KEY_LEN;

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    if !matches!(*req.method(), Method::POST | Method::PUT) {
        return Ok(next.run(req).await);
    }
    let Some(key) = req.headers().get("idempotency-key").cloned() else {
        return Ok(next.run(req).await);
    };
    let key =
        key.to_str().ok().filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN && k.is_ascii()).ok_or_else(|| {
            ApiError::bad_request("Idempotency-Key", format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"))
        })?;
    let key = key.to_owned();
    let principal = req.extensions().get::<Principal>().map(|p| p.name.clone()).unwrap_or_default();
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body exceeds {MAX_BODY_BYTES} bytes"),
        )
    })?;
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update(b" ");
    h.update(parts.uri.path());
    h.update(b"\n");
    h.update(&bytes);
    let hash = hex::encode(h.finalize());
    let found = match state.idem_pending.get(&principal, &key) {
        Some(rec) => Some(rec),
        None => state.store.idem_get(&principal, &key).await?,
    };
    if let Some(rec) = found {
        if rec.request_hash != hash {
            return Err(ApiError::invalid(
                "Idempotency-Key",
                format!("key {key:?} was already used with a different request"),
            )
            .with_code("idempotency_key_reused"));
        }
        let status = StatusCode::from_u16(rec.status).unwrap_or(StatusCode::OK);
        let mut resp = (status, [(axum::http::header::CONTENT_TYPE, content_type(status))], rec.body).into_response();
        resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(resp);
    }
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    // Only final answers are kept: a 5xx or a 503 may succeed on retry.
    if resp.status().is_server_error() {
        return Ok(resp);
    }
    let (rparts, rbody) = resp.into_parts();
    let rbytes = to_bytes(rbody, 16 * MAX_BODY_BYTES).await.map_err(|e| ApiError::internal(e.to_string()))?;
    let rec = IdemRecord {
        principal,
        key,
        request_hash: hash,
        status: rparts.status.as_u16(),
        body: String::from_utf8_lossy(&rbytes).into_owned(),
        created_at: state.clock.now(),
    };
    state.idem_pending.keep(&state, rec).await?;
    Ok(Response::from_parts(rparts, Body::from(rbytes)))
}

fn content_type(status: StatusCode) -> &'static str {
    if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    }
}
