//! A member's personal data (PIPL, GDPR): a copy of everything held about the member, and
//! erasure. Both are admin operations, and both are recorded in the audit log with the key's
//! name as actor.

use super::auth::Principal;
use super::extract::{path_id, Json};
use super::insight_views::MemberInsightView;
use super::members::unexpected;
use super::problem::{ApiError, ApiResult, Problem};
use super::tiers::{action_view, event_view, ActionView, TierEventView};
use super::views::*;
use super::AppState;
use axum::extract::{Path, State};
use axum::Extension;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_core::member::PERSONAL_FIELDS;
use loyalty_core::tiers::ActionKind;
use loyalty_core::Program;
use loyalty_engine::{Command, Outcome};
use loyalty_store::{AuditRecord, MemberData, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct TierStateView {
    /// The tier code; empty until the member's first order or assignment.
    pub code: String,
    pub since: Option<String>,
    pub term_end: Option<String>,
    pub grace_until: Option<String>,
    pub assigned_reason: Option<String>,
    pub assigned_until: Option<String>,
    pub growth_total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct HoldRecord {
    pub id: String,
    pub order_id: String,
    #[schema(value_type = i64)]
    pub points: loyalty_core::Points,
    #[schema(value_type = i64)]
    pub order_amount_minor: loyalty_core::Money,
    /// open, captured, released, expired
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub settled_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AdjustmentRecord {
    pub id: String,
    #[schema(value_type = i64)]
    pub points: loyalty_core::Points,
    pub reason: String,
    pub actor: String,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct GrowthView {
    pub seq: i64,
    /// order, refund, activity
    pub kind: String,
    pub amount: i64,
    pub source_id: String,
    pub at: String,
    /// Lifetime growth after this entry.
    pub total_after: i64,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    /// export or erase
    pub action: String,
    /// The name of the key that did it.
    pub actor: String,
    pub reason: Option<String>,
    pub at: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Everything held about one member, as one document.
#[derive(Serialize, ToSchema)]
pub struct MemberExport {
    pub member_id: String,
    pub exported_at: String,
    /// The profile and balances now (name, phone, email and birthday are null once erased).
    pub profile: MemberView,
    pub tier: TierStateView,
    /// Every lot, oldest first.
    pub lots: Vec<LotView>,
    /// Every ledger entry, oldest first.
    pub ledger: Vec<EntryView>,
    pub holds: Vec<HoldRecord>,
    /// Every order with its refunds, by paid time.
    pub orders: Vec<OrderView>,
    pub adjustments: Vec<AdjustmentRecord>,
    pub growth: Vec<GrowthView>,
    pub tier_history: Vec<TierEventView>,
    pub activities: Vec<ActionView>,
    pub sample_claims: Vec<ActionView>,
    /// From the latest insight run; null before one or for a member who joined after it.
    pub insight: Option<MemberInsightView>,
    /// Earlier exports and the erasure, oldest first.
    pub audit: Vec<AuditView>,
    /// The member's coupons (at most `loyalty_store::coupons::MAX_MEMBER_COUPONS`), soonest
    /// expiry first.
    pub coupons: Vec<CouponRecord>,
    /// The member's redemptions in the points mall (with their shipping addresses) and lottery
    /// draws, newest first (at most `loyalty_store::rewards::MAX_MEMBER_ROWS` each).
    pub redemptions: Vec<RedemptionRecord>,
    pub draws: Vec<DrawRecord>,
    /// Paid membership: every term (payments, trials, refunds) and the whole history.
    pub membership_terms: Vec<crate::memberships::TermView>,
    pub membership_history: Vec<crate::memberships::EventView>,
    /// Every check-in day, oldest first.
    pub checkins: Vec<crate::checkins::CheckinDayView>,
    /// Completed task periods and what each paid, latest first (at most
    /// `loyalty_store::tasks::MAX_COMPLETIONS_READ`); progress itself is in `GET …/tasks`.
    pub task_completions: Vec<crate::tasks::CompletionView>,
    /// Every birthday gift and member-day pack, newest period first.
    pub gifts: Vec<crate::gifts::GiftView>,
    /// Referral: the member's code, its invitees (at most 500, newest first) and the
    /// referrals that name it as invitee. Contacts are kept only as hashes and are not shown.
    pub referral_code: Option<String>,
    pub referrals: Vec<crate::referrals::ReferralView>,
    pub invited_by: Vec<crate::referrals::ReferralView>,
}

#[derive(Serialize, ToSchema)]
pub struct RedemptionRecord {
    pub id: String,
    pub reward: String,
    pub quantity: i64,
    pub points: i64,
    pub status: String,
    pub address: Option<loyalty_core::rewards::Address>,
    pub tracking: Option<String>,
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DrawRecord {
    pub id: String,
    pub lottery: String,
    pub prize: String,
    pub points_spent: i64,
    pub at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CouponRecord {
    pub id: String,
    pub template: String,
    /// `available`, `used` or `expired` at the export.
    pub status: String,
    pub source: String,
    pub issued_at: String,
    pub valid_until: String,
    pub order_id: Option<String>,
}

fn when(t: Option<Timestamp>, tz: &TimeZone) -> Option<String> {
    t.map(|t| rfc3339(t, tz))
}

impl MemberExport {
    fn new(d: &MemberData, insight: Option<MemberInsightView>, program: &Program, now: Timestamp) -> Self {
        let tz = &program.tz;
        let acc = &d.record.account;
        let t = acc.tier();
        let actions =
            |kind: ActionKind| d.actions.iter().filter(|a| a.kind == kind).map(|a| action_view(a, tz)).collect();
        let orders = d
            .orders
            .iter()
            .map(|o| {
                let refunds: Vec<_> = d.refunds.iter().filter(|r| r.order_id == o.order.id).cloned().collect();
                OrderView::new(o, &refunds, program)
            })
            .collect();
        Self {
            member_id: acc.member_id().to_string(),
            exported_at: rfc3339(now, tz),
            profile: MemberView::new(&d.record, now, tz),
            tier: TierStateView {
                code: t.code.clone(),
                since: when(t.since, tz),
                term_end: when(t.term_end, tz),
                grace_until: when(t.grace_until, tz),
                assigned_reason: t.assigned_reason.clone(),
                assigned_until: when(t.assigned_until, tz),
                growth_total: acc.growth_total(),
            },
            lots: d.lots.iter().map(|l| LotView::new(l, tz)).collect(),
            ledger: d.entries.iter().map(|e| EntryView::new(e, tz)).collect(),
            holds: d
                .holds
                .iter()
                .map(|h| HoldRecord {
                    id: h.hold_id.to_string(),
                    order_id: h.order_id.clone(),
                    points: h.points,
                    order_amount_minor: h.order_amount_minor,
                    status: h.status.to_string(),
                    created_at: rfc3339(h.created_at, tz),
                    expires_at: rfc3339(h.expires_at, tz),
                    settled_at: when(h.settled_at, tz),
                })
                .collect(),
            orders,
            adjustments: d
                .adjustments
                .iter()
                .map(|a| AdjustmentRecord {
                    id: a.adjustment_id.to_string(),
                    points: a.points,
                    reason: a.reason.clone(),
                    actor: a.actor.clone(),
                    created_at: rfc3339(a.created_at, tz),
                })
                .collect(),
            growth: d
                .growth
                .iter()
                .map(|g| GrowthView {
                    seq: g.seq,
                    kind: g.kind.as_str().into(),
                    amount: g.amount,
                    source_id: g.source_id.clone(),
                    at: rfc3339(g.at, tz),
                    total_after: g.total_after,
                })
                .collect(),
            tier_history: d.tier_events.iter().map(|e| event_view(e, tz)).collect(),
            activities: actions(ActionKind::Activity),
            sample_claims: actions(ActionKind::Claim),
            insight,
            audit: d
                .audit
                .iter()
                .map(|a| AuditView {
                    action: a.action.clone(),
                    actor: a.actor.clone(),
                    reason: a.reason.clone(),
                    at: rfc3339(a.at, tz),
                    detail: serde_json::from_str(&a.detail).unwrap_or(serde_json::Value::Null),
                })
                .collect(),
            coupons: Vec::new(),
            redemptions: Vec::new(),
            draws: Vec::new(),
            membership_terms: Vec::new(),
            membership_history: Vec::new(),
            checkins: Vec::new(),
            task_completions: Vec::new(),
            gifts: Vec::new(),
            referral_code: None,
            referrals: Vec::new(),
            invited_by: Vec::new(),
        }
    }

    /// The audit record of handing this export to `actor`.
    pub fn audit_record(&self, id: &MemberId, actor: &str, now: Timestamp) -> AuditRecord {
        let rows = serde_json::json!({
            "lots": self.lots.len(), "ledger": self.ledger.len(), "holds": self.holds.len(),
            "orders": self.orders.len(), "adjustments": self.adjustments.len(), "growth": self.growth.len(),
            "tier_history": self.tier_history.len(), "activities": self.activities.len(),
            "sample_claims": self.sample_claims.len(), "insight": self.insight.is_some(),
        });
        AuditRecord {
            member_id: id.clone(),
            audit_id: format!("export:{}:{:016x}", now.as_microsecond(), rand::random::<u64>()),
            action: "export".into(),
            actor: actor.to_owned(),
            reason: None,
            detail: serde_json::json!({ "rows": rows }).to_string(),
            at: now,
        }
    }
}

/// The export of one member (`None`: no such member), from one snapshot of the store and the
/// latest insight run. The caller records it ([`MemberExport::audit_record`]) before handing
/// it out. Shared by the API and `loyalty members export`.
pub async fn export(
    store: &dyn Store,
    program: &Program,
    id: &MemberId,
    now: Timestamp,
) -> ApiResult<Option<MemberExport>> {
    let Some(data) = store.member_data(id).await? else { return Ok(None) };
    if data.exceeds_bound() {
        return Err(ApiError::invalid(
            "id",
            format!("member {id} has more than {} rows in one table; export it in parts", MemberData::MAX_ROWS),
        )
        .with_code("export_too_large"));
    }
    let insight = match store.latest_insight_run().await? {
        Some(run) => {
            let config: loyalty_report::config::InsightConfig = serde_json::from_str(&run.config).unwrap_or_default();
            let found = store.member_insight(&run, id.as_str()).await?;
            found.map(|m| MemberInsightView::new(&m, config.horizon_days))
        }
        None => None,
    };
    let mut doc = MemberExport::new(&data, insight, program, now);
    let coupons = store.member_coupons(id, None, now, loyalty_store::coupons::MAX_MEMBER_COUPONS).await?;
    doc.coupons = coupons
        .iter()
        .map(|c| CouponRecord {
            id: c.coupon_id.to_string(),
            template: c.template_id.to_string(),
            status: c.status_at(now).as_str().to_owned(),
            source: c.source.as_str().to_owned(),
            issued_at: rfc3339(c.issued_at, &program.tz),
            valid_until: rfc3339(c.valid_until, &program.tz),
            order_id: c.order_id.as_ref().map(|o| o.to_string()),
        })
        .collect();
    let max = loyalty_store::rewards::MAX_MEMBER_ROWS;
    doc.redemptions = store
        .member_redemptions(id, max)
        .await?
        .iter()
        .map(|r| RedemptionRecord {
            id: r.redemption_id.to_string(),
            reward: r.reward_id.to_string(),
            quantity: r.quantity,
            points: r.points,
            status: r.status.as_str().to_owned(),
            address: r.address.clone(),
            tracking: r.tracking.clone(),
            created_at: rfc3339(r.created_at, &program.tz),
        })
        .collect();
    doc.draws = store
        .member_draws(id, None, max)
        .await?
        .iter()
        .map(|d| DrawRecord {
            id: d.draw_id.to_string(),
            lottery: d.lottery_id.to_string(),
            prize: d.prize.clone(),
            points_spent: d.points_spent,
            at: rfc3339(d.at, &program.tz),
        })
        .collect();
    if let Some(m) = store.membership(id).await? {
        doc.membership_terms = m.terms.iter().map(|t| crate::memberships::term_view(t, &program.tz)).collect();
        // Oldest first, page by page (the history is bounded by the terms and their months).
        let mut before = None;
        loop {
            let page = store.membership_events(id, before, loyalty_store::memberships::MAX_EVENTS_PAGE).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            doc.membership_history.extend(page.iter().map(|e| crate::memberships::event_view(e, &program.tz)));
        }
        doc.membership_history.reverse();
    }
    // Page by page, each read bounded (`MAX_DAYS_READ`), from the first day an instant may fall on.
    let (mut from, end) = (jiff::civil::date(1970, 1, 1), jiff::civil::date(2200, 1, 1));
    loop {
        let days = store.checkin_days(id, from, end).await?;
        let Some(last) = days.last() else { break };
        from = last.day.tomorrow().map_err(|e| ApiError::internal(e.to_string()))?;
        doc.checkins.extend(days.iter().map(|d| crate::checkins::day_view(d, &program.tz)));
    }
    doc.task_completions =
        store.task_completions(id).await?.into_iter().map(|c| crate::tasks::completion_view(c, &program.tz)).collect();
    let mut before: Option<(loyalty_core::engagement::gifts::GiftKind, String)> = None;
    loop {
        let cursor = before.as_ref().map(|(k, p)| (k.as_str(), p.as_str()));
        let page = store.member_gifts(id, cursor, loyalty_store::gifts::MAX_GIFTS_READ).await?;
        let Some(last) = page.last() else { break };
        before = Some((last.kind, last.period.clone()));
        doc.gifts.extend(page.iter().map(|g| crate::gifts::gift_view(g, &program.tz)));
    }
    doc.referral_code = store.referral_code(id).await?;
    let (mine, theirs) = store.member_referrals(id).await?;
    doc.referrals = mine.iter().map(|r| crate::referrals::view(r, &program.tz)).collect();
    doc.invited_by = theirs.iter().map(|r| crate::referrals::view(r, &program.tz)).collect();
    Ok(Some(doc))
}

/// A copy of everything held about the member (PIPL, GDPR): profile, balances, lots, ledger,
/// holds, orders and refunds, adjustments, tier state and history, growth, activities and
/// claims, insight, coupons, redemptions (with addresses) and draws, and the audit log. Each export is recorded in the audit log (with the
/// key's name) before it is returned.
#[utoipa::path(get, path = "/v1/members/{id}/export", tag = "members", params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 200, body = MemberExport), (status = 404, body = Problem),
        (status = 422, body = Problem, description = "export_too_large")))]
pub async fn export_member(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<MemberExport>> {
    let id = path_id("member_id", &id, MemberId::parse)?;
    let now = s.clock.now();
    let doc = export(s.store.as_ref(), &s.program, &id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("member_not_found", format!("member {id} not found")))?;
    match s.writer.submit(Command::Audit(doc.audit_record(&id, &who.name, now))).await? {
        Outcome::Audited => Ok(axum::Json(doc)),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why (e.g. the member's request and its reference): 1 to 500 characters, kept in the audit log.
    #[schema(schema_with = loyalty_core::schema::erase_reason)]
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErasedView {
    pub member_id: String,
    /// closed
    pub status: String,
    pub erased_at: String,
    /// The fields removed: name, phone, email, birthday.
    pub removed: Vec<String>,
    /// True when the member had been erased before: nothing changed.
    pub already_erased: bool,
}

/// Erases the member's personal data (PIPL, GDPR): name, phone, email and birthday are removed
/// and the member is closed; its ledger, orders and aggregates stay for accounting. Recorded
/// in the audit log with the key's name and the reason, in the same transaction. Afterwards
/// the member's writes are refused (409 `member_erased`). Erasing again changes nothing.
#[utoipa::path(post, path = "/v1/members/{id}/erase", tag = "members", request_body = EraseRequest,
    params(("id" = loyalty_core::ids::MemberId, Path)),
    responses((status = 200, body = ErasedView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn erase_member(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(r): Json<EraseRequest>,
) -> ApiResult<axum::Json<ErasedView>> {
    let member = path_id("member_id", &id, MemberId::parse)?;
    match s.writer.submit(Command::Erase { member, reason: r.reason, actor: who.name }).await? {
        Outcome::Erased { record, replayed } => Ok(axum::Json(ErasedView {
            member_id: record.account.member_id().to_string(),
            status: record.account.status().to_string(),
            erased_at: when(record.profile.erased_at, &s.program.tz).unwrap_or_default(),
            removed: PERSONAL_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
            already_erased: replayed,
        })),
        other => Err(unexpected(other)),
    }
}
