//! `Idempotency-Key`: a key binds to exactly one request. A retry with the same key and body
//! gets that request's response; the same key with another body is a 422
//! `idempotency_key_reused`; a retry that arrives while the first request is still running
//! waits for its answer (up to [`WAIT`]) and then gets it, or a 409 `idempotency_key_in_use`
//! with `Retry-After`. A 5xx is no answer: it releases the key, so a retry runs again.
//!
//! **Within one process this is exact, under any concurrency.** The first request takes the key
//! in [`Pending`] under one lock (a claim, with its request hash and a `watch` channel for its
//! answer) before anything reads the store or runs the handler, so no second request with that
//! key can run while the first one is on its way. Only then does the owner look in the store for
//! an answer kept before (by this process earlier, or another one). The claim stays in
//! [`Pending`] until the answer is committed to the store, so a request can never miss both.
//!
//! **Across processes** (several nodes on one PostgreSQL) the store is only read, not claimed:
//! once a node's answer is committed (milliseconds after it went out) every node replays it or
//! refuses another body, but requests with one key that are in flight on two nodes at once can
//! both run. What still holds then is the engine's deduplication of natural ids: an order,
//! refund, hold, adjustment, activity or claim with an id already applied is replayed, never
//! applied twice. See docs/ARCHITECTURE.md (HTTP conventions).
//!
//! A response is kept by the writer, in its next batch (`Command::Remember`), and the answer
//! goes out without waiting for that batch, which would be a second commit on every request's
//! path (BENCHMARKS.md run L). Until it is committed the response waits in [`Pending`], which
//! this process's look-ups read first, so an immediate retry still gets it. A crash in those
//! milliseconds loses the kept response, never the write: a retry then runs again and the engine
//! finds the order, refund, hold or adjustment by its id and replays it.

use super::auth::Principal;
use super::extract::MAX_BODY_BYTES;
use super::problem::ApiError;
use super::AppState;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use loyalty_core::idempotency::MAX_KEY_LEN;
use loyalty_engine::Command;
use loyalty_store::IdemRecord;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a request waits for the answer of another request with its key before a 409. An
/// order's answer takes one writer batch (milliseconds); this covers a writer that is behind.
pub const WAIT: Duration = Duration::from_secs(3);

/// Most keys held here (claimed or answered and on their way to the store) before a request
/// waits for its own answer's commit: a writer that has fallen behind slows requests down
/// instead of growing this map.
const MAX_PENDING: usize = 8_192;

/// Attempts at keeping an answer in the store before it is given up (a retry then runs the
/// request again, as after a crash).
const KEEP_ATTEMPTS: u32 = 3;

/// The keys this process holds, by principal and key: claimed by a running request, or
/// answered and on their way to the store.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<HashMap<(String, String), Slot>>>);

enum Slot {
    /// The request that claimed the key is running; `phase` says how far it is.
    Claimed { hash: String, phase: watch::Receiver<Phase> },
    /// The key's answer, given and not yet committed to the store.
    Answered(IdemRecord),
}

/// How far the request that claimed a key is, as the requests waiting on it see it.
#[derive(Clone)]
enum Phase {
    /// Looking in the store for an answer kept before: until that is known, even a request with
    /// another body waits, since the kept answer may be its own.
    Looking,
    /// Nothing was kept: the owner's request runs.
    Running,
    /// The key's answer: the owner's, or the one the store held.
    Answered(IdemRecord),
    /// The claim was given up (a 5xx, a failed look-up, a panic): the key is free again.
    Released,
}

/// What a request finds when it asks for its key.
enum Found {
    /// The key was free: this request owns it now.
    Owner(Claim),
    /// An answer on its way to the store.
    Answer(IdemRecord),
    /// Another body's request runs with this key.
    Reused,
    /// A request with this key is looking or running; wait on it. `same_body`: it is this
    /// request's twin (same hash), so its answer will be this request's too.
    Wait { phase: watch::Receiver<Phase>, same_body: bool },
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Slot>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the key for a request with `hash`, or says who has it. One lock: of any number of
    /// requests asking at once, exactly one becomes the owner.
    fn claim(&self, principal: &str, key: &str, hash: &str) -> Found {
        let id = (principal.to_owned(), key.to_owned());
        let mut map = self.lock();
        match map.get(&id) {
            Some(Slot::Answered(rec)) => Found::Answer(rec.clone()),
            Some(Slot::Claimed { hash: theirs, phase }) => {
                let same_body = theirs == hash;
                if !same_body && matches!(*phase.borrow(), Phase::Running) {
                    Found::Reused
                } else {
                    Found::Wait { phase: phase.clone(), same_body }
                }
            }
            None => {
                let (tx, rx) = watch::channel(Phase::Looking);
                map.insert(id.clone(), Slot::Claimed { hash: hash.to_owned(), phase: rx });
                Found::Owner(Claim { pending: self.clone(), id, hash: hash.to_owned(), phase: tx, settled: false })
            }
        }
    }
}

