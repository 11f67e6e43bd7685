//! Birthday gifts and member-day packs: a member's gift rows. The scheduler gives them (the
//! writer decides, `loyalty-engine` `writer/gifts.rs`); this is the read.

use super::extract::{path_id, Query};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::Page;
use super::AppState;
use axum::extract::{Path, State};
use loyalty_core::engagement::gifts::{valid_period, Gift, GiftKind};
use loyalty_core::ids::MemberId;
use loyalty_core::DomainError;
use loyalty_store::gifts::MAX_GIFTS_READ;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// One gift: the period it is for and what it gave.
#[derive(Serialize, ToSchema)]
pub struct GiftView {
    /// `birthday` or `member_day`.
    pub kind: String,
    /// The birthday year (`2026`) or the member day's month (`2026-12`).
    pub period: String,
    /// `given`, or `not_given` when no coupon could be issued (see `not_given`).
    pub status: String,
    pub at: String,
    /// The coupons issued (channel `engagement`).
    pub coupons: Vec<String>,
    /// Each coupon that could not be issued, with why (out of stock, a limit, the audience).
    pub not_given: Vec<String>,
}

pub(crate) fn gift_view(g: &Gift, tz: &jiff::tz::TimeZone) -> GiftView {
    GiftView {
        kind: g.kind.as_str().to_owned(),
        period: g.period.clone(),
        status: g.status().to_owned(),
        at: loyalty_core::calendar::rfc3339(g.at, tz),
        coupons: g.coupons.iter().map(|c| c.to_string()).collect(),
        not_given: g.not_given.clone(),
    }
}

fn page_limit() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::int_range(1, MAX_GIFTS_READ)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GiftParams {
    /// 1 to 100, default 20.
    #[param(schema_with = page_limit)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the page before (`PERIOD/KIND`).
    pub cursor: Option<String>,
}

/// A cursor `PERIOD/KIND`, checked: the kind and period of the last row of the page before.
fn cursor(raw: &str) -> ApiResult<(GiftKind, String)> {
    let bad = || ApiError::invalid("cursor", format!("{raw:?} is not a cursor like 2026-12/member_day"));
    let (period, kind) = raw.split_once('/').ok_or_else(bad)?;
    let kind = GiftKind::parse(kind).ok_or_else(bad)?;
    if !valid_period(kind, period) {
        return Err(bad());
    }
    Ok((kind, period.to_owned()))
}

/// The member's birthday gifts and member-day packs, newest period first.
#[utoipa::path(get, path = "/v1/members/{id}/gifts", tag = "engagement", params(("id" = MemberId, Path), GiftParams),
    responses((status = 200, body = inline(Page<GiftView>)), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<GiftParams>,
) -> ApiResult<axum::Json<Page<GiftView>>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let limit = p.limit.unwrap_or(20);
    if !(1..=MAX_GIFTS_READ).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("{limit} must be between 1 and {MAX_GIFTS_READ}")));
    }
    let before = p.cursor.as_deref().map(cursor).transpose()?;
    if s.writer.cache.member(s.store.as_ref(), &member, s.clock.now()).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let before = before.as_ref().map(|(k, p)| (k.as_str(), p.as_str()));
    let items = s.store.member_gifts(&member, before, limit).await?;
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|g| format!("{}/{}", g.period, g.kind.as_str())))
        .flatten();
    Ok(axum::Json(Page { items: items.iter().map(|g| gift_view(g, &s.program.tz)).collect(), next_cursor }))
}
