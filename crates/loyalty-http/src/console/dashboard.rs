//! The dashboard (`/console`): the KPIs of a date range as the API computes them (the page
//! calls the `/v1/kpis` handler itself, so its figures are the API's), charts drawn by the
//! report's SVG code, and each coupon template's use (the template report's handler).

use super::{base, merge, Operator};
use crate::extract::Query as ApiQuery;
use crate::insight::KpiParams;
use crate::web::{i18n::tr, i18n::Lang, PageLang};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use loyalty_report::svg::{self, Series};
use serde::{Deserialize, Serialize};

/// Coupon templates the dashboard reports on (the first ones by id; the coupon pages list all).
pub const DASHBOARD_TEMPLATES: i64 = 20;

#[derive(Deserialize, Default)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
    granularity: Option<String>,
}

fn given(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// A tier's share of the members, for the table beside the chart.
#[derive(Serialize)]
struct TierCount {
    code: String,
    name: String,
    members: i64,
}

#[derive(Serialize)]
struct CouponUse {
    id: String,
    name: String,
    report: crate::coupon_report::CouponReportView,
}

/// The dashboard for a range (the API's defaults where the form leaves a field empty).
async fn dashboard(s: AppState, lang: Lang, op: Operator, q: RangeQuery) -> Response {
    let granularity = given(&q.granularity).unwrap_or_else(|| "month".to_owned());
    let params = KpiParams { from: given(&q.from), to: given(&q.to), granularity: Some(granularity.clone()) };
    let mut ctx = vec![
        ("from", minijinja::Value::from(given(&q.from).unwrap_or_default())),
        ("to", minijinja::Value::from(given(&q.to).unwrap_or_default())),
        ("granularity", minijinja::Value::from(granularity)),
    ];
    let mut status = StatusCode::OK;
    match crate::insight::kpis(State(s.clone()), ApiQuery(params)).await {
        Ok(axum::Json(view)) => {
            if let (Some(first), Some(last)) = (view.periods.first(), view.periods.last()) {
                if given(&q.from).is_none() {
                    ctx[0].1 = minijinja::Value::from(first.start.get(..10).unwrap_or_default());
                }
                if given(&q.to).is_none() {
                    ctx[1].1 = minijinja::Value::from(view.as_of.get(..10).unwrap_or_default());
                }
                let tiers = tier_counts(&s, last);
                ctx.push(("charts", minijinja::Value::from_serialize(charts(lang, &view.periods, &tiers))));
                ctx.push(("tiers", minijinja::Value::from_serialize(&tiers)));
                ctx.push(("last", minijinja::Value::from_serialize(last)));
            }
            ctx.push(("kpi", minijinja::Value::from_serialize(&view)));
        }
        Err(e) => {
            status = StatusCode::UNPROCESSABLE_ENTITY;
            ctx.push(("range_error", minijinja::Value::from(e.0.detail.clone())));
            ctx.push(("range_field", minijinja::Value::from(e.0.field.clone().unwrap_or_default())));
        }
    }
    match coupon_use(&s).await {
        Ok(coupons) => ctx.push(("coupons", minijinja::Value::from_serialize(&coupons))),
        Err(e) => return super::unavailable(lang, e),
    }
    let ctx: minijinja::Value = ctx.into_iter().collect();
    super::page(status, "console/dashboard.html", lang, merge([ctx, base(&op, "dashboard")]))
}

/// `GET /console?from=&to=&granularity=`.
pub async fn page(
    State(s): State<AppState>,
    PageLang(lang): PageLang,
    Extension(op): Extension<Operator>,
    Query(q): Query<RangeQuery>,
) -> Response {
    dashboard(s, lang, op, q).await
}

/// Members of the last period by tier, in the programme's order of tiers (then any other).
fn tier_counts(s: &AppState, last: &loyalty_report::kpi::KpiPeriod) -> Vec<TierCount> {
    let levels = &s.program.file.tiers.levels;
    let mut out: Vec<TierCount> = levels
        .iter()
        .map(|l| TierCount {
            code: l.code.clone(),
            name: l.name.clone(),
            members: last.members_by_tier.get(&l.code).copied().unwrap_or(0),
        })
        .collect();
    for (code, n) in &last.members_by_tier {
        if !levels.iter().any(|l| &l.code == code) {
            out.push(TierCount { code: code.clone(), name: code.clone(), members: *n });
        }
    }
    out
}

#[derive(Serialize)]
struct Charts {
    points: String,
    members: String,
    tiers: String,
}

fn charts(lang: Lang, periods: &[loyalty_report::kpi::KpiPeriod], tiers: &[TierCount]) -> Charts {
    let labels: Vec<String> = periods.iter().map(|p| p.period.clone()).collect();
    let series = |key: &str, f: &dyn Fn(&loyalty_report::kpi::KpiPeriod) -> i64| Series {
        name: tr(lang, key, &[]),
        values: periods.iter().map(|p| f(p) as f64).collect(),
    };
    let points = svg::line_chart(
        &tr(lang, "dash.chart_points", &[]),
        &labels,
        &[
            series("kpi.issued", &|p| p.points.issued),
            series("kpi.redeemed", &|p| p.points.redeemed),
            series("kpi.expired", &|p| p.points.expired),
        ],
    );
    let members = svg::column_chart(
        &tr(lang, "dash.chart_members", &[]),
        &labels,
        &[series("kpi.new_members", &|p| p.new_members), series("kpi.active_30d", &|p| p.active_30d)],
    );
    let slices: Vec<(String, f64)> = tiers.iter().map(|t| (t.name.clone(), t.members as f64)).collect();
    let tiers = svg::donut_chart(&tr(lang, "dash.chart_tiers", &[]), &slices);
    Charts { points, members, tiers }
}

/// The first templates' reports, through the report's own handler.
async fn coupon_use(s: &AppState) -> Result<Vec<CouponUse>, crate::problem::ApiError> {
    let templates = s.store.templates(None, DASHBOARD_TEMPLATES).await?;
    let mut out = Vec::with_capacity(templates.len());
    for t in templates {
        let axum::Json(report) = crate::coupon_report::report(State(s.clone()), Path(t.id.to_string())).await?;
        out.push(CouponUse { id: t.id.to_string(), name: t.terms.name.clone(), report });
    }
    Ok(out)
}
