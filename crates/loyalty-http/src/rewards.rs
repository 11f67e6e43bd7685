//! The points mall: the catalogue (operations) and members' redemptions. Thin handlers over
//! the catalogue store and the writer, which decides stock, limits and the points where it
//! writes.

use super::extract::{path_id, Json, Query};
use super::members::{limit, unexpected};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::{rfc3339, BalancesAfter, Page};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::definitions::Resend;
use loyalty_core::ids::{MemberId, RedemptionId, RewardId};
use loyalty_core::rewards::{
    Address, Move, Redemption, RedemptionRequest, Reward, RewardInput, RewardItem, RewardPatch,
};
use loyalty_core::DomainError;
use loyalty_engine::{definitions, Command, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A catalogue item as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct RewardView {
    pub id: String,
    /// The terms as created (with the name and stock as they are now).
    pub terms: RewardInput,
    /// `active`, `paused` or `ended`.
    pub status: String,
    /// Units redeemed and not cancelled.
    pub redeemed: i64,
    /// Units left; absent when unlimited.
    pub stock_left: Option<i64>,
    /// Whether it may be redeemed now (active and inside its window).
    pub offered: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl RewardView {
    fn new(r: &Reward, s: &AppState) -> Self {
        Self {
            id: r.id.to_string(),
            terms: r.terms.clone(),
            status: r.status.as_str().to_owned(),
            redeemed: r.redeemed,
            stock_left: r.left(),
            offered: r.visible_at(s.clock.now()).is_ok(),
            created_at: rfc3339(r.created_at, &s.program.tz),
            updated_at: rfc3339(r.updated_at, &s.program.tz),
        }
    }
}

fn reward_id(raw: &str) -> ApiResult<RewardId> {
    path_id("reward_id", raw, RewardId::parse)
}

async fn find_reward(s: &AppState, id: &RewardId) -> ApiResult<Reward> {
    s.store.reward(id).await?.ok_or_else(|| DomainError::RewardNotFound(id.to_string()).into())
}

/// Adds an item to the mall's catalogue. Sent again with the same terms it answers the item
/// (200); with other terms, 409 naming what differs.
#[utoipa::path(post, path = "/v1/rewards", tag = "mall", request_body = RewardInput,
    responses((status = 201, body = RewardView), (status = 200, body = RewardView, description = "Already created with these terms"),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_reward(
    State(s): State<AppState>,
    Json(input): Json<RewardInput>,
) -> ApiResult<(StatusCode, axum::Json<RewardView>)> {
    let d = definitions::reward(s.store.as_ref(), &s.program, &input, s.clock.now(), Resend::Api).await?;
    Ok((crate::coupons::created_or_ok(&d), axum::Json(RewardView::new(&d.into_inner(), &s))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RewardListParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
    /// The last id of the page before.
    #[param(schema_with = loyalty_core::schema::id_field_opt)]
    pub cursor: Option<String>,
    /// Only items that may be redeemed now (the mall a member sees).
    pub offered: Option<bool>,
}

/// The catalogue by id.
#[utoipa::path(get, path = "/v1/rewards", tag = "mall", params(RewardListParams),
    responses((status = 200, body = inline(Page<RewardView>)), (status = 422, body = Problem)))]
pub async fn list_rewards(
    State(s): State<AppState>,
    Query(p): Query<RewardListParams>,
) -> ApiResult<axum::Json<Page<RewardView>>> {
    let limit = limit(p.limit)?;
    let after = p.cursor.as_deref().map(reward_id).transpose()?;
    let items = s.store.rewards(after.as_ref().map(|a| a.as_str()), limit).await?;
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|t| t.id.to_string())).flatten();
    let now = s.clock.now();
    let shown = items.iter().filter(|r| p.offered != Some(true) || r.visible_at(now).is_ok());
    Ok(axum::Json(Page { items: shown.map(|r| RewardView::new(r, &s)).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/rewards/{id}", tag = "mall", params(("id" = loyalty_core::ids::RewardId, Path)),
    responses((status = 200, body = RewardView), (status = 404, body = Problem)))]
pub async fn get_reward(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<RewardView>> {
    let r = find_reward(&s, &reward_id(&id)?).await?;
    Ok(axum::Json(RewardView::new(&r, &s)))
}

/// Renames, pauses, resumes or ends an item, or changes its stock (never below what is
/// redeemed). Its price and other terms never change.
#[utoipa::path(patch, path = "/v1/rewards/{id}", tag = "mall", request_body = RewardPatch, params(("id" = loyalty_core::ids::RewardId, Path)),
    responses((status = 200, body = RewardView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_reward(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<RewardPatch>,
) -> ApiResult<axum::Json<RewardView>> {
    let id = reward_id(&id)?;
    for _ in 0..3 {
        let r = find_reward(&s, &id).await?;
        let now = s.clock.now();
        let patched = patch.apply(&r, now.round(jiff::Unit::Microsecond).unwrap_or(now))?;
        if s.store.update_reward(&patched).await? {
            return Ok(axum::Json(RewardView::new(&find_reward(&s, &id).await?, &s)));
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the item's redeemed count kept moving; retry"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The redemption's id: the request's idempotency key, unique within the member.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub reward: String,
    /// Units, 1 to 100 (default 1).
    #[serde(default)]
    #[schema(schema_with = redemption_quantity_opt)]
    pub quantity: Option<i64>,
    /// Where goods are shipped (goods only).
    #[serde(default)]
    pub address: Option<Address>,
}

fn redemption_quantity_opt() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::nullable(loyalty_core::schema::redemption_quantity())
}

/// A redemption as the API shows it, with the member's balances after it.
#[derive(Serialize, ToSchema)]
pub struct RedemptionView {
    pub id: String,
    pub reward: String,
    pub quantity: i64,
    pub points: i64,
    pub cash_minor: i64,
    pub item: RewardItem,
    /// `pending`, `shipped`, `delivered`, `fulfilled` or `cancelled`.
    pub status: String,
    pub address: Option<Address>,
    pub tracking: Option<String>,
    /// Coupons it issued (a coupon reward).
    pub coupons: Vec<String>,
    /// The draw that won it (a lottery prize).
    pub draw: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balances: Option<BalancesAfter>,
}

pub(crate) fn redemption_view(r: &Redemption, s: &AppState, balances: Option<BalancesAfter>) -> RedemptionView {
    RedemptionView {
        id: r.redemption_id.to_string(),
        reward: r.reward_id.to_string(),
        quantity: r.quantity,
        points: r.points,
        cash_minor: r.cash_minor,
        item: r.item.clone(),
        status: r.status.as_str().to_owned(),
        address: r.address.clone(),
        tracking: r.tracking.clone(),
        coupons: r.coupons.iter().map(|c| c.to_string()).collect(),
        draw: r.draw.as_ref().map(|d| d.to_string()),
        created_at: rfc3339(r.created_at, &s.program.tz),
        updated_at: rfc3339(r.updated_at, &s.program.tz),
        balances,
    }
}

fn redemption_reply(
    s: &AppState,
    o: Outcome,
    created: StatusCode,
) -> ApiResult<(StatusCode, axum::Json<RedemptionView>)> {
    match o {
        Outcome::Redemption { redemption, balances, replayed } => {
            let status = if replayed { StatusCode::OK } else { created };
            Ok((status, axum::Json(redemption_view(&redemption, s, Some(balances.into())))))
        }
        o => Err(unexpected(o)),
    }
}

/// Redeems a reward with the member's points (idempotent by `id`): the points are spent
/// through the ledger (a `spend` entry whose source is the redemption) and the stock taken in
/// one transaction. 409 `reward_out_of_stock`, `reward_limit_reached` (with the limit and its
/// period) or `insufficient_points`; 422 `reward_not_eligible` saying why.
#[utoipa::path(post, path = "/v1/members/{id}/redemptions", tag = "mall", request_body = RedeemRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = RedemptionView), (status = 200, body = RedemptionView, description = "Already redeemed with this id"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn redeem(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<RedeemRequest>,
) -> ApiResult<(StatusCode, axum::Json<RedemptionView>)> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let request = RedemptionRequest::new(&r.id, &r.reward, r.quantity.unwrap_or(1), r.address)?;
    let o = s.writer.submit(Command::Redeem { member, request }).await?;
    redemption_reply(&s, o, StatusCode::CREATED)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RedemptionListParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
}

/// The member's redemptions, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/redemptions", tag = "mall", params(("id" = loyalty_core::ids::MemberId, Path), RedemptionListParams),
    responses((status = 200, body = inline(Page<RedemptionView>)), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_redemptions(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<RedemptionListParams>,
) -> ApiResult<axum::Json<Page<RedemptionView>>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let limit = limit(p.limit)?;
    if s.writer.cache.member(s.store.as_ref(), &member, s.clock.now()).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let items = s.store.member_redemptions(&member, limit).await?;
    Ok(axum::Json(Page { items: items.iter().map(|r| redemption_view(r, &s, None)).collect(), next_cursor: None }))
}

fn ids(member: &str, redemption: &str) -> ApiResult<(MemberId, RedemptionId)> {
    Ok((path_id("member_id", member, MemberId::parse)?, path_id("redemption_id", redemption, RedemptionId::parse)?))
}

#[utoipa::path(get, path = "/v1/members/{id}/redemptions/{redemption_id}", tag = "mall",
    params(("id" = loyalty_core::ids::MemberId, Path), ("redemption_id" = loyalty_core::ids::RedemptionId, Path)),
    responses((status = 200, body = RedemptionView), (status = 404, body = Problem)))]
pub async fn get_redemption(
    State(s): State<AppState>,
    Path((member, redemption)): Path<(String, String)>,
) -> ApiResult<axum::Json<RedemptionView>> {
    let (member, id) = ids(&member, &redemption)?;
    let r = s.store.redemption(&member, &id).await?.ok_or_else(|| DomainError::RedemptionNotFound(id.to_string()))?;
    Ok(axum::Json(redemption_view(&r, &s, None)))
}

/// What the store reports of a shipped redemption.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `shipped`, `delivered` or `cancelled`.
    #[schema(schema_with = move_status)]
    pub status: String,
    /// The shipment reference (with `shipped`).
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::address_text_opt)]
    pub tracking: Option<String>,
}

