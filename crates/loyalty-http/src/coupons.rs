//! Coupon templates (operations) and members' coupons: thin handlers over the template store
//! and the writer, which decides stock and limits where it writes.

use super::extract::{path_id, Json, Query};
use super::members::{limit, unexpected};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::{rfc3339, Page};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::coupons::{Benefit, Channel, Coupon, CouponStatus, Template, TemplateInput, TemplatePatch};
use loyalty_core::definitions::Resend;
use loyalty_core::ids::{CouponId, MemberId, TemplateId};
use loyalty_core::DomainError;
use loyalty_engine::{definitions, Outcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A template as the API shows it: its terms, status, stock and how many were issued.
#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub id: String,
    /// The terms as created (with the name and stock as they are now).
    pub terms: TemplateInput,
    /// `active`, `paused` or `ended`.
    pub status: String,
    pub issued: i64,
    /// Stock left to issue; absent when unlimited.
    pub stock_left: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl TemplateView {
    fn new(t: &Template, s: &AppState) -> Self {
        Self {
            id: t.id.to_string(),
            terms: t.terms.clone(),
            status: t.status.as_str().to_owned(),
            issued: t.issued,
            stock_left: t.terms.stock.map(|x| x - t.issued),
            created_at: rfc3339(t.created_at, &s.program.tz),
            updated_at: rfc3339(t.updated_at, &s.program.tz),
        }
    }
}

pub(crate) fn template_id(raw: &str) -> ApiResult<TemplateId> {
    path_id("template_id", raw, TemplateId::parse)
}

pub(crate) async fn find_template(s: &AppState, id: &TemplateId) -> ApiResult<Template> {
    s.store.template(id).await?.ok_or_else(|| DomainError::TemplateNotFound(id.to_string()).into())
}

/// Creates a coupon template. Sent again with the same terms it answers the template (200);
/// with other terms, 409 naming what differs.
#[utoipa::path(post, path = "/v1/coupon-templates", tag = "coupons", request_body = TemplateInput,
    responses((status = 201, body = TemplateView), (status = 200, body = TemplateView, description = "Already created with these terms"),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_template(
    State(s): State<AppState>,
    Json(input): Json<TemplateInput>,
) -> ApiResult<(StatusCode, axum::Json<TemplateView>)> {
    let d = definitions::template(s.store.as_ref(), &s.program, &input, s.clock.now(), Resend::Api).await?;
    Ok((created_or_ok(&d), axum::Json(TemplateView::new(&d.into_inner(), &s))))
}

/// 201 for a definition made now, 200 for one found (a retry with the same terms).
pub(crate) fn created_or_ok<T>(d: &definitions::Defined<T>) -> StatusCode {
    if d.created() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TemplateListParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
    /// The last template id of the page before.
    #[param(schema_with = loyalty_core::schema::id_field_opt)]
    pub cursor: Option<String>,
}

/// Coupon templates by id.
#[utoipa::path(get, path = "/v1/coupon-templates", tag = "coupons", params(TemplateListParams),
    responses((status = 200, body = inline(Page<TemplateView>)), (status = 422, body = Problem)))]
pub async fn list_templates(
    State(s): State<AppState>,
    Query(p): Query<TemplateListParams>,
) -> ApiResult<axum::Json<Page<TemplateView>>> {
    let limit = limit(p.limit)?;
    let after = p.cursor.as_deref().map(template_id).transpose()?;
    let items = s.store.templates(after.as_ref().map(|a| a.as_str()), limit).await?;
    let next_cursor = (items.len() as i64 == limit).then(|| items.last().map(|t| t.id.to_string())).flatten();
    Ok(axum::Json(Page { items: items.iter().map(|t| TemplateView::new(t, &s)).collect(), next_cursor }))
}

