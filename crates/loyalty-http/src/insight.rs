//! Insight endpoints: thin handlers that parse, read what the last run stored (or compute
//! KPIs), and map the result. Every bad parameter is a problem naming it.

use crate::auth::Access;
use crate::extract::{path_id, Query};
use crate::insight_views::*;
use crate::problem::{ApiError, ApiResult, Problem};
use crate::ApiRoute;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use loyalty_core::ids::MemberId;
use loyalty_report::config::{InsightConfig, Scheme};
use loyalty_report::kpi::{self, Granularity, KpiPeriod, LedgerCheck, PointsKpi};
use loyalty_store::analytics::{InsightRun, SegmentColumn};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

pub const MAX_PAGE: i64 = 500;

#[derive(OpenApi)]
#[openapi(
    paths(member_insight, segments, segment_members, kpis, clv_model),
    components(schemas(
        MemberInsightView, SegmentsView, SegmentView, SegmentRef, Scores, RunView, MembersPage, KpiView, KpiPeriod,
        PointsKpi, LedgerCheck, Granularity, Scheme, ClvModelView, ModelView
    )),
    tags((name = "insight", description = "RFM segments, lifecycle, churn and lifetime value, loyalty KPIs"))
)]
pub struct InsightDoc;

/// Routes with who may call them. One member's insight is for the store's servers as well;
/// the whole store's figures and member lists are operations data, for analysts and admins.
pub fn routes() -> Vec<ApiRoute> {
    vec![
        ApiRoute::new(Access::MemberInsight, Method::GET, "/v1/members/{id}/insight", get(member_insight)),
        ApiRoute::new(Access::Analyst, Method::GET, "/v1/segments", get(segments)),
        ApiRoute::new(Access::Analyst, Method::GET, "/v1/segments/{name}/members", get(segment_members)),
        ApiRoute::new(Access::Analyst, Method::GET, "/v1/kpis", get(kpis)),
        ApiRoute::new(Access::Analyst, Method::GET, "/v1/models/clv", get(clv_model)),
    ]
}

async fn latest_run(s: &AppState) -> ApiResult<(InsightRun, InsightConfig)> {
    let run = s.store.latest_insight_run().await?.ok_or_else(|| {
        ApiError::not_found("insight_not_computed", "no member insight has been computed yet; run `loyalty insight`")
    })?;
    let config = serde_json::from_str(&run.config).unwrap_or_default();
    Ok((run, config))
}

/// A scheme's name, as `Scheme::parse` reads it.
fn scheme_name() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::one_of(Scheme::ALL.iter().map(|s| s.as_str()))
}

/// A granularity, as `Granularity::parse` reads it.
fn granularity() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::one_of(Granularity::ALL.iter().map(|g| g.as_str()))
}

/// A member-list cursor as this API returns them: a member id, hex-encoded.
fn member_cursor() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(loyalty_core::ids::hex_id_pattern()))
        .into()
}

fn scheme(raw: Option<&str>, default: Scheme) -> ApiResult<Scheme> {
    raw.map_or(Ok(default), |r| {
        Scheme::parse(r)
            .ok_or_else(|| ApiError::invalid("scheme", format!("{r:?} is not a scheme: value, score or lifecycle")))
    })
}

/// A member's R, F, M, scores, segments, lifecycle stage, P(alive) and expected value.
#[utoipa::path(get, path = "/v1/members/{id}/insight", tag = "insight",
    params(("id" = loyalty_core::ids::MemberId, Path, description = "The store's customer id")),
    responses(
        (status = 200, body = MemberInsightView),
        (status = 404, body = Problem),
        (status = 422, body = Problem)
    ))]
