//! Paid membership: the plans, a member's payments for terms, upgrades, cancellation,
//! refunds and invitations, and the membership with what it saved. Thin handlers: the rules
//! are the core's (`membership`), decided by the writer on the rows it holds.

use super::extract::{path_id, Json, Query};
use super::members::unexpected;
use super::membership_views::view;
pub(crate) use super::membership_views::{event_view, term_view};
pub use super::membership_views::{EventView, MembershipView, SavingsView, TermView};
use super::problem::{ApiError, ApiResult, Problem};
use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use loyalty_core::ids::{MemberId, PaymentId, RefundId};
use loyalty_core::membership::{Payment, Plan, RefundRequest};
use loyalty_core::text::Reason;
use loyalty_core::DomainError;
use loyalty_engine::{Command, Outcome};
use loyalty_store::memberships::MAX_EVENTS_PAGE;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A plan as members and the store see it.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub code: String,
    /// The plan as the programme file defines it.
    pub terms: Plan,
    /// What it gives, by the codes checkout and orders record.
    pub listed: Vec<crate::tiers::BenefitView>,
}

/// The programme's paid plans.
#[utoipa::path(get, path = "/v1/plans", tag = "memberships", responses((status = 200, body = inline(Vec<PlanView>))))]
pub async fn plans(State(s): State<AppState>) -> axum::Json<Vec<PlanView>> {
    let views = s
        .program
        .file
        .plans
        .iter()
        .map(|p| PlanView { code: p.code.clone(), terms: p.clone(), listed: listed(p) })
        .collect();
    axum::Json(views)
}

fn listed(p: &Plan) -> Vec<crate::tiers::BenefitView> {
    loyalty_core::membership::perks::listed(p)
        .into_iter()
        .map(|b| crate::tiers::BenefitView { code: b.code, description: b.description })
        .collect()
}

fn member(raw: &str) -> ApiResult<MemberId> {
    path_id("member_id", raw, MemberId::parse)
}

/// The member's membership: plan, status, term end, whether it renews, and what it saved.
#[utoipa::path(get, path = "/v1/members/{id}/membership", tag = "memberships", params(("id" = MemberId, Path)),
    responses((status = 200, body = MembershipView), (status = 404, body = Problem)))]
