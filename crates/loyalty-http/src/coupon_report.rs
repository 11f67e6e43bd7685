//! A template's report: what became of its coupons, what they cost and what they brought.

use super::coupons::{find_template, template_id};
use super::problem::{ApiResult, Problem};
use super::AppState;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

/// What became of a template's coupons, and what they cost and brought.
#[derive(Serialize, ToSchema)]
pub struct CouponReportView {
    pub template: String,
    pub issued: i64,
    pub claimed: i64,
    /// Used now (a coupon given back and used again counts once).
    pub used: i64,
    pub available: i64,
    pub expired: i64,
    /// Reserved at checkout now, for an order not yet placed.
    pub reserved: i64,
    /// Uses in all, and how many of them a full refund gave back.
    pub uses: i64,
    pub restored: i64,
    /// Used ÷ issued, in percent with two decimals (0 when none was issued).
    pub use_rate_percent: f64,
    /// Orders that used one, what the coupons took off them (and the shipping they waived), the
    /// goods those orders paid, and a multiplier coupon's extra points.
    pub orders: i64,
    pub discount_minor: i64,
    pub goods_minor: i64,
    pub extra_points: i64,
}

/// Issued, claimed, used, expired and restored coupons of the template; its use rate; the
/// discount it gave and the orders and goods it came with.
#[utoipa::path(get, path = "/v1/coupon-templates/{id}/report", tag = "coupons", params(("id" = loyalty_core::ids::TemplateId, Path)),
    responses((status = 200, body = CouponReportView), (status = 404, body = Problem)))]
pub async fn report(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<CouponReportView>> {
    let t = find_template(&s, &template_id(&id)?).await?;
    let r = s.store.coupon_report(&t.id, s.clock.now()).await?;
    let rate = if r.issued == 0 { 0.0 } else { (r.used as f64 * 10_000.0 / r.issued as f64).round() / 100.0 };
    Ok(axum::Json(CouponReportView {
        template: t.id.to_string(),
        issued: r.issued,
        claimed: r.claimed,
        used: r.used,
        available: r.available,
        expired: r.expired,
        reserved: r.reserved,
        uses: r.uses,
        restored: r.restored,
        use_rate_percent: rate,
        orders: r.orders,
        discount_minor: r.discount_minor,
        goods_minor: r.goods_minor,
        extra_points: r.extra_points,
    }))
}
