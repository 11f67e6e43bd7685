//! API keys (admin): list them and revoke them. Keys are made with `loyalty keys create`,
//! which prints a key once; neither a key nor its hash ever leaves the store again.

use super::problem::{ApiError, ApiResult, Problem};
use super::views::rfc3339;
use super::AppState;
use axum::extract::{Path, State};
use loyalty_store::ApiKeyInfo;
use serde::Serialize;
use utoipa::ToSchema;

/// Most keys one listing returns.
pub const MAX_KEYS_LISTED: i64 = 1_000;

#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    pub name: String,
    /// admin, analyst or integration
    pub scope: String,
    pub created_at: String,
    /// Up to a minute behind: it is written at most once a minute per key and server.
    pub last_used_at: Option<String>,
    /// Absent while the key works.
    pub revoked_at: Option<String>,
}

impl ApiKeyView {
    fn new(k: &ApiKeyInfo, tz: &jiff::tz::TimeZone) -> Self {
        Self {
            name: k.name.clone(),
            scope: k.scope.clone(),
            created_at: rfc3339(k.created_at, tz),
            last_used_at: k.last_used_at.map(|t| rfc3339(t, tz)),
            revoked_at: k.revoked_at.map(|t| rfc3339(t, tz)),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    /// By name, then age; revoked keys too.
    pub items: Vec<ApiKeyView>,
    /// True when there were more than `MAX_KEYS_LISTED` (1,000) keys and only those are shown.
    pub truncated: bool,
}

/// Every API key: name, scope, when it was made, last used and revoked. Never the key itself
/// or its hash. The bootstrap key (`LOYALTY_ADMIN_KEY`) is not stored and not listed.
#[utoipa::path(get, path = "/v1/api-keys", tag = "keys", responses((status = 200, body = ApiKeyList)))]
pub async fn list_keys(State(s): State<AppState>) -> ApiResult<axum::Json<ApiKeyList>> {
    let mut keys = s.store.api_keys(MAX_KEYS_LISTED + 1).await?;
    let truncated = keys.len() as i64 > MAX_KEYS_LISTED;
    keys.truncate(MAX_KEYS_LISTED as usize);
    let items = keys.iter().map(|k| ApiKeyView::new(k, &s.program.tz)).collect();
    Ok(axum::Json(ApiKeyList { items, truncated }))
}

#[derive(Serialize, ToSchema)]
pub struct RevokedKeys {
    pub name: String,
    /// Live keys of this name this request revoked (0 when they were revoked before).
    pub revoked: u64,
    /// Every key that had this name, now all revoked.
    pub keys: Vec<ApiKeyView>,
}

/// Revokes the key of this name. It stops working at once on this server, and within a
/// second on other servers of the same database. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/v1/api-keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "The key's name, as given to `loyalty keys create`")),
    responses((status = 200, body = RevokedKeys), (status = 404, body = Problem, description = "api_key_not_found")))]
pub async fn revoke_key(State(s): State<AppState>, Path(name): Path<String>) -> ApiResult<axum::Json<RevokedKeys>> {
    let now = s.clock.now();
    let (revoked, keys) = s.store.revoke_api_key(&name, now).await?;
    // Dropped from this process's cache whatever the store said, so that nothing cached
    // outlives the revocation here.
    s.key_cache.forget(&name);
    if keys.is_empty() {
        let detail = if name == super::auth::BOOTSTRAP_NAME {
            "the bootstrap key is LOYALTY_ADMIN_KEY, not a stored key: change it and restart the server".to_owned()
        } else {
            format!("no API key is named {name:?}")
        };
        return Err(ApiError::not_found("api_key_not_found", detail).field("name"));
    }
    let keys = keys.iter().map(|k| ApiKeyView::new(k, &s.program.tz)).collect();
    Ok(axum::Json(RevokedKeys { name, revoked, keys }))
}