pub async fn get_membership(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MembershipView>> {
    let id = member(&id)?;
    let Some(m) = s.store.membership(&id).await? else {
        if s.writer.cache.member(s.store.as_ref(), &id, s.clock.now()).await?.is_none() {
            return Err(DomainError::MemberNotFound(id.to_string()).into());
        }
        return Err(DomainError::Membership {
            code: "membership_not_found",
            reason: format!("member {id} has no membership"),
        }
        .into());
    };
    Ok(axum::Json(view(&s, &m).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// 1 to 500, default 50.
    #[param(schema_with = crate::members::page_limit)]
    pub limit: Option<i64>,
    /// Entries before this sequence number (the page before's `next_cursor`).
    pub before: Option<i64>,
}

/// Every change of the membership, newest first.
#[utoipa::path(get, path = "/v1/members/{id}/membership/history", tag = "memberships", params(("id" = MemberId, Path), HistoryParams),
    responses((status = 200, body = inline(crate::views::Page<EventView>)), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn history(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<HistoryParams>,
) -> ApiResult<axum::Json<crate::views::Page<EventView>>> {
    let id = member(&id)?;
    let limit = crate::members::limit(p.limit)?.min(MAX_EVENTS_PAGE);
    if let Some(b) = p.before {
        loyalty_core::limits::check_range("before", b, 1, i64::MAX)?;
    }
    let events = s.store.membership_events(&id, p.before, limit).await?;
    let next_cursor = (events.len() as i64 == limit).then(|| events.last().map(|e| e.seq.to_string())).flatten();
    Ok(axum::Json(crate::views::Page {
        items: events.iter().map(|e| event_view(e, &s.program.tz)).collect(),
        next_cursor,
    }))
}

/// A payment the store took for a plan.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The store's payment id: the same id again is the same payment.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
    #[schema(schema_with = loyalty_core::schema::text)]
    pub plan: String,
    #[schema(schema_with = loyalty_core::schema::amount)]
    pub paid_minor: i64,
    /// The payment processor's reference.
    #[schema(schema_with = loyalty_core::schema::text)]
    pub payment_ref: String,
    /// When the store took the payment (RFC 3339, not in the future).
    #[schema(schema_with = loyalty_core::schema::instant)]
    pub started_at: String,
    /// A trial (once per member, at the plan's trial price).
    #[serde(default)]
    pub trial: bool,
}

fn payment(r: &PaymentRequest, upgrade: bool) -> ApiResult<Payment> {
    let id = PaymentId::parse(&r.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
    loyalty_core::text::check_text("plan", &r.plan, 1..=loyalty_core::order::MAX_TEXT)?;
    loyalty_core::text::check_text("payment_ref", &r.payment_ref, 1..=loyalty_core::order::MAX_TEXT)?;
    loyalty_core::order::check_amount("paid_minor", r.paid_minor)?;
    if upgrade && r.trial {
        return Err(ApiError::invalid("trial", "an upgrade is paid, never a trial"));
    }
    Ok(Payment {
        id: id.as_str().to_owned(),
        plan: r.plan.clone(),
        paid_minor: r.paid_minor,
        payment_ref: r.payment_ref.clone(),
        started_at: loyalty_core::instant::parse_instant("started_at", &r.started_at)?,
        trial: r.trial,
    })
}

async fn reply(s: &AppState, o: Outcome, created: StatusCode) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let Outcome::Membership { membership, term, refund, replayed } = o else { return Err(unexpected(o)) };
    let mut v = view(s, &membership).await?;
    v.recorded_term = term.as_ref().map(|t| term_view(t, &s.program.tz));
    v.refund = refund;
    Ok((if replayed { StatusCode::OK } else { created }, axum::Json(v)))
}

/// Records a payment for a term: a new membership, a trial, a renewal (posted early it starts
/// where the paid time ends; late, inside the grace, it continues it) or a trial's conversion.
/// 409 `period_paid` for a period already paid, `trial_used`, `membership_running` (another
/// plan runs: upgrade instead), `plan_not_eligible`; 422 naming the field (unknown plan, more
/// than the price, a future `started_at`).
#[utoipa::path(post, path = "/v1/members/{id}/memberships", tag = "memberships", request_body = PaymentRequest, params(("id" = MemberId, Path)),
    responses((status = 201, body = MembershipView), (status = 200, body = MembershipView, description = "This payment was recorded already"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn subscribe(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<PaymentRequest>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let payment = payment(&r, false)?;
    let o = s.writer.submit(Command::Subscribe { member, payment }).await?;
    reply(&s, o, StatusCode::CREATED).await
}

/// Moves the running membership to another plan from `started_at`: the unused part of the
/// running term (and any term paid ahead) is credited, and `paid_minor` may be at most the new
/// price less that credit (422 naming `paid_minor` otherwise).
#[utoipa::path(post, path = "/v1/members/{id}/membership/upgrade", tag = "memberships", request_body = PaymentRequest, params(("id" = MemberId, Path)),
    responses((status = 201, body = MembershipView), (status = 200, body = MembershipView, description = "This upgrade was recorded already"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn upgrade(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<PaymentRequest>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let payment = payment(&r, true)?;
    let o = s.writer.submit(Command::Upgrade { member, payment }).await?;
    reply(&s, o, StatusCode::CREATED).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[schema(schema_with = loyalty_core::schema::reason)]
    pub reason: String,
}

/// Turns auto-renew off: the benefits run to the end of the paid time, then the membership
/// lapses (no grace). Cancelling again changes nothing.
#[utoipa::path(post, path = "/v1/members/{id}/membership/cancel", tag = "memberships", request_body = CancelRequest, params(("id" = MemberId, Path)),
    responses((status = 200, body = MembershipView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn cancel(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<CancelRequest>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let reason = Reason::parse(&r.reason).map_err(|e| DomainError::unprocessable("reason", e.0))?;
    let o = s.writer.submit(Command::CancelMembership { member, reason: reason.into() }).await?;
    reply(&s, o, StatusCode::OK).await
}

/// Turns auto-renew back on while the paid time runs.
#[utoipa::path(post, path = "/v1/members/{id}/membership/resume", tag = "memberships", params(("id" = MemberId, Path)),
    responses((status = 200, body = MembershipView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resume(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let o = s.writer.submit(Command::ResumeMembership { member }).await?;
    reply(&s, o, StatusCode::OK).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipRefundRequest {
    /// The refund's id: the same id again is the same refund.
    #[schema(schema_with = loyalty_core::schema::id_field)]
    pub id: String,
    /// The amount to refund, when operations decide it; absent: the plan's policy decides.
    /// Never more than the fees left to refund.
    #[serde(default)]
    #[schema(schema_with = loyalty_core::schema::amount_opt)]
    pub amount_minor: Option<i64>,
    #[schema(schema_with = loyalty_core::schema::reason)]
    pub reason: String,
}

/// Refunds the running membership and ends it now: the amount is the plan's policy's
/// (`none`, `pro_rata` of the unused whole days, or `pro_rata_minus_savings`), computed and
/// recorded by the engine with its figures, or `amount_minor` when given (422 above the fees
/// left).
#[utoipa::path(post, path = "/v1/members/{id}/membership/refund", tag = "memberships", request_body = MembershipRefundRequest, params(("id" = MemberId, Path)),
    responses((status = 201, body = MembershipView), (status = 200, body = MembershipView, description = "This refund was made already"),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn refund(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<MembershipRefundRequest>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let id = RefundId::parse(&r.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
    if let Some(a) = r.amount_minor {
        loyalty_core::order::check_amount("amount_minor", a)?;
    }
    let reason = Reason::parse(&r.reason).map_err(|e| DomainError::unprocessable("reason", e.0))?;
    let request = RefundRequest { id: id.as_str().to_owned(), amount_minor: r.amount_minor, reason: reason.into() };
    let o = s.writer.submit(Command::RefundMembership { member, request }).await?;
    reply(&s, o, StatusCode::CREATED).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    #[schema(schema_with = loyalty_core::schema::text)]
    pub plan: String,
}

/// Invites the member to an invitation-only plan (operations). Inviting again changes nothing.
#[utoipa::path(post, path = "/v1/members/{id}/plan-invitations", tag = "memberships", request_body = InviteRequest, params(("id" = MemberId, Path)),
    responses((status = 200, body = MembershipView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn invite(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<InviteRequest>,
) -> ApiResult<(StatusCode, axum::Json<MembershipView>)> {
    let member = member(&id)?;
    let o = s.writer.submit(Command::InviteToPlan { member, plan: r.plan }).await?;
    reply(&s, o, StatusCode::OK).await
}