#[utoipa::path(get, path = "/v1/coupon-templates/{id}", tag = "coupons", params(("id" = loyalty_core::ids::TemplateId, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = Problem)))]
pub async fn get_template(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<TemplateView>> {
    let t = find_template(&s, &template_id(&id)?).await?;
    Ok(axum::Json(TemplateView::new(&t, &s)))
}

/// Renames, pauses, resumes or ends a template, or changes its stock (never below what was
/// issued). Its other terms never change: issued coupons keep them.
#[utoipa::path(patch, path = "/v1/coupon-templates/{id}", tag = "coupons", request_body = TemplatePatch, params(("id" = loyalty_core::ids::TemplateId, Path)),
    responses((status = 200, body = TemplateView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_template(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<TemplatePatch>,
) -> ApiResult<axum::Json<TemplateView>> {
    let id = template_id(&id)?;
    // Stock is checked against `issued` by the update itself; a refusal is re-read so that
    // its message gives the count that refused it.
    for _ in 0..3 {
        let t = find_template(&s, &id).await?;
        let now = s.clock.now();
        let patched = patch.apply(&t, now.round(jiff::Unit::Microsecond).unwrap_or(now))?;
        if s.store.update_template(&patched).await? {
            let now = find_template(&s, &id).await?;
            return Ok(axum::Json(TemplateView::new(&now, &s)));
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the template's issued count kept moving; retry"))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The template's id; or send `code`.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::id_field_opt)]
    pub template: Option<String>,
    /// A code the member typed: a template's public code or a one-time code.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::coupon_code_opt)]
    pub code: Option<String>,
    /// `claim` (the member asks) or `issue` (operations or a campaign grant it); `code` (the
    /// default with `code`).
    #[serde(default)]
    pub source: Option<Channel>,
    /// The coupon's id: the request's idempotency key, unique within the member.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
}

/// A member's coupon as the API shows it: what it is worth and until when.
#[derive(Serialize, ToSchema)]
pub struct CouponView {
    pub id: String,
    pub template: String,
    pub name: String,
    /// `available`, `reserved`, `used` or `expired` (as of now).
    pub status: String,
    pub benefit: Benefit,
    pub stackable: bool,
    pub source: Channel,
    pub issued_at: String,
    pub valid_from: String,
    pub valid_until: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_at: Option<String>,
}

fn coupon_view(c: &Coupon, t: Option<&Template>, s: &AppState) -> CouponView {
    let tz = &s.program.tz;
    CouponView {
        id: c.coupon_id.to_string(),
        template: c.template_id.to_string(),
        name: t.map(|t| t.terms.name.clone()).unwrap_or_default(),
        status: c.status_at(s.clock.now()).as_str().to_owned(),
        benefit: t.map_or(Benefit::FreeShipping { threshold_minor: 0 }, |t| t.terms.benefit.clone()),
        stackable: t.is_some_and(|t| t.terms.stackable),
        source: c.source,
        issued_at: rfc3339(c.issued_at, tz),
        valid_from: rfc3339(c.valid_from, tz),
        valid_until: rfc3339(c.valid_until, tz),
        order_id: c.order_id.as_ref().map(|o| o.to_string()),
        used_at: c.used_at.map(|u| rfc3339(u, tz)),
    }
}

/// Issues or claims a coupon for the member (idempotent by `id`): 409 `coupon_out_of_stock`
/// or `coupon_limit_reached` (with the limit and its period), 422 `coupon_not_eligible` saying
/// why the member may not hold it.
#[utoipa::path(post, path = "/v1/members/{id}/coupons", tag = "coupons", request_body = IssueRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = CouponView), (status = 200, body = CouponView, description = "Already issued with this id"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn issue(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<IssueRequest>,
) -> ApiResult<(StatusCode, axum::Json<CouponView>)> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let coupon = path_id("id", &r.id, CouponId::parse)?;
    let how = (r.template.as_deref(), r.code.as_deref(), r.source);
    let cmd = crate::coupon_codes::issue_command(&s, member, how, coupon).await?;
    match s.writer.submit(cmd).await? {
        Outcome::Coupon { coupon, replayed } => {
            let t = s.store.template(&coupon.template_id).await?;
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            Ok((status, axum::Json(coupon_view(&coupon, t.as_ref(), &s))))
        }
        o => Err(unexpected(o)),
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CouponListParams {
    /// `available`, `reserved`, `used` or `expired`; all when absent.
    #[param(schema_with = coupon_status)]
    pub status: Option<String>,
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
}

fn coupon_status() -> utoipa::openapi::schema::Schema {
    loyalty_core::schema::nullable(loyalty_core::schema::one_of(
        [CouponStatus::Available, CouponStatus::Reserved, CouponStatus::Used, CouponStatus::Expired]
            .map(|s| s.as_str()),
    ))
}

/// The member's coupons, soonest expiry first.
#[utoipa::path(get, path = "/v1/members/{id}/coupons", tag = "coupons", params(("id" = loyalty_core::ids::MemberId, Path), CouponListParams),
    responses((status = 200, body = inline(Page<CouponView>)), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<CouponListParams>,
) -> ApiResult<axum::Json<Page<CouponView>>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    let status = p
        .status
        .as_deref()
        .map(|raw| {
            CouponStatus::parse(raw).ok_or_else(|| {
                ApiError::invalid("status", format!("{raw:?} is not one of available, reserved, used, expired"))
            })
        })
        .transpose()?;
    let limit = limit(p.limit)?;
    if s.writer.cache.member(s.store.as_ref(), &member, s.clock.now()).await?.is_none() {
        return Err(DomainError::MemberNotFound(member.to_string()).into());
    }
    let coupons = s.store.member_coupons(&member, status, s.clock.now(), limit).await?;
    let templates = templates_of(&s, &coupons).await?;
    let items = coupons.iter().map(|c| coupon_view(c, templates.iter().find(|t| t.id == c.template_id), &s)).collect();
    Ok(axum::Json(Page { items, next_cursor: None }))
}

/// The templates of `coupons`, by id, read in one statement.
pub(crate) async fn templates_of(s: &AppState, coupons: &[Coupon]) -> ApiResult<Vec<Template>> {
    let mut ids: Vec<TemplateId> = coupons.iter().map(|c| c.template_id.clone()).collect();
    ids.sort();
    ids.dedup();
    Ok(s.store.templates_by_id(&ids).await?)
}

/// The coupons checkout weighs for a member: those named (each must be the member's), or with
/// `best`, every coupon available now. With their templates. Both come from the checkout cache
/// (`loyalty_engine::checkout_cache`): an order decides its coupons again where it writes.
pub(crate) async fn checkout_offers(
    s: &AppState,
    member: &MemberId,
    named: &[String],
    best: bool,
) -> ApiResult<Vec<(Coupon, Arc<Template>)>> {
    if named.len() > loyalty_core::coupons::MAX_COUPONS_PER_CART {
        return Err(ApiError::invalid(
            "coupons",
            format!("names {} coupons; at most {}", named.len(), loyalty_core::coupons::MAX_COUPONS_PER_CART),
        ));
    }
    if named.is_empty() && !best {
        return Ok(Vec::new());
    }
    let ids = named
        .iter()
        .enumerate()
        .map(|(i, raw)| path_id(&format!("coupons[{i}]"), raw, CouponId::parse))
        .collect::<ApiResult<Vec<_>>>()?;
    let cache = &s.writer.cache.checkout;
    let now = s.clock.now();
    let max = loyalty_core::coupons::apply::MAX_CANDIDATES;
    // `None`: the member holds too many to keep; the store is asked for what is needed.
    let kept = cache.coupons(s.store.as_ref(), member).await?;
    let chosen: Vec<Coupon> = if ids.is_empty() {
        match &kept {
            // Soonest end first, as the store's read of available coupons orders them.
            Some(all) => {
                all.iter().filter(|c| c.status_at(now) == CouponStatus::Available).take(max).cloned().collect()
            }
            None => s.store.member_coupons(member, Some(CouponStatus::Available), now, max as i64).await?,
        }
    } else {
        // By id, not from a page of the member's coupons: a member may hold more than a page.
        let held = match &kept {
            Some(all) => all.iter().filter(|c| ids.contains(&c.coupon_id)).cloned().collect(),
            None => s.store.coupons_by_id(member, &ids).await?,
        };
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.into_iter().enumerate() {
            let c = held.iter().find(|c| c.coupon_id == id).cloned().ok_or_else(|| {
                ApiError::from(DomainError::CouponNotFound(id.to_string())).field(format!("coupons[{i}]"))
            })?;
            out.push(c);
        }
        out
    };
    let mut templates: Vec<Arc<Template>> = Vec::new();
    let mut out = Vec::with_capacity(chosen.len());
    for c in chosen {
        let t = match templates.iter().find(|t| t.id == c.template_id) {
            Some(t) => t.clone(),
            None => {
                let Some(t) = cache.template(s.store.as_ref(), &c.template_id).await? else { continue };
                templates.push(t.clone());
                t
            }
        };
        out.push((c, t));
    }
    Ok(out)
}

/// Why the problem refused: `DomainError`'s coupon variants as problem details.
pub(crate) fn problem(e: &DomainError) -> Option<ApiError> {
    let detail = e.to_string();
    let code = e.code();
    let p = match e {
        DomainError::TemplateNotFound(_) | DomainError::CouponNotFound(_) | DomainError::CouponCodeNotFound(_) => {
            ApiError::not_found(code, detail)
        }
        DomainError::CouponOutOfStock { .. } | DomainError::CouponUsed { .. } | DomainError::CouponCodeUsed(_) => {
            ApiError::new(StatusCode::CONFLICT, code, detail)
        }
        DomainError::CouponCodeTaken(_) => ApiError::new(StatusCode::CONFLICT, code, detail).field("code"),
        DomainError::CouponLimitReached { limit, period, .. } => {
            let mut p = ApiError::new(StatusCode::CONFLICT, code, detail);
            p.0.limit = Some(*limit);
            p.0.period = Some((*period).to_owned());
            p
        }
        DomainError::CouponNotEligible { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail),
        DomainError::CouponNotApplicable { why_not, .. } => {
            let mut p = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail).field("coupons");
            p.0.why_not = Some(why_not.clone());
            p
        }
        _ => return None,
    };
    Some(p)
}
