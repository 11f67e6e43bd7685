//! Bearer-key authentication and scopes, as layers around whole groups of routes.
//!
//! Which scopes may call which route is one list (`crate::api_routes`): the router's layers
//! and the OpenAPI document's `security`, `x-scope` and descriptions are all made from it.

use super::problem::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What a key may do. `admin` may do everything; `analyst` may only read the store's
/// business figures (KPIs, segments and their members, the CLV model, benefit usage);
/// `integration` (the store's own servers) registers and reads members, posts orders,
/// refunds, holds and activities, and prices carts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Admin,
    Analyst,
    Integration,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Admin, Scope::Analyst, Scope::Integration];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Analyst => "analyst",
            Self::Integration => "integration",
        }
    }
}

/// Who may call a group of routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The store's servers (and admin): members, orders, refunds, holds, checkout.
    Integration,
    /// Read-only operations data (and admin): KPIs, segments and their members, models, usage.
    Analyst,
    /// One member's insight: the store's servers and analysts (and admin).
    MemberInsight,
    /// Operators only.
    Admin,
}

impl Access {
    pub const ALL: [Access; 4] = [Access::Integration, Access::Analyst, Access::MemberInsight, Access::Admin];

    /// The scopes a key may have to pass, admin first.
    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Self::Integration => &[Scope::Admin, Scope::Integration],
            Self::Analyst => &[Scope::Admin, Scope::Analyst],
            Self::MemberInsight => &[Scope::Admin, Scope::Integration, Scope::Analyst],
            Self::Admin => &[Scope::Admin],
        }
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.scopes().contains(&scope)
    }

    /// e.g. "`admin` or `integration`".
    pub fn describe(self) -> String {
        let names: Vec<String> = self.scopes().iter().map(|s| format!("`{}`", s.as_str())).collect();
        match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// Who is calling: the key's name is recorded as the actor of what they do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    pub scope: Scope,
}

/// The actor name of the bootstrap key (`LOYALTY_ADMIN_KEY`), which no stored key may take.
pub const BOOTSTRAP_NAME: &str = "bootstrap-admin";

/// A cached key is checked against the store again once it is this old, so that a key revoked
/// by another process (`loyalty keys revoke`, another node) stops working within this time.
/// A key revoked through this process's API is dropped from its cache at once.
pub const KEY_RECHECK: Duration = Duration::from_secs(1);
/// `last_used_at` is written at most this often per key and process.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A key this process has resolved.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub principal: Principal,
    /// When the store last said the key is live.
    checked: Instant,
    /// When `last_used_at` was last written for it by this process.
    touched: Instant,
}

/// Resolved keys by hash (unknown keys are never kept). Shared by every clone of the state.
#[derive(Debug, Clone, Default)]
pub struct KeyCache(Arc<RwLock<HashMap<String, CachedKey>>>);

impl KeyCache {
    /// Drops every cached key of this name (after it was revoked).
    pub fn forget(&self, name: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).retain(|_, k| k.principal.name != name);
    }

    fn get(&self, hash: &str) -> Option<CachedKey> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(hash).cloned()
    }
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

