//! `GET /v1/memberships/report`: does paid membership pay? A thin handler: it parses the range
//! as `/v1/kpis` does (calendar days in the programme's zone), and `loyalty_report::membership`
//! reads and computes everything.

use super::extract::Query;
use super::insight::date;
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use axum::extract::State;
use axum::Json;
use loyalty_report::membership::view::MembershipReport;
use loyalty_report::membership::{self, ReportError, ReportRange};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day (YYYY-MM-DD, programme time zone), inclusive; default the first day of the
    /// month eleven months before `to`'s.
    #[param(schema_with = loyalty_core::schema::date)]
    from: Option<String>,
    /// Last day, inclusive; default today. At most 120 months from `from`'s month.
    #[param(schema_with = loyalty_core::schema::date)]
    to: Option<String>,
    /// Only this plan (a plan code of the programme).
    #[param(schema_with = loyalty_core::schema::text)]
    plan: Option<String>,
}

/// Paid membership per plan and in total: members in trial, paid, joined, renewed and lapsed;
/// trial conversion; renewal rate; fees; benefit cost; the spend joining added (a difference in
/// differences against members who never paid, matched by tier and value segment, with its
/// method and sample sizes) and ROI = (incremental gross margin + fees − benefit cost) ÷
/// benefit cost. Definitions: docs/METRICS.md.
#[utoipa::path(get, path = "/v1/memberships/report", tag = "memberships", params(ReportParams),
    responses((status = 200, body = MembershipReport), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn report(State(s): State<AppState>, Query(p): Query<ReportParams>) -> ApiResult<Json<MembershipReport>> {
    let now = s.clock.now();
    let tz = &s.program.tz;
    let to = match p.to.as_deref() {
        Some(raw) => date("to", raw)?,
        None => now.to_zoned(tz.clone()).date(),
    };
    let from = match p.from.as_deref() {
        Some(raw) => date("from", raw)?,
        None => loyalty_report::kpi::default_from(to, loyalty_report::kpi::Granularity::Month),
    };
    let range =
        ReportRange::new(&s.program, from, to, p.plan.as_deref()).map_err(|e| ApiError::invalid(e.field, e.reason))?;
    match membership::compute(s.store.as_ref(), &s.program, &range, now).await {
        Ok(report) => Ok(Json(report)),
        Err(ReportError::Store(e)) => Err(e.into()),
        // The range was checked, so an estimate refusing it is a bug: say so, never a wrong figure.
        Err(e @ ReportError::Insight(_)) => Err(ApiError::internal(e.to_string())),
    }
}