/// A key owned by one request. Dropped without an answer (a 5xx, an error, a panic), it
/// releases the key and wakes the requests waiting on it.
struct Claim {
    pending: Pending,
    id: (String, String),
    hash: String,
    phase: watch::Sender<Phase>,
    settled: bool,
}

impl Claim {
    /// Nothing was kept for the key: the request runs.
    fn running(&self) {
        self.phase.send_replace(Phase::Running);
    }

    /// The store held the key's answer: it is the answer for everyone waiting, and the key
    /// leaves this map (later requests find it in the store).
    fn found(mut self, rec: IdemRecord) {
        self.settled = true;
        self.pending.lock().remove(&self.id);
        self.phase.send_replace(Phase::Answered(rec));
    }

    /// The request's answer: given to everyone waiting, held here and sent to the writer. With
    /// `MAX_PENDING` keys already held, the request waits for the commit itself.
    async fn answer(mut self, state: &AppState, rec: IdemRecord) {
        self.settled = true;
        let held = {
            let mut map = self.pending.lock();
            map.insert(self.id.clone(), Slot::Answered(rec.clone()));
            map.len()
        };
        self.phase.send_replace(Phase::Answered(rec.clone()));
        let keep = keep(self.pending.clone(), state.writer.clone(), self.id.clone(), rec);
        if held > MAX_PENDING {
            keep.await;
        } else {
            tokio::spawn(keep);
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.settled {
            self.pending.lock().remove(&self.id);
            self.phase.send_replace(Phase::Released);
        }
    }
}

/// Sends the answer to the writer and takes it out of `pending` once committed. Until then
/// look-ups here replay it; if every attempt fails, a retry runs the request again (the engine
/// replays the write by its id), as after a crash.
async fn keep(pending: Pending, writer: loyalty_engine::Writer, id: (String, String), rec: IdemRecord) {
    for attempt in 1..=KEEP_ATTEMPTS {
        match writer.submit(Command::Remember(rec.clone())).await {
            Ok(_) => break,
            Err(e) if attempt == KEEP_ATTEMPTS => {
                tracing::warn!(error = %e, "an Idempotency-Key response was not kept");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100 << attempt)).await,
        }
    }
    pending.lock().remove(&id);
}

pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
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
    let hash = request_hash(&parts, &bytes);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (phase, same_body) = match state.idem_pending.claim(&principal, &key, &hash) {
            Found::Owner(claim) => return run_owner(state, claim, parts, bytes, next).await,
            Found::Answer(rec) => return replay(&key, &hash, rec),
            Found::Reused => return Err(reused(&key)),
            Found::Wait { phase, same_body } => (phase, same_body),
        };
        match tokio::time::timeout_at(deadline, settled(phase, same_body)).await {
            Err(_) => return Ok(in_use(&key)),
            Ok(Phase::Answered(rec)) => return replay(&key, &hash, rec),
            Ok(Phase::Running) => return Err(reused(&key)),
            // The key is free again: ask for it once more (this request may now own it).
            Ok(Phase::Released | Phase::Looking) => continue,
        }
    }
}

/// Waits until the claim behind `phase` decides this request: an answer, a release, or (for a
/// request with another body) the owner's request running.
async fn settled(mut phase: watch::Receiver<Phase>, same_body: bool) -> Phase {
    let shown = phase
        .wait_for(|p| match p {
            Phase::Looking => false,
            Phase::Running => !same_body,
            Phase::Answered(_) | Phase::Released => true,
        })
        .await
        .map(|p| p.clone());
    // A sender gone without a word cannot happen (a claim says `Released` when dropped), but it
    // would mean the same: the key is free.
    shown.unwrap_or(Phase::Released)
}

/// Runs the request that owns its key: looks for an answer kept before, runs the handler, and
/// keeps a final answer. It runs as a task of its own, so that the claim is settled even when
/// the client goes away mid-request: a handler dropped after sending its command would leave
/// the write done and the key free, for another body to take.
async fn run_owner(
    state: AppState,
    claim: Claim,
    parts: Parts,
    bytes: Bytes,
    next: Next,
) -> Result<Response, ApiError> {
    let task = tokio::spawn(async move {
        let (principal, key) = claim.id.clone();
        if let Some(rec) = state.store.idem_get(&principal, &key).await? {
            let hash = claim.hash.clone();
            claim.found(rec.clone());
            return replay(&key, &hash, rec);
        }
        claim.running();
        let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
        // Only final answers are kept: a 5xx (a 503 among them) may succeed on retry, so the
        // claim is dropped, which frees the key.
        if resp.status().is_server_error() {
            return Ok(resp);
        }
        let (rparts, rbody) = resp.into_parts();
        let rbytes = to_bytes(rbody, 16 * MAX_BODY_BYTES).await.map_err(|e| ApiError::internal(e.to_string()))?;
        let rec = IdemRecord {
            principal,
            key,
            request_hash: claim.hash.clone(),
            status: rparts.status.as_u16(),
            body: String::from_utf8_lossy(&rbytes).into_owned(),
            created_at: state.clock.now(),
        };
        claim.answer(&state, rec).await;
        Ok(Response::from_parts(rparts, Body::from(rbytes)))
    });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "a request with an Idempotency-Key failed");
        Err(ApiError::internal("the request failed; retry with the same Idempotency-Key"))
    })
}

