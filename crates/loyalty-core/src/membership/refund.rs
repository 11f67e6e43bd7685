//! What a refund gives back under a plan's policy, and what an upgrade credits: the unused
//! whole days' share of the fees left.

use super::plan::PlanRefund;
use super::state::{EventKind, Membership, Term};
use crate::config_file::Named;
use crate::error::DomainError;
use crate::program::Program;
use jiff::Timestamp;

/// A refund operations asked for: by the plan's policy, or `amount_minor` when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub id: String,
    pub amount_minor: Option<i64>,
    pub reason: String,
}

/// What a refund gives back and how the engine computed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundFigures {
    pub refund_id: String,
    pub policy: String,
    pub amount_minor: i64,
    /// What the policy gives: the unused days' share of the fees left, less savings under
    /// `pro_rata_minus_savings`.
    pub computed_minor: i64,
    pub fee_left_minor: i64,
    pub unused_days: i64,
    pub term_days: i64,
    pub savings_minor: i64,
}

/// Whole days of a term, and those left unused at `now` (a day begun counts as used).
pub fn days_of(t: &Term, now: Timestamp) -> (i64, i64) {
    let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0);
    let term_days = ((secs(t.starts_at, t.ends_at) + 43_200) / 86_400).max(1);
    let unused = (secs(now.max(t.starts_at), t.end()) / 86_400).min(term_days);
    (term_days, unused)
}

/// ⌊fee × unused ÷ term days⌋, never more than the fee left.
pub(super) fn pro_rata(t: &Term, now: Timestamp) -> i64 {
    let (term_days, unused) = days_of(t, now);
    let share = i128::from(t.fee_minor()) * i128::from(unused) / i128::from(term_days);
    i64::try_from(share).expect("bounded by the fee").min(t.fee_left_minor())
}

/// The terms a refund or an upgrade at `now` ends: the running one and any paid ahead.
pub(super) fn open_terms(m: &Membership, now: Timestamp) -> Vec<usize> {
    (0..m.terms.len()).filter(|&i| m.terms[i].end() > now && m.terms[i].end() > m.terms[i].starts_at).collect()
}

/// What a refund at `now` would give under the plan's policy, with `savings_minor` the member
/// saved in the running term so far. `None` when no term runs.
pub fn refund_quote(m: &Membership, program: &Program, savings_minor: i64, now: Timestamp) -> Option<RefundFigures> {
    let current = m.term_at(now)?;
    let plan = program.file.plans.iter().find(|p| p.code == current.plan);
    let policy = plan.map_or(PlanRefund::None, |p| p.refund);
    let open = open_terms(m, now);
    let fee_left: i64 = open.iter().map(|&i| m.terms[i].fee_left_minor()).sum();
    let unused: i64 = open.iter().map(|&i| pro_rata(&m.terms[i], now)).sum();
    let computed = match policy {
        PlanRefund::None => 0,
        PlanRefund::ProRata => unused,
        PlanRefund::ProRataMinusSavings => (unused - savings_minor).max(0),
    };
    let (term_days, unused_days) = days_of(current, now);
    Some(RefundFigures {
        refund_id: String::new(),
        policy: policy.name().to_owned(),
        amount_minor: computed,
        computed_minor: computed,
        fee_left_minor: fee_left,
        unused_days,
        term_days,
        savings_minor,
    })
}

/// Refunds the running membership at `now` and ends it: the running term and any paid ahead
/// are cut at `now`, the amount (the policy's, or `amount_minor`, never over the fees left)
/// is recorded on them in term order, and auto-renew is off. Sent again with the same id it
/// is the recorded refund.
pub fn refund(
    m: &mut Membership,
    program: &Program,
    r: &RefundRequest,
    savings_minor: i64,
    now: Timestamp,
) -> Result<(RefundFigures, bool), DomainError> {
    let done: Vec<&Term> = m.terms.iter().filter(|t| t.refund_id.as_deref() == Some(&r.id)).collect();
    if !done.is_empty() {
        let amount = done.iter().map(|t| t.refunded_minor).sum();
        let figures = RefundFigures {
            refund_id: r.id.clone(),
            policy: String::new(),
            amount_minor: amount,
            computed_minor: amount,
            fee_left_minor: 0,
            unused_days: 0,
            term_days: 0,
            savings_minor: 0,
        };
        if r.amount_minor.is_some_and(|a| a != amount) {
            return Err(DomainError::Conflict {
                what: "membership refund".into(),
                id: r.id.clone(),
                differences: vec!["amount_minor".into()],
            });
        }
        return Ok((figures, true));
    }
    let Some(mut figures) = refund_quote(m, program, savings_minor, now) else {
        return Err(super::rules::refuse("membership_not_running", "no term runs now: there is nothing to refund"));
    };
    if let Some(a) = r.amount_minor {
        if !(0..=figures.fee_left_minor).contains(&a) {
            return Err(DomainError::unprocessable(
                "amount_minor",
                format!("{a} must be between 0 and the fees left to refund, {}", figures.fee_left_minor),
            ));
        }
        figures.amount_minor = a;
    }
    figures.refund_id = r.id.clone();
    let mut left = figures.amount_minor;
    for i in open_terms(m, now) {
        let t = &mut m.terms[i];
        let give = left.min(t.fee_left_minor());
        t.refunded_minor += give;
        left -= give;
        t.refund_id = Some(r.id.clone());
        t.ended_at = Some(now.max(t.starts_at));
        t.dirty = true;
    }
    assert_eq!(left, 0, "the amount is at most the fees left");
    m.renews = false;
    m.lapse_noted_for = m.last_term().map(|t| t.end());
    let detail = format!(
        "{}: {} policy, {} of {} days unused, saved {}, computed {}; {}",
        r.id, figures.policy, figures.unused_days, figures.term_days, savings_minor, figures.computed_minor, r.reason
    );
    m.record(now, EventKind::Refunded, None, figures.amount_minor, detail);
    m.updated_at = now;
    m.assert_invariants();
    Ok((figures, false))
}

/// The credit an upgrade at `now` carries into the new plan: the unused days' share of the
/// running term and every term paid ahead, in full.
pub fn upgrade_credit(m: &Membership, now: Timestamp) -> i64 {
    open_terms(m, now).iter().map(|&i| pro_rata(&m.terms[i], now)).sum()
}