/// Why a request was not let through.
enum Refused {
    /// No bearer key (no header, another scheme, an empty key).
    NoKey(&'static str),
    /// A key that is unknown or revoked.
    InvalidToken,
    /// The key could not be checked.
    Failed(ApiError),
}

impl IntoResponse for Refused {
    /// A 401 carries its challenge (RFC 6750 §3): `Bearer`, with `error="invalid_token"` when a
    /// key was sent but is unknown or revoked.
    fn into_response(self) -> Response {
        let (detail, challenge) = match self {
            Refused::NoKey(detail) => (detail, "Bearer"),
            Refused::InvalidToken => ("unknown or revoked API key", "Bearer error=\"invalid_token\""),
            Refused::Failed(e) => return e.into_response(),
        };
        let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        resp
    }
}

/// The bearer key a request carries. The scheme is case-insensitive (RFC 7235 §2.1).
fn presented_key(req: &Request) -> Result<&str, Refused> {
    let header = req.headers().get(header::AUTHORIZATION).ok_or(Refused::NoKey("send Authorization: Bearer <key>"))?;
    let malformed = Refused::NoKey("the Authorization header must be Bearer <key>");
    let Some((scheme, key)) = header.to_str().ok().and_then(|v| v.trim().split_once([' ', '\t'])) else {
        return Err(malformed);
    };
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() {
        return Err(malformed);
    }
    Ok(key)
}

/// The principal of a key hash: the bootstrap key, a cached key checked less than
/// `KEY_RECHECK` ago, or the store's answer (which refreshes the cache).
async fn resolve(state: &AppState, hash: String) -> Result<Principal, Refused> {
    if state.admin_key_hash.as_deref() == Some(hash.as_str()) {
        return Ok(Principal { name: BOOTSTRAP_NAME.into(), scope: Scope::Admin });
    }
    let cached = state.key_cache.get(&hash);
    if let Some(k) = cached.as_ref().filter(|k| k.checked.elapsed() < KEY_RECHECK) {
        if k.touched.elapsed() >= TOUCH_EVERY {
            touch(state, &hash);
        }
        return Ok(k.principal.clone());
    }
    let found = state.store.api_key(&hash).await.map_err(|e| Refused::Failed(e.into()))?;
    let Some((name, scope)) = found else {
        state.key_cache.0.write().unwrap_or_else(|e| e.into_inner()).remove(&hash);
        return Err(Refused::InvalidToken);
    };
    let scope =
        Scope::parse(&scope).ok_or_else(|| Refused::Failed(ApiError::internal("stored key has an unknown scope")))?;
    let principal = Principal { name, scope };
    let now = Instant::now();
    let touched = cached.map(|k| k.touched).filter(|t| t.elapsed() < TOUCH_EVERY);
    state.key_cache.0.write().unwrap_or_else(|e| e.into_inner()).insert(
        hash.clone(),
        CachedKey { principal: principal.clone(), checked: now, touched: touched.unwrap_or(now) },
    );
    if touched.is_none() {
        touch(state, &hash);
    }
    Ok(principal)
}

/// The principal of a live key by its hash (the bootstrap key's included), `None` for a key
/// that is unknown or revoked: what the console checks its sessions against on every request,
/// through the same cache as the API.
pub async fn principal_for_hash(state: &AppState, hash: &str) -> Result<Option<Principal>, ApiError> {
    match resolve(state, hash.to_owned()).await {
        Ok(p) => Ok(Some(p)),
        Err(Refused::InvalidToken | Refused::NoKey(_)) => Ok(None),
        Err(Refused::Failed(e)) => Err(e),
    }
}

/// Writes the key's `last_used_at` off the request's path, and marks it written now so that
/// the next minute's requests do not write it again.
fn touch(state: &AppState, hash: &str) {
    if let Some(k) = state.key_cache.0.write().unwrap_or_else(|e| e.into_inner()).get_mut(hash) {
        k.touched = Instant::now();
    }
    let (store, hash, at) = (state.store.clone(), hash.to_owned(), state.clock.now());
    tokio::spawn(async move {
        if let Err(e) = store.touch_api_key(&hash, at).await {
            tracing::warn!(error = %e, "could not record an API key's last use");
        }
    });
}

/// The layer every API route group is wrapped in: a 401 without a live key, a 403 when the
/// key's scope may not call the group's routes.
pub async fn require(State(state): State<AppState>, access: Access, mut req: Request, next: Next) -> Response {
    let principal = match presented_key(&req) {
        Ok(key) => resolve(&state, hash_key(key)).await,
        Err(refused) => Err(refused),
    };
    let p = match principal {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    if !access.allows(p.scope) {
        let detail =
            format!("key {:?} has the {} scope; this operation needs {}", p.name, p.scope.as_str(), access.describe());
        let mut resp = ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail).into_response();
        let scopes: Vec<&str> = access.scopes().iter().map(|s| s.as_str()).collect();
        let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scopes.join(" "));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        return resp;
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Admin passes every group, analyst only the read-only ones, integration never the
    /// analyst or admin ones.
    #[test]
    fn admin_includes_analyst_and_integration_but_not_the_other_way() {
        for a in Access::ALL {
            assert!(a.allows(Scope::Admin), "{a:?}");
        }
        assert!(!Access::Analyst.allows(Scope::Integration));
        assert!(!Access::Integration.allows(Scope::Analyst));
        assert!(!Access::Admin.allows(Scope::Analyst));
        assert!(Access::MemberInsight.allows(Scope::Analyst) && Access::MemberInsight.allows(Scope::Integration));
        assert_eq!(Access::MemberInsight.describe(), "`admin`, `integration` or `analyst`");
        assert_eq!(Access::Admin.describe(), "`admin`");
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("Admin"), None);
    }
}
