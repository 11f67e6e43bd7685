//! The member centre: what a member sees of the programme, in the store's pages. The store's
//! server asks for a short-lived member token with its integration key (`POST
//! /v1/members/{id}/sessions`); the member's page opens `/member?token=…` (the token then
//! travels in an `HttpOnly` cookie), a store's app reads the same data as JSON under `/v1/me`
//! with the token as its bearer. A token names one member and nothing here takes a member id
//! from the request, so it reads nothing of another.

pub mod api;
pub mod page;

use crate::problem::{ApiError, ApiResult};
use crate::AppState;
use axum::routing::{get, post};
use axum::Router;
use loyalty_core::access::member_token;
use loyalty_core::ids::MemberId;
use std::sync::Arc;

/// The name the token key is kept under in `server_secrets`.
pub const SECRET_NAME: &str = "member_token";
/// The cookie the member centre keeps the token in (for `/member` only).
pub const MEMBER_COOKIE: &str = "loyalty_member";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/member", get(page::home))
        .route("/member/checkins", post(page::check_in))
        .route("/v1/me", get(api::me))
        .route("/v1/me/checkins", post(api::check_in))
}

/// The token key: the store's, made there by the first node that needs it, read once.
pub(crate) async fn secret(s: &AppState) -> ApiResult<Arc<[u8]>> {
    s.web
        .member_secret
        .get_or_try_init(|| async {
            let candidate = crate::web::random_hex::<{ member_token::SECRET_BYTES }>();
            let stored = s.store.server_secret(SECRET_NAME, &candidate, s.clock.now()).await?;
            let bytes =
                hex::decode(&stored).map_err(|_| ApiError::internal("the stored member token key is not hex"))?;
            Ok::<_, ApiError>(Arc::from(bytes))
        })
        .await
        .cloned()
}

/// The member a token names, if it is valid now.
pub(crate) async fn member_of(
    s: &AppState,
    token: &str,
) -> ApiResult<Result<(MemberId, jiff::Timestamp), member_token::TokenError>> {
    let key = secret(s).await?;
    Ok(member_token::verify(&key, token, s.clock.now()))
}
