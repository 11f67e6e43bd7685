//! Members, their ledger and lots, holds at checkout and manual adjustments.

use super::auth::Principal;
use super::extract::{path_id, Json, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::*;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use loyalty_core::ids::{AdjustmentId, HoldId, MemberId};
use loyalty_core::ledger::EntryKind;
use loyalty_core::member::MemberInput;
use loyalty_core::order::parse_instant;
use loyalty_core::text::Reason;
use loyalty_core::DomainError;
use loyalty_engine::{Command, Outcome};
use loyalty_store::LedgerQuery;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub const MAX_PAGE: i64 = 500;

fn member_id(raw: &str) -> ApiResult<MemberId> {
    path_id("member_id", raw, MemberId::parse)
}

/// Creates or updates a member. Fields sent are set; fields omitted keep their value. With
/// `referred_by` (a member's referral code), a create records the invitation; on a member that
/// exists the attempt is recorded as refused (`invitee_existed`). An unknown code, or referral
/// off, is a 422 naming `referred_by` and writes nothing.
#[utoipa::path(put, path = "/v1/members/{id}", request_body = MemberInput, tag = "members",
    params(("id" = loyalty_core::ids::MemberId, Path, description = "The store's customer id")),
    responses((status = 200, body = MemberView, description = "Updated"), (status = 201, body = MemberView, description = "Created"), (status = 422, body = Problem)))]
pub async fn put_member(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<MemberInput>,
) -> ApiResult<(StatusCode, axum::Json<MemberView>)> {
    let id = member_id(&id)?;
    match s.writer.submit(Command::UpsertMember { id, input }).await? {
        Outcome::Member { record, created, referral } => {
            let status = if created { StatusCode::CREATED } else { StatusCode::OK };
            let mut view = MemberView::new(&record, s.clock.now(), &s.program.tz);
            view.referral = referral.map(|r| crate::referrals::view(&r, &s.program.tz));
            Ok((status, axum::Json(view)))
        }
        other => Err(unexpected(other)),
    }
}

pub fn unexpected(o: Outcome) -> ApiError {
    ApiError::internal(format!("unexpected engine outcome {o:?}"))
}

/// A member's profile and balances as of now.
#[utoipa::path(get, path = "/v1/members/{id}", tag = "members",
    params(("id" = loyalty_core::ids::MemberId, Path)), responses((status = 200, body = MemberView), (status = 404, body = Problem)))]
pub async fn get_member(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<MemberView>> {
    let id = member_id(&id)?;
    let m = s
        .writer
        .cache
        .member(s.store.as_ref(), &id, s.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("member_not_found", format!("member {id} not found")))?;
    Ok(axum::Json(MemberView::new(&m, s.clock.now(), &s.program.tz)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerParams {
    /// 1 to 500, default 50.
    #[param(schema_with = page_limit)]
    pub limit: Option<i64>,
    #[param(schema_with = ledger_cursor)]
    pub cursor: Option<String>,
    /// Comma-separated kinds, e.g. `earn,clawback`.
    #[param(schema_with = entry_kinds)]
    pub kind: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    #[param(schema_with = loyalty_core::schema::instant)]
    pub from: Option<String>,
    /// Entries before this instant (RFC 3339).
    #[param(schema_with = loyalty_core::schema::instant)]
    pub to: Option<String>,
}

/// A page size: 1 to `MAX_PAGE`.
pub fn page_limit() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::int_range(1, MAX_PAGE)
}

/// A ledger cursor as this API returns them: a positive sequence number.
fn ledger_cursor() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some("^[1-9][0-9]{0,17}$"))
        .into()
}

/// Entry kinds, comma-separated, as `EntryKind::parse` reads them.
fn entry_kinds() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::list_of(EntryKind::ALL.iter().map(|k| k.as_str()))
}

pub fn limit(raw: Option<i64>) -> ApiResult<i64> {
    let l = raw.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&l) {
        return Err(ApiError::invalid("limit", format!("{l} must be between 1 and {MAX_PAGE}")));
    }
    Ok(l)
}

pub fn cursor(raw: &Option<String>) -> ApiResult<Option<i64>> {
    raw.as_ref()
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| ApiError::invalid("cursor", format!("{c:?} is not a cursor this API returned")))
        })
        .transpose()
}

async fn require_member(s: &AppState, id: &MemberId) -> ApiResult<()> {
    match s.writer.cache.member(s.store.as_ref(), id, s.clock.now()).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("member_not_found", format!("member {id} not found"))),
    }
}

