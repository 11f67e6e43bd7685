//! Bearer-key authentication and scopes, as layers around whole groups of routes.

use super::problem::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

/// `admin` may do everything; `integration` may post orders, refunds and holds, register
/// members and read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Admin,
    Integration,
}

impl Scope {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "integration" => Some(Self::Integration),
            _ => None,
        }
    }
    fn allows(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

/// Who is calling: the key's name is recorded as the actor of what they do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub scope: Scope,
}

/// Keys are random and long, so one SHA-256 is enough; only the hash is stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key: 32 bytes, hex, with a prefix that says what it is.
pub fn new_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("lk_{}", hex::encode(bytes))
}

fn unauth(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// The hash of the bearer key a request carries.
fn presented_hash(req: &Request) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| unauth("send Authorization: Bearer <key>"))?;
    let key = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| unauth("the Authorization header must be Bearer <key>"))?;
    Ok(hash_key(key.trim()))
}

async fn resolve(state: &AppState, hash: String) -> Result<Principal, ApiError> {
    if state.admin_key_hash.as_deref() == Some(hash.as_str()) {
        return Ok(Principal { name: "bootstrap-admin".into(), scope: Scope::Admin });
    }
    if let Some(p) = state.key_cache.read().expect("key cache lock").get(&hash) {
        return Ok(p.clone());
    }
    let (name, scope) = state.store.api_key(&hash).await?.ok_or_else(|| unauth("unknown API key"))?;
    let scope = Scope::parse(&scope).ok_or_else(|| ApiError::internal("stored key has an unknown scope"))?;
    let p = Principal { name, scope };
    state.key_cache.write().expect("key cache lock").insert(hash, p.clone());
    Ok(p)
}

async fn require(state: AppState, mut req: Request, next: Next, needed: Scope) -> Result<Response, ApiError> {
    let p = resolve(&state, presented_hash(&req)?).await?;
    if !p.scope.allows(needed) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("key {:?} lacks the {needed:?} scope", p.name),
        ));
    }
    req.extensions_mut().insert(p);
    Ok(next.run(req).await)
}

pub async fn require_integration(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    require(state, req, next, Scope::Integration).await
}

pub async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    require(state, req, next, Scope::Admin).await
}