/// The hash a key binds to: method, path and body.
fn request_hash(parts: &Parts, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update(b" ");
    h.update(parts.uri.path());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// The kept answer for a request with `hash`, or a 422 if the key was used with another.
fn replay(key: &str, hash: &str, rec: IdemRecord) -> Result<Response, ApiError> {
    if rec.request_hash != hash {
        return Err(reused(key));
    }
    let status = StatusCode::from_u16(rec.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, [(header::CONTENT_TYPE, content_type(status))], rec.body).into_response();
    resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(resp)
}

fn reused(key: &str) -> ApiError {
    ApiError::invalid("Idempotency-Key", format!("key {key:?} was already used with a different request"))
        .with_code("idempotency_key_reused")
}

/// A 409: the request with this key is still running after [`WAIT`].
fn in_use(key: &str) -> Response {
    let detail = format!("a request with key {key:?} is still running; retry after a second to get its answer",);
    let mut resp = ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_use", detail).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

fn content_type(status: StatusCode) -> &'static str {
    if status.is_success() {
        "application/json"
    } else {
        "application/problem+json"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(hash: &str) -> IdemRecord {
        IdemRecord {
            principal: "p".into(),
            key: "k".into(),
            request_hash: hash.into(),
            status: 201,
            body: "{}".into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    fn owner(found: Found) -> Claim {
        match found {
            Found::Owner(c) => c,
            _ => panic!("the key was free"),
        }
    }

    fn waiting(found: Found) -> (watch::Receiver<Phase>, bool) {
        match found {
            Found::Wait { phase, same_body } => (phase, same_body),
            _ => panic!("the key was taken and undecided"),
        }
    }

    #[test]
    fn one_owner_and_another_body_waits_only_while_the_owner_looks_in_the_store() {
        // Proves the claim's states: the first asker owns the key; while it looks in the store
        // both a twin and another body wait (the kept answer may be the other body's); once it
        // runs, another body is refused at once and a twin still waits.
        let pending = Pending::default();
        let claim = owner(pending.claim("p", "k", "a"));
        assert!(waiting(pending.claim("p", "k", "a")).1, "a twin");
        assert!(!waiting(pending.claim("p", "k", "b")).1, "another body, while the owner looks");
        claim.running();
        assert!(matches!(pending.claim("p", "k", "b"), Found::Reused));
        assert!(waiting(pending.claim("p", "k", "a")).1);
        assert!(matches!(pending.claim("p", "other", "b"), Found::Owner(_)), "keys are apart");
        assert!(matches!(pending.claim("q", "k", "b"), Found::Owner(_)), "principals are apart");
    }

    #[tokio::test]
    async fn a_dropped_claim_frees_the_key_and_wakes_its_waiters() {
        // Proves a claim given up without an answer (a 5xx, an error, a panic) releases the key:
        // waiters hear `Released` and the next asker owns it.
        let pending = Pending::default();
        let claim = owner(pending.claim("p", "k", "a"));
        claim.running();
        let (phase, same) = waiting(pending.claim("p", "k", "a"));
        drop(claim);
        assert!(matches!(settled(phase, same).await, Phase::Released));
        owner(pending.claim("p", "k", "b"));
    }

    #[tokio::test]
    async fn an_answer_found_in_the_store_goes_to_every_waiter_and_frees_the_map() {
        // Proves the owner's store look-up settles everyone: a waiter with another body gets the
        // kept answer (its own, here, so it replays rather than being refused), and the key leaves
        // the map for later askers to find in the store.
        let pending = Pending::default();
        let claim = owner(pending.claim("p", "k", "a"));
        let (phase, same) = waiting(pending.claim("p", "k", "b"));
        claim.found(record("b"));
        match settled(phase, same).await {
            Phase::Answered(rec) => assert_eq!(rec.request_hash, "b"),
            _ => panic!("the kept answer"),
        }
        assert!(pending.lock().is_empty());
    }

    #[tokio::test]
    async fn a_twin_of_a_request_still_running_gets_no_answer_before_the_wait_ends() {
        // Proves the bound on waiting: a twin of a request that does not finish is not answered,
        // so the layer's timeout turns it into a 409.
        let pending = Pending::default();
        let claim = owner(pending.claim("p", "k", "a"));
        claim.running();
        let (phase, same) = waiting(pending.claim("p", "k", "a"));
        let short = Duration::from_millis(50);
        assert!(tokio::time::timeout(short, settled(phase, same)).await.is_err(), "still running");
        let resp = in_use("k");
        assert_eq!(resp.status(), StatusCode::CONFLICT);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        drop(claim);
    }
}