/// The member's ledger, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/ledger", tag = "members", params(("id" = loyalty_core::ids::MemberId, Path), LedgerParams),
    responses((status = 200, body = inline(Page<EntryView>)), (status = 404, body = Problem)))]
pub async fn ledger(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<LedgerParams>,
) -> ApiResult<axum::Json<Page<EntryView>>> {
    let id = member_id(&id)?;
    let limit = limit(p.limit)?;
    let mut kinds = Vec::new();
    for k in p.kind.iter().flat_map(|k| k.split(',')).filter(|k| !k.is_empty()) {
        kinds
            .push(EntryKind::parse(k).ok_or_else(|| ApiError::invalid("kind", format!("{k:?} is not an entry kind")))?);
    }
    let from = p.from.as_deref().map(|r| parse_instant("from", r)).transpose()?;
    let to = p.to.as_deref().map(|r| parse_instant("to", r)).transpose()?;
    require_member(&s, &id).await?;
    let q = LedgerQuery { member_id: id.to_string(), before_seq: cursor(&p.cursor)?, kinds, from, to, limit };
    let entries = s.store.ledger(&q).await?;
    let next_cursor = (entries.len() as i64 == limit).then(|| entries.last().map(|e| e.seq.to_string())).flatten();
    Ok(axum::Json(Page { items: entries.iter().map(|e| EntryView::new(e, &s.program.tz)).collect(), next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    #[param(schema_with = page_limit)]
    pub limit: Option<i64>,
    #[param(schema_with = ledger_cursor)]
    pub cursor: Option<String>,
}

/// The member's lots (one per grant), newest first.
#[utoipa::path(get, path = "/v1/members/{id}/lots", tag = "members", params(("id" = loyalty_core::ids::MemberId, Path), PageParams),
    responses((status = 200, body = inline(Page<LotView>)), (status = 404, body = Problem)))]
pub async fn lots(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<Page<LotView>>> {
    let id = member_id(&id)?;
    let limit = limit(p.limit)?;
    let before = cursor(&p.cursor)?;
    require_member(&s, &id).await?;
    let lots = s.store.lots(&id, before, limit).await?;
    let next_cursor = (lots.len() as i64 == limit).then(|| lots.last().map(|l| l.lot_no.to_string())).flatten();
    Ok(axum::Json(Page { items: lots.iter().map(|l| LotView::new(l, &s.program.tz)).collect(), next_cursor }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    #[schema(schema_with = loyalty_core::schema::points)]
    pub points: i64,
    /// The order amount the points pay part of; the share cap applies to it.
    #[schema(schema_with = loyalty_core::schema::amount)]
    pub order_amount_minor: i64,
    /// The store's order (or checkout) id; one live hold per order.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub order_id: String,
    /// Default 900; at most 86400.
    #[serde(default)]
    #[schema(schema_with = ttl_seconds)]
    pub ttl_seconds: Option<i64>,
    /// The member's coupons to reserve with the points for this order: the capture keeps them
    /// for the order, the release or the hold's time-out frees them.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::coupon_ids)]
    pub coupons: Vec<String>,
}

/// A hold's time to live: 1 to `MAX_HOLD_TTL_SECS` seconds, or absent for the default.
fn ttl_seconds() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::nullable(loyalty_core::schema::int_range(1, loyalty_engine::MAX_HOLD_TTL_SECS))
}

/// Reserves points at checkout.
#[utoipa::path(post, path = "/v1/members/{id}/points/holds", tag = "points", request_body = HoldRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = HoldView), (status = 409, body = Problem, description = "insufficient_points"), (status = 422, body = Problem)))]
pub async fn create_hold(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<HoldRequest>,
) -> ApiResult<(StatusCode, axum::Json<HoldView>)> {
    let member = member_id(&id)?;
    path_id("order_id", &r.order_id, loyalty_core::ids::OrderId::parse)?;
    // Bounded here with the rules' own check (`Account::hold`), so that no number out of
    // range reaches the writer; the share cap and the balance stay the rules' to judge.
    loyalty_core::limits::check_hold_input(r.points, r.order_amount_minor)?;
    let ttl_seconds = r.ttl_seconds.unwrap_or(900);
    if r.coupons.len() > loyalty_core::coupons::MAX_COUPONS_PER_CART {
        return Err(ApiError::invalid(
            "coupons",
            format!("at most {} coupons", loyalty_core::coupons::MAX_COUPONS_PER_CART),
        ));
    }
    let coupons = r
        .coupons
        .iter()
        .enumerate()
        .map(|(i, c)| path_id(&format!("coupons[{i}]"), c, loyalty_core::ids::CouponId::parse))
        .collect::<ApiResult<Vec<_>>>()?;
    loyalty_core::limits::check_range("ttl_seconds", ttl_seconds, 1, loyalty_engine::MAX_HOLD_TTL_SECS)?;
    let cmd = Command::Hold {
        member: member.clone(),
        order_id: r.order_id,
        points: loyalty_core::Points::new(r.points),
        order_amount_minor: loyalty_core::Money::new(r.order_amount_minor),
        ttl_seconds,
        coupons,
    };
    hold_reply(&s, &member, s.writer.submit(cmd).await?, StatusCode::CREATED)
}

fn hold_reply(
    s: &AppState,
    member: &MemberId,
    o: Outcome,
    created: StatusCode,
) -> ApiResult<(StatusCode, axum::Json<HoldView>)> {
    match o {
        Outcome::Hold { hold, balances, replayed } => {
            let status = if replayed { StatusCode::OK } else { created };
            Ok((status, axum::Json(HoldView::new(member.as_str(), &hold, balances, &s.program))))
        }
        other => Err(unexpected(other)),
    }
}

/// Spends held points.
#[utoipa::path(post, path = "/v1/members/{id}/points/holds/{hold_id}/capture", tag = "points", params(("id" = loyalty_core::ids::MemberId, Path), ("hold_id" = loyalty_core::ids::HoldId, Path)),
    responses((status = 200, body = HoldView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn capture(
    State(s): State<AppState>,
    Path((id, hold)): Path<(String, String)>,
) -> ApiResult<(StatusCode, axum::Json<HoldView>)> {
    let member = member_id(&id)?;
    let hold = path_id("hold_id", &hold, HoldId::parse)?;
    let o = s.writer.submit(Command::Capture { member: member.clone(), hold }).await?;
    hold_reply(&s, &member, o, StatusCode::OK)
}

/// Gives held points back to the lots they came from.
#[utoipa::path(post, path = "/v1/members/{id}/points/holds/{hold_id}/release", tag = "points", params(("id" = loyalty_core::ids::MemberId, Path), ("hold_id" = loyalty_core::ids::HoldId, Path)),
    responses((status = 200, body = HoldView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn release(
    State(s): State<AppState>,
    Path((id, hold)): Path<(String, String)>,
) -> ApiResult<(StatusCode, axum::Json<HoldView>)> {
    let member = member_id(&id)?;
    let hold = path_id("hold_id", &hold, HoldId::parse)?;
    let o = s.writer.submit(Command::Release { member: member.clone(), hold }).await?;
    hold_reply(&s, &member, o, StatusCode::OK)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentRequest {
    /// Signed: positive grants points usable at once, negative takes available points. Non-zero,
    /// at most 10¹² either way.
    #[schema(schema_with = loyalty_core::schema::signed_points)]
    pub points: i64,
    #[schema(schema_with = loyalty_core::schema::reason)]
    pub reason: String,
    /// Your id for this adjustment; defaults to the Idempotency-Key. One of them is required.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::id_field_opt)]
    pub id: Option<String>,
}

/// A manual correction by an operator (admin scope); the key's name is recorded as actor.
#[utoipa::path(post, path = "/v1/members/{id}/points/adjustments", tag = "points", request_body = AdjustmentRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = AdjustmentView), (status = 200, body = AdjustmentView, description = "Already applied with this id"), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn adjust(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Json(r): Json<AdjustmentRequest>,
) -> ApiResult<(StatusCode, axum::Json<AdjustmentView>)> {
    let member = member_id(&id)?;
    let raw_id = r
        .id
        .or_else(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .ok_or_else(|| {
            ApiError::invalid(
                "id",
                "send an id for this adjustment or an Idempotency-Key header, so that a retry cannot apply it twice",
            )
        })?;
    let adj_id = path_id("id", &raw_id, AdjustmentId::parse)?;
    loyalty_core::limits::check_adjustment(r.points)?;
    let reason = Reason::parse(&r.reason).map_err(|e| DomainError::unprocessable("reason", e.0))?;
    let points = loyalty_core::Points::new(r.points);
    let cmd = Command::Adjust { member, id: adj_id, points, reason, actor: who.name, audited: false };
    match s.writer.submit(cmd).await? {
        Outcome::Adjusted { adjustment, balances, replayed } => {
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            Ok((status, axum::Json(AdjustmentView::new(&adjustment, balances, &s.program.tz))))
        }
        other => Err(unexpected(other)),
    }
}
