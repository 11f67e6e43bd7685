//! How paid membership looks through the API: terms, the membership with its savings, the
//! history.

use super::problem::ApiResult;
use super::views::rfc3339;
use super::AppState;
use loyalty_core::config_file::Named;
use loyalty_core::membership::{rules, Event, Membership, RefundFigures, Term};
use serde::Serialize;
use utoipa::ToSchema;

/// One term as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct TermView {
    pub id: String,
    pub plan: String,
    pub trial: bool,
    pub paid_minor: i64,
    pub payment_ref: String,
    pub paid_at: String,
    pub starts_at: String,
    pub ends_at: String,
    /// When a refund or an upgrade cut it short.
    pub ended_at: Option<String>,
    /// Credit an upgrade carried in, refunded, and carried out into an upgrade.
    pub credit_minor: i64,
    pub refunded_minor: i64,
    pub credited_minor: i64,
    pub packs_issued: i64,
}

pub(crate) fn term_view(t: &Term, tz: &jiff::tz::TimeZone) -> TermView {
    TermView {
        id: t.term_id.clone(),
        plan: t.plan.clone(),
        trial: t.trial,
        paid_minor: t.paid_minor,
        payment_ref: t.payment_ref.clone(),
        paid_at: rfc3339(t.paid_at, tz),
        starts_at: rfc3339(t.starts_at, tz),
        ends_at: rfc3339(t.ends_at, tz),
        ended_at: t.ended_at.map(|e| rfc3339(e, tz)),
        credit_minor: t.credit_minor,
        refunded_minor: t.refunded_minor,
        credited_minor: t.credited_minor,
        packs_issued: t.packs_issued,
    }
}

/// Whether the current (or last) term paid for itself: "本年已省 ¥X，已回本".
#[derive(Serialize, ToSchema)]
pub struct SavingsView {
    pub term_id: String,
    /// The term's fee: paid plus any credit an upgrade carried in.
    pub fee_minor: i64,
    /// Σ of the plan's recorded benefit uses in the term so far (discounts, shipping waived,
    /// pack coupons used, the money value of extra points).
    pub saved_minor: i64,
    /// saved − fee.
    pub net_minor: i64,
    /// saved ≥ fee.
    pub recovered: bool,
}

/// A member's membership now.
#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    pub member_id: String,
    pub plan: String,
    pub plan_name: String,
    /// `trial`, `active`, `cancelled` (auto-renew off, benefits to the term's end),
    /// `in_grace` (the renewal is due; benefits continue) or `lapsed`.
    pub status: String,
    pub renews: bool,
    pub trial_used: bool,
    /// The end of the paid (or trial) time, and of the benefits (with grace when it renews).
    pub term_ends_at: Option<String>,
    pub benefits_until: Option<String>,
    pub current_term: Option<TermView>,
    pub savings: Option<SavingsView>,
    /// What a refund now would give under the plan's policy.
    pub refund_quote: Option<RefundFigures>,
    /// What an upgrade now would credit.
    pub upgrade_credit_minor: i64,
    /// Plans operations invited the member to.
    pub invitations: Vec<String>,
    pub terms: Vec<TermView>,
    /// The term a payment just recorded, or the refund just made (write responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_term: Option<TermView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<RefundFigures>,
}

pub(crate) async fn view(s: &AppState, m: &Membership) -> ApiResult<MembershipView> {
    let now = s.clock.now();
    let grace = s.program.file.memberships.grace_days;
    let tz = &s.program.tz;
    let status = m.status_at(now, grace).map_or("lapsed", |st| st.name());
    let shown = m.term_at(now).or_else(|| m.last_term());
    let savings = match shown {
        Some(t) => {
            // Uses up to and including now (an order paid this instant counts).
            let upto = now.checked_add(jiff::SignedDuration::from_micros(1)).unwrap_or(now);
            let saved = s.store.plan_savings(&m.member_id, t.starts_at, t.end().min(upto).max(t.starts_at)).await?;
            Some(SavingsView {
                term_id: t.term_id.clone(),
                fee_minor: t.fee_minor(),
                saved_minor: saved,
                net_minor: saved - t.fee_minor(),
                recovered: saved >= t.fee_minor(),
            })
        }
        None => None,
    };
    let running_saved = savings.as_ref().filter(|_| m.term_at(now).is_some()).map_or(0, |v| v.saved_minor);
    Ok(MembershipView {
        member_id: m.member_id.to_string(),
        plan: m.plan.clone(),
        plan_name: s.program.file.plans.iter().find(|p| p.code == m.plan).map_or_else(String::new, |p| p.name.clone()),
        status: status.to_owned(),
        renews: m.renews,
        trial_used: m.trial_used,
        term_ends_at: m.last_term().map(|t| rfc3339(t.end(), tz)),
        benefits_until: m.benefits_until(grace).map(|t| rfc3339(t, tz)),
        current_term: m.term_at(now).map(|t| term_view(t, &s.program.tz)),
        savings,
        refund_quote: rules::refund_quote(m, &s.program, running_saved, now),
        upgrade_credit_minor: rules::upgrade_credit(m, now),
        invitations: m.invitations.clone(),
        terms: m.terms.iter().map(|t| term_view(t, &s.program.tz)).collect(),
        recorded_term: None,
        refund: None,
    })
}

/// One change of a membership, with its cause.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub at: String,
    /// `trial_started`, `started`, `converted`, `renewed`, `upgraded`, `cancelled`, `resumed`,
    /// `refunded`, `invited`, `renewal_due`, `in_grace`, `lapsed`, `pack_issued`.
    pub kind: String,
    pub plan: String,
    pub term_id: Option<String>,
    pub amount_minor: i64,
    pub detail: String,
}

pub(crate) fn event_view(e: &Event, tz: &jiff::tz::TimeZone) -> EventView {
    EventView {
        seq: e.seq,
        at: rfc3339(e.at, tz),
        kind: e.kind.name().to_owned(),
        plan: e.plan.clone(),
        term_id: e.term_id.clone(),
        amount_minor: e.amount_minor,
        detail: e.detail.clone(),
    }
}