fn move_status() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::one_of(["shipped", "delivered", "cancelled"])
}

/// Moves a redemption of goods: `shipped` (it needs an address), `delivered`, or `cancelled`
/// before delivery, which gives its points back to the lots they came from (a `restore`
/// entry) and its units back to the stock. Sent again, a move answers the redemption as it is.
#[utoipa::path(post, path = "/v1/members/{id}/redemptions/{redemption_id}/status", tag = "mall", request_body = StatusRequest,
    params(("id" = loyalty_core::ids::MemberId, Path), ("redemption_id" = loyalty_core::ids::RedemptionId, Path)),
    responses((status = 200, body = RedemptionView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn move_status_handler(
    State(s): State<AppState>,
    Path((member, redemption)): Path<(String, String)>,
    Json(r): Json<StatusRequest>,
) -> ApiResult<(StatusCode, axum::Json<RedemptionView>)> {
    let (member, redemption) = ids(&member, &redemption)?;
    let mv = Move::requested(&r.status, r.tracking)?;
    let o = s.writer.submit(Command::MoveRedemption { member, redemption, mv }).await?;
    redemption_reply(&s, o, StatusCode::OK)
}

/// Sets or corrects the shipping address of a redemption not yet shipped (a prize won in a
/// lottery starts without one).
#[utoipa::path(put, path = "/v1/members/{id}/redemptions/{redemption_id}/address", tag = "mall", request_body = Address,
    params(("id" = loyalty_core::ids::MemberId, Path), ("redemption_id" = loyalty_core::ids::RedemptionId, Path)),
    responses((status = 200, body = RedemptionView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_address(
    State(s): State<AppState>,
    Path((member, redemption)): Path<(String, String)>,
    Json(a): Json<Address>,
) -> ApiResult<(StatusCode, axum::Json<RedemptionView>)> {
    let (member, redemption) = ids(&member, &redemption)?;
    a.validate()?;
    let o = s.writer.submit(Command::MoveRedemption { member, redemption, mv: Move::Address(a) }).await?;
    redemption_reply(&s, o, StatusCode::OK)
}

/// The mall's and the lottery's refusals as problem details.
pub(crate) fn problem(e: &DomainError) -> Option<ApiError> {
    let detail = e.to_string();
    let code = e.code();
    let p = match e {
        DomainError::RewardNotFound(_) | DomainError::RedemptionNotFound(_) | DomainError::LotteryNotFound(_) => {
            ApiError::not_found(code, detail)
        }
        DomainError::RewardOutOfStock { left, .. } => {
            let mut p = ApiError::new(StatusCode::CONFLICT, code, detail);
            p.0.available = Some(*left);
            p
        }
        DomainError::RewardLimitReached { limit, period, .. } => {
            let mut p = ApiError::new(StatusCode::CONFLICT, code, detail);
            p.0.limit = Some(*limit);
            p.0.period = Some((*period).to_owned());
            p
        }
        DomainError::DrawLimitReached { limit, .. } => {
            let mut p = ApiError::new(StatusCode::CONFLICT, code, detail);
            p.0.limit = Some(*limit);
            p.0.period = Some("day".to_owned());
            p
        }
        DomainError::RedemptionState { .. } | DomainError::LotteryNotOpen { .. } => {
            ApiError::new(StatusCode::CONFLICT, code, detail)
        }
        DomainError::RewardNotEligible { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
        _ => return None,
    };
    Some(p)
}
