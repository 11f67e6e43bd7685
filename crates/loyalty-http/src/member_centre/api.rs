//! The member centre's JSON: the token the store asks for, and `/v1/me` for its bearer.

use super::member_of;
use crate::checkins::{CalendarParams, CalendarView, CheckinView};
use crate::coupons::{CouponListParams, CouponView};
use crate::extract::{path_id, Query};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::tasks::MemberTasksView;
use crate::tiers::TierView;
use crate::views::Balances;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use loyalty_core::access::member_token;
use loyalty_core::ids::MemberId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// How long the token works, in seconds: 60 to 3600, default 900.
    #[serde(default)]
    #[schema(schema_with = ttl_schema)]
    pub ttl_seconds: Option<i64>,
}

fn ttl_schema() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::nullable(loyalty_core::schema::int_range(
        member_token::MIN_TTL_SECS,
        member_token::MAX_TTL_SECS,
    ))
}

/// A member token and where it opens the member centre.
#[derive(Serialize, ToSchema)]
pub struct MemberSessionView {
    pub member_id: String,
    /// Send as `Authorization: Bearer …` to `/v1/me`, or open `url` in the member's browser.
    pub token: String,
    pub expires_at: String,
    /// The member centre page with this token (relative to this server).
    pub url: String,
}

/// A short-lived token for one member's centre: it reads that member's tier, points,
/// check-ins, coupons and tasks (`/member`, `/v1/me`) and nothing else, until it expires.
#[utoipa::path(post, path = "/v1/members/{id}/sessions", tag = "member centre", request_body = SessionRequest,
    params(("id" = MemberId, Path)),
    responses((status = 201, body = MemberSessionView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_session(
    State(s): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, axum::Json<MemberSessionView>)> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let r: SessionRequest =
        if body.trim_ascii().is_empty() { SessionRequest::default() } else { crate::extract::parse_json(&body)? };
    let ttl = member_token::ttl(r.ttl_seconds)?;
    let now = s.clock.now();
    if s.writer.cache.member(s.store.as_ref(), &member, now).await?.is_none() {
        return Err(ApiError::not_found("member_not_found", format!("member {member} not found")));
    }
    let key = super::secret(&s).await?;
    let expires_at =
        jiff::Timestamp::from_second(now.as_second() + ttl).map_err(|e| ApiError::internal(e.to_string()))?;
    let token = member_token::sign(&key, &member, expires_at);
    let url = format!("/member?token={token}");
    Ok((
        StatusCode::CREATED,
        axum::Json(MemberSessionView {
            member_id: member.to_string(),
            token,
            expires_at: crate::views::rfc3339(expires_at, &s.program.tz),
            url,
        }),
    ))
}

/// Everything the member centre shows, as the API's own views of it.
#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub member_id: String,
    pub name: Option<String>,
    pub status: String,
    pub balances: Balances,
    /// Points of `balances.expiring` (within 30 days), summed.
    pub expiring_soon: i64,
    pub tier: TierView,
    /// The progress bar's fill toward the next tier, 0 to 100 (100 at the top tier).
    pub progress_percent: i64,
    pub checkins: CalendarView,
    /// Coupons usable now, soonest expiry first.
    pub coupons: Vec<CouponView>,
    pub tasks: MemberTasksView,
    /// When the token this was read with stops working.
    pub token_expires_at: String,
}

/// Most coupons the member centre lists.
pub const ME_COUPONS: i64 = 50;

/// The member centre's data for `member`, through the API's handlers.
pub(crate) async fn me_view(s: &AppState, member: &MemberId, token_expires: jiff::Timestamp) -> ApiResult<MeView> {
    let st = || State(s.clone());
    let path = || Path(member.to_string());
    let m = crate::members::get_member(st(), path()).await?.0;
    let tier = crate::tiers::get_tier(st(), path()).await?.0;
    let checkins = crate::checkins::calendar(st(), path(), Query(CalendarParams { month: None })).await?.0;
    let coupons = crate::coupons::list(
        st(),
        path(),
        Query(CouponListParams { status: Some("available".into()), limit: Some(ME_COUPONS) }),
    )
    .await?
    .0
    .items;
    let tasks = crate::tasks::member_tasks(st(), path()).await?.0;
    Ok(MeView {
        member_id: m.id,
        name: m.name,
        status: m.status,
        expiring_soon: m.balances.expiring.iter().map(|e| e.points.get()).sum(),
        balances: m.balances,
        progress_percent: crate::console::members::progress(&tier),
        tier,
        checkins,
        coupons,
        tasks,
        token_expires_at: crate::views::rfc3339(token_expires, &s.program.tz),
    })
}

/// A 401 for `/v1/me` without a token that works, with its challenge.
fn unauthorized(detail: String) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
    resp
}

/// The member a `/v1/me` request's bearer token names.
async fn bearer_member(s: &AppState, headers: &HeaderMap) -> Result<(MemberId, jiff::Timestamp), Response> {
    let raw = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let token = raw
        .trim()
        .split_once([' ', '\t'])
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(unauthorized("send Authorization: Bearer <member token> (POST /v1/members/{id}/sessions)".into()));
    };
    match member_of(s, token).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => Err(unauthorized(e.to_string())),
        Err(e) => Err(e.into_response()),
    }
}

/// `GET /v1/me`: the member centre's data for the token's member.
pub async fn me(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let (member, expires) = match bearer_member(&s, &headers).await {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    match me_view(&s, &member, expires).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/me/checkins`: checks the token's member in (as `POST /v1/members/{id}/checkins`).
pub async fn check_in(State(s): State<AppState>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let (member, _) = match bearer_member(&s, &headers).await {
        Ok(m) => m,
        Err(resp) => return resp,
    };
    let done: ApiResult<(StatusCode, axum::Json<CheckinView>)> =
        crate::checkins::check_in(State(s.clone()), Path(member.to_string()), body).await;
    match done {
        Ok(ok) => ok.into_response(),
        Err(e) => e.into_response(),
    }
}
