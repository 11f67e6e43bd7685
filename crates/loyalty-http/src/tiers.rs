//! Tiers, activities, benefits and checkout evaluation.

use super::auth::Principal;
use super::extract::{path_id, Json, Query};
use super::members::{unexpected, PageParams};
use super::problem::{ApiError, ApiResult, Problem};
use super::views::rfc3339;
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use loyalty_core::checkout::{self, Buyer, CartLine, Evaluation};
use loyalty_core::ids::{ClaimId, MemberId};
use loyalty_core::membership::perks;
use loyalty_core::order::parse_instant;
use loyalty_core::text::Reason;
use loyalty_core::tiers::{self, Action, ActionKind, ActivityInput, Level, Retention, TierEvent};
use loyalty_core::usage;
use loyalty_core::DomainError;
use loyalty_engine::{Command, Outcome};
use loyalty_store::MemberRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn member_id(raw: &str) -> ApiResult<MemberId> {
    path_id("member_id", raw, MemberId::parse)
}

async fn load(s: &AppState, id: &MemberId) -> ApiResult<std::sync::Arc<MemberRecord>> {
    s.writer
        .cache
        .member(s.store.as_ref(), id, s.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("member_not_found", format!("member {id} not found")))
}

#[derive(Serialize, ToSchema)]
pub struct TierRef {
    pub code: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct NextTier {
    pub code: String,
    pub name: String,
    pub entry: i64,
    /// Growth still needed to reach it (the progress bar's remainder).
    pub growth_needed: i64,
    /// e.g. 还差 320 成长值升级金卡
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct RetentionView {
    /// none (base tier), safe, at_risk, in_grace
    pub status: String,
    pub threshold: Option<i64>,
    pub growth_needed: Option<i64>,
    pub deadline: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TierView {
    pub member_id: String,
    pub tier: TierRef,
    pub since: Option<String>,
    pub term_end: Option<String>,
    /// Start of the qualification window (absent for lifetime windows).
    pub window_from: Option<String>,
    pub growth_in_window: i64,
    pub growth_total: i64,
    pub next_tier: Option<NextTier>,
    pub retention: RetentionView,
    pub assigned_reason: Option<String>,
    pub assigned_until: Option<String>,
}

fn tier_ref(l: &Level) -> TierRef {
    TierRef { code: l.code.clone(), name: l.name.clone() }
}

/// The member's tier, growth in the window, the next tier and what keeps the current one.
#[utoipa::path(get, path = "/v1/members/{id}/tier", tag = "tiers", params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 200, body = TierView), (status = 404, body = Problem)))]
pub async fn get_tier(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<TierView>> {
    let id = member_id(&id)?;
    let m = load(&s, &id).await?;
    let st = tiers::tier_status(&m.account, &s.program, s.clock.now());
    let tz = &s.program.tz;
    let retention = match st.retention {
        Retention::None => {
            RetentionView { status: "none".into(), threshold: None, growth_needed: None, deadline: None }
        }
        Retention::Safe { threshold } => {
            RetentionView { status: "safe".into(), threshold: Some(threshold), growth_needed: None, deadline: None }
        }
        Retention::AtRisk { threshold, growth_needed, deadline } => RetentionView {
            status: "at_risk".into(),
            threshold: Some(threshold),
            growth_needed: Some(growth_needed),
            deadline: Some(rfc3339(deadline, tz)),
        },
        Retention::InGrace { threshold, growth_needed, deadline } => RetentionView {
            status: "in_grace".into(),
            threshold: Some(threshold),
            growth_needed: Some(growth_needed),
            deadline: Some(rfc3339(deadline, tz)),
        },
    };
    Ok(axum::Json(TierView {
        member_id: id.to_string(),
        tier: tier_ref(st.level),
        since: st.since.map(|t| rfc3339(t, tz)),
        term_end: st.term_end.map(|t| rfc3339(t, tz)),
        window_from: st.window_from.map(|t| rfc3339(t, tz)),
        growth_in_window: st.growth_in_window,
        growth_total: st.growth_total,
        next_tier: st.next.map(|(l, need)| NextTier {
            code: l.code.clone(),
            name: l.name.clone(),
            entry: l.entry,
            growth_needed: need,
            message: format!("还差 {need} 成长值升级{}", l.name),
        }),
        retention,
        assigned_reason: st.assigned.as_ref().map(|(r, _)| r.clone()),
        assigned_until: st.assigned.and_then(|(_, u)| u).map(|t| rfc3339(t, tz)),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TierEventView {
    pub seq: i64,
    /// joined, upgraded, retained, at_risk, downgraded, assigned, assignment_ended
    pub kind: String,
    pub from: Option<String>,
    pub to: String,
    pub at: String,
    pub growth_in_window: i64,
    pub growth_needed: Option<i64>,
    pub deadline: Option<String>,
    pub cause: String,
}

#[derive(Serialize, ToSchema)]
pub struct TierHistory {
    pub items: Vec<TierEventView>,
    pub next_cursor: Option<String>,
}

pub(crate) fn event_view(e: &TierEvent, tz: &jiff::tz::TimeZone) -> TierEventView {
    TierEventView {
        seq: e.seq,
        kind: e.kind.as_str().into(),
        from: e.from.clone(),
        to: e.to.clone(),
        at: rfc3339(e.at, tz),
        growth_in_window: e.growth_in_window,
        growth_needed: e.growth_needed,
        deadline: e.deadline.map(|d| rfc3339(d, tz)),
        cause: e.detail.clone(),
    }
}

/// Every tier change with its cause, and the at-risk warnings, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/tier/history", tag = "tiers", params(("id" = loyalty_core::ids::MemberId, Path), PageParams),
    responses((status = 200, body = TierHistory), (status = 404, body = Problem)))]
pub async fn tier_history(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<axum::Json<TierHistory>> {
    let id = member_id(&id)?;
    let (limit, before) = (super::members::limit(p.limit)?, super::members::cursor(&p.cursor)?);
    load(&s, &id).await?;
    let events = s.store.tier_events(&id, before, limit).await?;
    let next_cursor = (events.len() as i64 == limit).then(|| events.last().map(|e| e.seq.to_string())).flatten();
    Ok(axum::Json(TierHistory { items: events.iter().map(|e| event_view(e, &s.program.tz)).collect(), next_cursor }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    pub tier: String,
    #[schema(schema_with = loyalty_core::schema::reason)]
    pub reason: String,
    /// When the assignment ends (RFC 3339); absent = an ordinary term with retention.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::instant_opt)]
    pub until: Option<String>,
}

/// Assigns a tier by hand (admin), with a reason that is kept in the history.
#[utoipa::path(post, path = "/v1/members/{id}/tier/assignments", tag = "tiers", request_body = AssignRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 200, body = TierView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn assign(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(r): Json<AssignRequest>,
) -> ApiResult<axum::Json<TierView>> {
    let member = member_id(&id)?;
    let reason = Reason::parse(&r.reason).map_err(|e| DomainError::unprocessable("reason", e.0))?;
    let until = r.until.as_deref().map(|u| parse_instant("until", u)).transpose()?;
    match s.writer.submit(Command::AssignTier { member, tier: r.tier, reason, until, actor: who.name }).await? {
        Outcome::Tier { .. } => get_tier(State(s), Path(id)).await,
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRequest {
    /// Your id for this activity: a retry with the same id is recorded once.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
    /// An activity type of the programme: review, share, community_post, …
    #[serde(rename = "type")]
    #[schema(schema_with = loyalty_core::schema::activity_type)]
    pub kind: String,
    #[schema(schema_with = loyalty_core::schema::instant)]
    pub occurred_at: String,
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::reference_opt)]
    pub reference: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ActionView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub occurred_at: String,
    pub reference: Option<String>,
    pub growth_awarded: i64,
    pub points_awarded: i64,
    /// Why nothing was awarded (e.g. over the cap), when nothing was.
    pub reason: Option<String>,
}

pub(crate) fn action_view(a: &Action, tz: &jiff::tz::TimeZone) -> ActionView {
    ActionView {
        id: a.action_id.clone(),
        kind: a.action_type.clone(),
        occurred_at: rfc3339(a.occurred_at, tz),
        reference: a.reference.clone(),
        growth_awarded: a.growth,
        points_awarded: a.points,
        reason: a.note.clone(),
    }
}

/// Records an activity; growth and points up to the type's cap per period.
#[utoipa::path(post, path = "/v1/members/{id}/activities", tag = "tiers", request_body = ActivityRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = ActionView), (status = 200, body = ActionView, description = "Already recorded with this body"),
        (status = 409, body = Problem, description = "conflict: the id was recorded with another type, instant or reference"), (status = 422, body = Problem)))]
pub async fn activity(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<ActivityRequest>,
) -> ApiResult<(StatusCode, axum::Json<ActionView>)> {
    let member = member_id(&id)?;
    let input = ActivityInput::parse(&r.id, &r.kind, &r.occurred_at, r.reference.as_deref(), s.clock.now())?;
    action_reply(&s, s.writer.submit(Command::Activity { member, input }).await?)
}

fn action_reply(s: &AppState, o: Outcome) -> ApiResult<(StatusCode, axum::Json<ActionView>)> {
    match o {
        Outcome::Action { action, replayed } => {
            let status = if replayed { StatusCode::OK } else { StatusCode::CREATED };
            Ok((status, axum::Json(action_view(&action, &s.program.tz))))
        }
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
}

/// Claims one of this month's free samples.
#[utoipa::path(post, path = "/v1/members/{id}/benefits/free-samples/claims", tag = "tiers", request_body = ClaimRequest, params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 201, body = ActionView), (status = 200, body = ActionView, description = "Already claimed with this id"),
        (status = 409, body = Problem, description = "quota used up"), (status = 422, body = Problem)))]
pub async fn claim_sample(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<ClaimRequest>,
) -> ApiResult<(StatusCode, axum::Json<ActionView>)> {
    let member = member_id(&id)?;
    let id = path_id("id", &r.id, ClaimId::parse)?;
    action_reply(&s, s.writer.submit(Command::ClaimSample { member, id }).await?)
}

#[derive(Serialize, ToSchema)]
pub struct BenefitView {
    /// The code orders, checkout and the usage report use: `member_discount`,
    /// `category_discount:{c}`, `tier_multiplier:{tier}`, `free_shipping`, `free_sample`, …
    pub code: String,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct BenefitsView {
    pub member_id: String,
    pub tier: TierRef,
    /// The paid plan whose benefits apply now, when one does (its benefits are listed too).
    pub plan: Option<String>,
    pub benefits: Vec<BenefitView>,
    pub free_samples_per_month: i64,
    pub free_samples_used_this_month: i64,
    pub free_samples_left: i64,
}

/// What the member's tier gives them, and this month's free samples left.
#[utoipa::path(get, path = "/v1/members/{id}/benefits", tag = "tiers", params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 200, body = BenefitsView), (status = 404, body = Problem)))]
pub async fn benefits(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult<axum::Json<BenefitsView>> {
    let id = member_id(&id)?;
    let m = load(&s, &id).await?;
    let now = s.clock.now();
    let st = tiers::tier_status(&m.account, &s.program, now);
    let (start, _) = tiers::period_bounds(&s.program, tiers::CapPeriod::Month, now);
    let claims = s.store.actions(&id, ActionKind::Claim, start).await?;
    let samples = tiers::free_samples(&s.program, st.level.free_samples_per_month, &claims, now);
    let plan = plan_at(&s, &m, now);
    let listed = usage::tier_benefits(&s.program, st.level).into_iter().chain(plan.into_iter().flat_map(perks::listed));
    Ok(axum::Json(BenefitsView {
        member_id: id.to_string(),
        tier: tier_ref(st.level),
        plan: plan.map(|p| p.code.clone()),
        benefits: listed.map(|b| BenefitView { code: b.code, description: b.description }).collect(),
        free_samples_per_month: samples.quota,
        free_samples_used_this_month: samples.used,
        free_samples_left: samples.left,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub member_id: String,
    /// When the order would be paid (RFC 3339); default now.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::instant_opt)]
    pub at: Option<String>,
    #[schema(schema_with = loyalty_core::schema::cart_lines)]
    pub lines: Vec<CartLine>,
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::amount)]
    pub shipping_minor: i64,
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::points_opt)]
    pub points_to_redeem: Option<i64>,
    /// Ids of the member's coupons to apply, in this order.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::coupon_ids)]
    pub coupons: Vec<String>,
    /// Pick the member's coupons (those named, or every available one) that save most.
    #[serde(default)]
    pub best_coupons: bool,
}

/// Prices a cart for a member: member prices per line with the benefits that made them,
/// shipping, the largest redemption, and the points and growth the order would earn.
/// Changes nothing.
#[utoipa::path(post, path = "/v1/checkout/evaluate", tag = "checkout", request_body = EvaluateRequest,
    responses((status = 200, body = Evaluation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn evaluate(State(s): State<AppState>, Json(r): Json<EvaluateRequest>) -> ApiResult<axum::Json<Evaluation>> {
    let id = member_id(&r.member_id)?;
    let at = match &r.at {
        Some(raw) => parse_instant("at", raw)?,
        None => s.clock.now(),
    };
    if let Some(p) = r.points_to_redeem {
        loyalty_core::limits::check_range("points_to_redeem", p, 0, loyalty_core::limits::MAX_POINTS)?;
    }
    let m = load(&s, &id).await?;
    let (tier, available_points) = checkout::buyer_at(&m.account, &s.program, s.clock.now());
    let plan = plan_at(&s, &m, at);
    let buyer = Buyer { tier: &tier, plan, birthday: m.profile.birthday, status: m.account.status(), available_points };
    let held = crate::coupons::checkout_offers(&s, &id, &r.coupons, r.best_coupons).await?;
    let mut offers: Vec<_> = held.iter().map(|(c, t)| (c, &**t)).collect();
    if r.best_coupons {
        offers = best_offers(&s, (&tier, plan), &r, &offers, at)?;
    }
    let cart = (r.lines.as_slice(), r.shipping_minor);
    Ok(axum::Json(checkout::evaluate_with_coupons(&s.program, &buyer, cart, r.points_to_redeem, &offers, at)?))
}

/// The plan whose benefits apply to the member at `at`, if one does.
fn plan_at<'a>(s: &'a AppState, m: &MemberRecord, at: jiff::Timestamp) -> Option<&'a loyalty_core::membership::Plan> {
    let cover = m.plan.as_ref().filter(|c| c.applies_at(at))?;
    s.program.file.plans.iter().find(|p| p.code == cover.plan)
}

/// The best combination of `offers` for the cart, priced at member price as checkout prices it.
fn best_offers<'a>(
    s: &AppState,
    (tier, plan): (&str, Option<&loyalty_core::membership::Plan>),
    r: &EvaluateRequest,
    offers: &[(&'a loyalty_core::coupons::Coupon, &'a loyalty_core::coupons::Template)],
    at: jiff::Timestamp,
) -> ApiResult<Vec<(&'a loyalty_core::coupons::Coupon, &'a loyalty_core::coupons::Template)>> {
    let buyer = Buyer {
        tier,
        plan,
        birthday: None,
        status: loyalty_core::ledger::MemberStatus::Active,
        available_points: loyalty_core::Points::ZERO,
    };
    let plain = checkout::evaluate(&s.program, &buyer, &r.lines, r.shipping_minor, None, at)?;
    let goods: Vec<loyalty_core::coupons::CartGoods<'_>> = plain
        .lines
        .iter()
        .map(|l| loyalty_core::coupons::CartGoods {
            sku: &l.sku,
            category: l.category.as_deref(),
            brand: l.brand.as_deref(),
            price: l.member_price_minor,
        })
        .collect();
    // What the member would pay for shipping: a tier that ships free leaves a coupon nothing to waive.
    let shipping = plain.shipping_minor - plain.shipping_waived_minor;
    let picked = loyalty_core::coupons::best(&goods, shipping, offers, at);
    Ok(picked.into_iter().map(|i| offers[i]).collect())
}
