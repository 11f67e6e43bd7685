//! The points lottery: lotteries (operations), draws (members), and the audit that re-derives
//! a draw from its stored record. The writer decides stock, budget and daily limits.

use super::extract::{path_id, Json, Query};
use super::members::{limit, unexpected};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::{rfc3339, BalancesAfter, Page};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::definitions::Resend;
use loyalty_core::ids::{DrawId, LotteryId, MemberId};
use loyalty_core::rewards::lottery::{prize_cost, SECRET_LEN};
use loyalty_core::rewards::{Draw, Lottery, LotteryInput, LotteryPatch, PrizeItem};
use loyalty_core::DomainError;
use loyalty_engine::{definitions, Command, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A prize as published: its weight and the chance it gives, what it is, and how many are left.
#[derive(Serialize, ToSchema)]
pub struct PrizeView {
    pub id: String,
    pub name: String,
    pub weight: i64,
    /// weight ÷ Σ weights: the chance a draw picks it.
    pub chance: f64,
    pub item: PrizeItem,
    pub stock: Option<i64>,
    pub given: i64,
    /// What one costs against the budget.
    pub cost_minor: i64,
}

/// A lottery as the API publishes it: the weights in force, the prizes, and the SHA-256 of the
/// secret its draws are derived from.
#[derive(Serialize, ToSchema)]
pub struct LotteryView {
    pub id: String,
    pub name: String,
    /// `active`, `paused` or `ended`.
    pub status: String,
    pub cost_points: i64,
    pub free_draws_per_day: i64,
    pub max_draws_per_day: Option<i64>,
    pub budget_minor: Option<i64>,
    pub spent_minor: i64,
    pub draws: i64,
    pub fallback: String,
    pub opens_at: Option<String>,
    pub closes_at: Option<String>,
    pub prizes: Vec<PrizeView>,
    /// Hex SHA-256 of the lottery's secret: each draw's roll is HMAC-SHA256(secret, lottery id ‖ 0 ‖ member id ‖ 0 ‖ draw id ‖ 0).
    pub secret_sha256: String,
    pub created_at: String,
    pub updated_at: String,
}

fn lottery_view(l: &Lottery, s: &AppState) -> LotteryView {
    let total: i64 = l.weights().iter().sum();
    let t = &l.terms;
    LotteryView {
        id: l.id.to_string(),
        name: t.name.clone(),
        status: l.status.as_str().to_owned(),
        cost_points: t.cost_points,
        free_draws_per_day: t.free_draws_per_day,
        max_draws_per_day: t.max_draws_per_day,
        budget_minor: t.budget_minor,
        spent_minor: l.spent_minor,
        draws: l.draws,
        fallback: t.fallback.clone(),
        opens_at: t.opens_at.clone(),
        closes_at: t.closes_at.clone(),
        prizes: t
            .prizes
            .iter()
            .zip(&l.given)
            .map(|(p, given)| PrizeView {
                id: p.id.clone(),
                name: p.name.clone(),
                weight: p.weight,
                chance: p.weight as f64 / total as f64,
                item: p.item.clone(),
                stock: p.stock,
                given: *given,
                cost_minor: prize_cost(&s.program, p),
            })
            .collect(),
        secret_sha256: l.commitment(),
        created_at: rfc3339(l.created_at, &s.program.tz),
        updated_at: rfc3339(l.updated_at, &s.program.tz),
    }
}

fn lottery_id(raw: &str) -> ApiResult<LotteryId> {
    path_id("lottery_id", raw, LotteryId::parse)
}

async fn find_lottery(s: &AppState, id: &LotteryId) -> ApiResult<Lottery> {
    s.store.lottery(id).await?.ok_or_else(|| DomainError::LotteryNotFound(id.to_string()).into())
}

/// Creates a lottery with a fresh secret. Coupon prizes name templates obtainable with points,
/// goods prizes name goods of the mall. Sent again with the same terms it answers the lottery
/// (200); with other terms, 409 naming what differs.
#[utoipa::path(post, path = "/v1/lotteries", tag = "lottery", request_body = LotteryInput,
    responses((status = 201, body = LotteryView), (status = 200, body = LotteryView, description = "Already created with these terms"),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_lottery(
    State(s): State<AppState>,
    Json(input): Json<LotteryInput>,
) -> ApiResult<(StatusCode, axum::Json<LotteryView>)> {
    let secret: [u8; SECRET_LEN] = rand::random();
    let d = definitions::lottery(s.store.as_ref(), &s.program, &input, secret, s.clock.now(), Resend::Api).await?;
    Ok((crate::coupons::created_or_ok(&d), axum::Json(lottery_view(&d.into_inner(), &s))))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LotteryListParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
    /// The last id of the page before.
    #[param(schema_with = loyalty_core::schema::id_field_opt)]
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/lotteries", tag = "lottery", params(LotteryListParams),
    responses((status = 200, body = inline(Page<LotteryView>)), (status = 422, body = Problem)))]
pub async fn list_lotteries(
    State(s): State<AppState>,
    Query(p): Query<LotteryListParams>,
) -> ApiResult<axum::Json<Page<LotteryView>>> {
    let limit = limit(p.limit)?;
    let after = p.cursor.as_deref().map(lottery_id).transpose()?;
    let items = s.store.lotteries(after.as_ref().map(|a| a.as_str()), limit).await?;
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|t| t.id.to_string())).flatten();
    Ok(axum::Json(Page { items: items.iter().map(|l| lottery_view(l, &s)).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/lotteries/{id}", tag = "lottery", params(("id" = loyalty_core::ids::LotteryId, Path)),
    responses((status = 200, body = LotteryView), (status = 404, body = Problem)))]
pub async fn get_lottery(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<LotteryView>> {
    Ok(axum::Json(lottery_view(&find_lottery(&s, &lottery_id(&id)?).await?, &s)))
}

/// Renames, pauses, resumes or ends a lottery, or changes its budget (never below what was
/// spent). Its prizes and weights stay as published.
#[utoipa::path(patch, path = "/v1/lotteries/{id}", tag = "lottery", request_body = LotteryPatch, params(("id" = loyalty_core::ids::LotteryId, Path)),
    responses((status = 200, body = LotteryView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_lottery(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<LotteryPatch>,
) -> ApiResult<axum::Json<LotteryView>> {
    let id = lottery_id(&id)?;
    for _ in 0..3 {
        let l = find_lottery(&s, &id).await?;
        let now = s.clock.now();
        let patched = patch.apply(&l, now.round(jiff::Unit::Microsecond).unwrap_or(now))?;
        if s.store.update_lottery(&patched).await? {
            return Ok(axum::Json(lottery_view(&find_lottery(&s, &id).await?, &s)));
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the lottery's spending kept moving; retry"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrawRequest {
    /// The draw's id: the request's idempotency key, unique within the member; the outcome is
    /// derived from it.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub member_id: String,
}

/// A draw as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct DrawView {
    pub id: String,
    pub member_id: String,
    pub lottery: String,
    /// The prize given, its name and what it is.
    pub prize: String,
    pub prize_name: String,
    pub item: Option<PrizeItem>,
    /// The prize the roll picked; differs from `prize` when it fell back (`fell_back` says why).
    pub picked: String,
    pub fell_back: Option<String>,
    pub points_spent: i64,
    pub free: bool,
    /// The coupon issued, or the redemption of the goods won (give it an address).
    pub coupon: Option<String>,
    pub redemption: Option<String>,
    /// Hex HMAC-SHA256 roll the pick was made from.
    pub roll: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balances: Option<BalancesAfter>,
}

fn draw_view(d: &Draw, l: Option<&Lottery>, s: &AppState, balances: Option<BalancesAfter>) -> DrawView {
    let prize = l.and_then(|l| l.prize(&d.prize));
    DrawView {
        id: d.draw_id.to_string(),
        member_id: d.member_id.to_string(),
        lottery: d.lottery_id.to_string(),
        prize: d.prize.clone(),
        prize_name: prize.map(|p| p.name.clone()).unwrap_or_default(),
        item: prize.map(|p| p.item.clone()),
        picked: d.picked.clone(),
        fell_back: d.fell_back.clone(),
        points_spent: d.points_spent,
        free: d.free,
        coupon: d.coupon.as_ref().map(|c| c.to_string()),
        redemption: d.redemption.as_ref().map(|r| r.to_string()),
        roll: d.roll.clone(),
        at: rfc3339(d.at, &s.program.tz),
        balances,
    }
}

/// Draws once for the member (idempotent by `id`): the prize, the points it cost and the
/// balances after. 409 `draw_limit_reached` (with the limit), `lottery_not_open` or
/// `insufficient_points`.
#[utoipa::path(post, path = "/v1/lotteries/{id}/draws", tag = "lottery", request_body = DrawRequest, params(("id" = loyalty_core::ids::LotteryId, Path)),
    responses((status = 201, body = DrawView), (status = 200, body = DrawView, description = "Already drawn with this id"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn draw(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<DrawRequest>,
) -> ApiResult<(StatusCode, axum::Json<DrawView>)> {
    let lottery = lottery_id(&id)?;
    let member = path_id("member_id", &r.member_id, MemberId::parse)?;
    let draw = path_id("id", &r.id, DrawId::parse)?;
    match s.writer.submit(Command::Draw { member, lottery: lottery.clone(), draw }).await? {
        Outcome::Draw { draw, balances, replayed } => {
            let l = s.store.lottery(&lottery).await?;
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            Ok((status, axum::Json(draw_view(&draw, l.as_ref(), &s, Some(balances.into())))))
        }
        o => Err(unexpected(o)),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DrawListParams {
    /// Only this lottery's draws.
    #[param(schema_with = loyalty_core::schema::id_field_opt)]
    pub lottery: Option<String>,
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
}

/// The member's draws, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/draws", tag = "lottery", params(("id" = loyalty_core::ids::MemberId, Path), DrawListParams),
    responses((status = 200, body = inline(Page<DrawView>)), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_draws(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<DrawListParams>,
) -> ApiResult<axum::Json<Page<DrawView>>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let lottery = p.lottery.as_deref().map(lottery_id).transpose()?;
    let limit = limit(p.limit)?;
    if s.writer.cache.member(s.store.as_ref(), &member, s.clock.now()).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let draws = s.store.member_draws(&member, lottery.as_ref(), limit).await?;
    let mut lotteries: Vec<Lottery> = Vec::new();
    for d in &draws {
        if !lotteries.iter().any(|l| l.id == d.lottery_id) {
            lotteries.extend(s.store.lottery(&d.lottery_id).await?);
        }
    }
    let view = |d: &Draw| draw_view(d, lotteries.iter().find(|l| l.id == d.lottery_id), &s, None);
    Ok(axum::Json(Page { items: draws.iter().map(view).collect(), next_cursor: None }))
}

/// A draw re-derived from its stored record.
#[derive(Serialize, ToSchema)]
pub struct DrawAudit {
    pub draw: DrawView,
    /// The weights in force, by prize, as published.
    pub weights: Vec<PrizeWeight>,
    /// The prize the secret and the draw's ids pick with those weights.
    pub rederived: String,
    /// Whether the stored roll and pick are what the secret gives.
    pub matches: bool,
    pub secret_sha256: String,
}

#[derive(Serialize, ToSchema)]
pub struct PrizeWeight {
    pub prize: String,
    pub weight: i64,
}

/// Re-derives a stored draw (operators): its roll from the lottery's secret and the draw's
/// ids, the prize that roll picks, and whether the record agrees.
#[utoipa::path(get, path = "/v1/members/{id}/draws/{draw_id}/audit", tag = "lottery",
    params(("id" = loyalty_core::ids::MemberId, Path), ("draw_id" = loyalty_core::ids::DrawId, Path)),
    responses((status = 200, body = DrawAudit), (status = 404, body = Problem)))]
pub async fn audit_draw(
    State(s): State<AppState>,
    Path((member, draw)): Path<(String, String)>,
) -> ApiResult<axum::Json<DrawAudit>> {
    let member = path_id("member_id", &member, MemberId::parse)?;
    let id = path_id("draw_id", &draw, DrawId::parse)?;
    let d = s
        .store
        .draw(&member, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("draw_not_found", format!("draw {id} of member {member} not found")))?;
    let l = find_lottery(&s, &d.lottery_id).await?;
    let (rederived, matches) = l.rederive(&d);
    Ok(axum::Json(DrawAudit {
        draw: draw_view(&d, Some(&l), &s, None),
        weights: l.terms.prizes.iter().map(|p| PrizeWeight { prize: p.id.clone(), weight: p.weight }).collect(),
        rederived,
        matches,
        secret_sha256: l.commitment(),
    }))
}

/// A lottery's figures.
#[derive(Serialize, ToSchema)]
pub struct LotteryReportView {
    pub lottery: String,
    pub draws: i64,
    pub free_draws: i64,
    pub members: i64,
    /// Points members spent on draws.
    pub points_consumed: i64,
    /// What the prizes given cost, against the budget.
    pub prizes_cost_minor: i64,
    pub budget_minor: Option<i64>,
    /// Draws whose pick was out of stock, over budget or not givable.
    pub fell_back: i64,
    pub prizes: Vec<PrizeGiven>,
}

#[derive(Serialize, ToSchema)]
pub struct PrizeGiven {
    pub prize: String,
    pub given: i64,
    pub cost_minor: i64,
}

#[utoipa::path(get, path = "/v1/lotteries/{id}/report", tag = "lottery", params(("id" = loyalty_core::ids::LotteryId, Path)),
    responses((status = 200, body = LotteryReportView), (status = 404, body = Problem)))]
pub async fn report(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<LotteryReportView>> {
    let l = find_lottery(&s, &lottery_id(&id)?).await?;
    let r = s.store.lottery_report(&l.id).await?;
    Ok(axum::Json(LotteryReportView {
        lottery: l.id.to_string(),
        draws: r.draws,
        free_draws: r.free_draws,
        members: r.members,
        points_consumed: r.points,
        prizes_cost_minor: r.spent_minor,
        budget_minor: l.terms.budget_minor,
        fell_back: r.fell_back,
        prizes: r
            .prizes
            .into_iter()
            .map(|(prize, given, cost_minor)| PrizeGiven { prize, given, cost_minor })
            .collect(),
    }))
}