pub async fn member_insight(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<MemberInsightView>> {
    let id = path_id("member_id", &id, MemberId::parse)?;
    let (run, config) = latest_run(&s).await?;
    match s.store.member_insight(&run, id.as_str()).await? {
        Some(m) => Ok(Json(MemberInsightView::new(&m, config.horizon_days))),
        None if s.store.member(&id, s.clock.now()).await?.is_none() => {
            Err(ApiError::not_found("member_not_found", format!("member {id} not found")))
        }
        None => Err(ApiError::not_found(
            "insight_not_found",
            format!("member {id} joined after the last insight run (run {}); it will appear in the next", run.run_id),
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SegmentsParams {
    /// `value` (8 segments), `score` (11 segments) or `lifecycle`; default from the insight configuration.
    #[param(schema_with = scheme_name)]
    scheme: Option<String>,
}

/// Every segment of a scheme with its member count and totals.
#[utoipa::path(get, path = "/v1/segments", tag = "insight", params(SegmentsParams),
    responses(
        (status = 200, body = SegmentsView),
        (status = 400, body = Problem),
        (status = 404, body = Problem),
        (status = 422, body = Problem)
    ))]
pub async fn segments(State(s): State<AppState>, Query(p): Query<SegmentsParams>) -> ApiResult<Json<SegmentsView>> {
    let (run, config) = latest_run(&s).await?;
    let scheme = scheme(p.scheme.as_deref(), config.scheme)?;
    let rows = s.store.segment_summaries(&run, scheme.as_str()).await?;
    let total = rows.iter().map(|r| r.members).sum();
    let mut segments: Vec<SegmentView> = rows.iter().map(|r| SegmentView::new(scheme, r, total)).collect();
    let order: Vec<&str> = scheme.segments().into_iter().map(|(c, _)| c).collect();
    segments.sort_by_key(|v| order.iter().position(|c| *c == v.code).unwrap_or(usize::MAX));
    Ok(Json(SegmentsView { scheme, run: RunView::new(&run, &s.program.tz), members: total, segments }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MembersParams {
    /// The scheme the segment belongs to; default from the insight configuration.
    #[param(schema_with = scheme_name)]
    scheme: Option<String>,
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    limit: Option<i64>,
    #[param(schema_with = member_cursor)]
    cursor: Option<String>,
}

fn cursor(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|c| {
        hex::decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|id| MemberId::parse(id).is_ok())
            .ok_or_else(|| ApiError::invalid("cursor", format!("{c:?} is not a cursor this API returned")))
    })
    .transpose()
}

/// Members of one segment, by member id, a page at a time.
#[utoipa::path(get, path = "/v1/segments/{name}/members", tag = "insight",
    params(("name" = String, Path, description = "A segment code of the scheme, e.g. important_value"), MembersParams),
    responses(
        (status = 200, body = MembersPage),
        (status = 400, body = Problem),
        (status = 404, body = Problem),
        (status = 422, body = Problem)
    ))]
pub async fn segment_members(
    State(s): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<MembersParams>,
) -> ApiResult<Json<MembersPage>> {
    let limit = p.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", format!("{limit} must be between 1 and {MAX_PAGE}")));
    }
    let after = cursor(p.cursor.as_deref())?;
    let (run, config) = latest_run(&s).await?;
    let scheme = scheme(p.scheme.as_deref(), config.scheme)?;
    if scheme.label(&name).is_none() {
        let known: Vec<&str> = scheme.segments().into_iter().map(|(c, _)| c).collect();
        let detail = format!("{name:?} is not a segment of the {} scheme: {}", scheme.as_str(), known.join(", "));
        return Err(ApiError::not_found("segment_not_found", detail).field("name"));
    }
    let column = match scheme {
        Scheme::Value => SegmentColumn::Value,
        Scheme::Score => SegmentColumn::Score,
        Scheme::Lifecycle => SegmentColumn::Stage,
    };
    let rows = s.store.segment_members(&run, column, &name, after.as_deref(), limit).await?;
    let next_cursor = (rows.len() as i64 == limit).then(|| rows.last().map(|m| hex::encode(&m.member_id))).flatten();
    let items = rows.iter().map(|m| MemberInsightView::new(m, config.horizon_days)).collect();
    Ok(Json(MembersPage { items, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct KpiParams {
    /// First day (YYYY-MM-DD, programme time zone); default: 11 periods before `to`.
    #[param(schema_with = loyalty_core::schema::date)]
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    #[param(schema_with = loyalty_core::schema::date)]
    pub to: Option<String>,
    /// day, week, month (default), quarter or year.
    #[param(schema_with = granularity)]
    pub granularity: Option<String>,
}

pub(crate) fn date(field: &'static str, raw: &str) -> ApiResult<jiff::civil::Date> {
    raw.parse().map_err(|_| ApiError::invalid(field, format!("{raw:?} is not a date like 2026-03-31")))
}

/// Loyalty KPIs per period: members, activity, repurchase, order value, churn, points and liability.
#[utoipa::path(get, path = "/v1/kpis", tag = "insight", params(KpiParams),
    responses((status = 200, body = KpiView), (status = 400, body = Problem), (status = 422, body = Problem)))]
pub async fn kpis(State(s): State<AppState>, Query(p): Query<KpiParams>) -> ApiResult<Json<KpiView>> {
    let g = match p.granularity.as_deref() {
        None => Granularity::Month,
        Some(raw) => Granularity::parse(raw).ok_or_else(|| {
            ApiError::invalid("granularity", format!("{raw:?} is not one of day, week, month, quarter, year"))
        })?,
    };
    let now = s.clock.now();
    let tz = &s.program.tz;
    let to = match p.to.as_deref() {
        Some(raw) => date("to", raw)?,
        None => now.to_zoned(tz.clone()).date(),
    };
    let from = match p.from.as_deref() {
        Some(raw) => date("from", raw)?,
        None => kpi::default_from(to, g),
    };
    let periods = kpi::periods(from, to, g, tz).map_err(|e| ApiError::invalid(e.field, e.reason))?;
    let (periods, ledger) = kpi::compute(s.store.as_ref(), &s.program, &periods, now).await?;
    Ok(Json(KpiView {
        granularity: g,
        timezone: tz.iana_name().unwrap_or("UTC").to_owned(),
        currency: s.program.file.currency.clone(),
        as_of: crate::views::rfc3339(now, tz),
        periods,
        ledger,
    }))
}

/// The fitted BG/NBD and Gamma-Gamma models of the latest run, and the CLV settings.
#[utoipa::path(get, path = "/v1/models/clv", tag = "insight",
    responses((status = 200, body = ClvModelView), (status = 404, body = Problem)))]
pub async fn clv_model(State(s): State<AppState>) -> ApiResult<Json<ClvModelView>> {
    let (run, _) = latest_run(&s).await?;
    let models = s.store.insight_models(&run).await?;
    Ok(Json(ClvModelView::new(&run, &models, &s.program.tz)))
}
