//! What a membership may do: buy, renew, convert a trial, cancel, resume, refund, upgrade,
//! and what the scheduler records as time passes. Pure: every rule takes `now`.

use super::plan::{Plan, PlanRefund};
use super::state::{EventKind, Membership, Status, Term};
use crate::config_file::Named;
use crate::error::DomainError;
use crate::program::Program;
use crate::tiers::level_index;
use jiff::Timestamp;

/// A payment the store took for a term (`POST /v1/members/{id}/memberships`) or for an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    /// The store's id of the payment; the request's idempotency key.
    pub id: String,
    pub plan: String,
    pub paid_minor: i64,
    pub payment_ref: String,
    pub started_at: Timestamp,
    pub trial: bool,
}

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

fn refuse(code: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::Membership { code, reason: reason.into() }
}

/// The plan named `code`, or a 422 naming `field`.
pub fn plan<'a>(program: &'a Program, field: &str, code: &str) -> Result<&'a Plan, DomainError> {
    program.file.plans.iter().find(|p| p.code == code).ok_or_else(|| {
        let codes: Vec<&str> = program.file.plans.iter().map(|p| p.code.as_str()).collect();
        let expected = if codes.is_empty() {
            "the programme has no plans".to_owned()
        } else {
            format!("expected one of {}", codes.join(", "))
        };
        DomainError::unprocessable(field, format!("unknown plan {code:?}; {expected}"))
    })
}

fn grace(program: &Program) -> i64 {
    program.file.memberships.grace_days
}

fn running(s: Option<Status>) -> bool {
    s.is_some_and(Status::has_benefits)
}

/// Checks a payment's own fields against its plan, before any state is looked at.
fn check_payment<'a>(program: &'a Program, p: &Payment, now: Timestamp) -> Result<&'a Plan, DomainError> {
    let plan = plan(program, "plan", &p.plan)?;
    if p.started_at > now {
        return Err(DomainError::unprocessable("started_at", format!("{} is in the future", p.started_at)));
    }
    let price = if p.trial {
        let Some(t) = &plan.trial else {
            return Err(DomainError::unprocessable("trial", format!("plan {} has no trial", plan.code)));
        };
        t.price_minor
    } else {
        plan.price_minor
    };
    if !(0..=price).contains(&p.paid_minor) {
        let what = if p.trial { "trial price" } else { "price" };
        return Err(DomainError::unprocessable(
            "paid_minor",
            format!("{} must be between 0 and the plan's {what} {price}", p.paid_minor),
        ));
    }
    Ok(plan)
}

/// The fields of a payment sent again that differ from the recorded term.
fn differences(t: &Term, p: &Payment) -> Vec<String> {
    let mut d = Vec::new();
    for (name, same) in [
        ("plan", t.plan == p.plan),
        ("paid_minor", t.paid_minor == p.paid_minor),
        ("payment_ref", t.payment_ref == p.payment_ref),
        ("started_at", t.paid_at == p.started_at),
        ("trial", t.trial == p.trial),
    ] {
        if !same {
            d.push(name.to_owned());
        }
    }
    d
}

/// A term recorded under this payment's id: the same payment again is that term (replayed),
/// another body is a 409 naming the fields.
fn replay(m: &Membership, p: &Payment) -> Result<Option<Term>, DomainError> {
    let Some(t) = m.terms.iter().find(|t| t.term_id == p.id) else { return Ok(None) };
    let differences = differences(t, p);
    if differences.is_empty() {
        return Ok(Some(t.clone()));
    }
    Err(DomainError::Conflict { what: "membership payment".into(), id: p.id.clone(), differences })
}

fn eligible(program: &Program, m: &Membership, plan: &Plan, tier: &str) -> Result<(), DomainError> {
    if let Some(min) = &plan.min_tier {
        let (have, need) = (level_index(program, tier), level_index(program, min));
        if have < need {
            return Err(refuse(
                "plan_not_eligible",
                format!("plan {} is for tier {min} and above; the member is {tier}", plan.code),
            ));
        }
    }
    if plan.invitation_only && !m.invitations.contains(&plan.code) {
        return Err(refuse(
            "plan_not_eligible",
            format!("plan {} is by invitation and the member was not invited", plan.code),
        ));
    }
    Ok(())
}

/// Who buys: the member's tier and value segment (of the latest insight run, when there is one).
pub type Buyer<'a> = (&'a str, Option<&'a str>);

fn new_term(
    program: &Program,
    plan: &Plan,
    p: &Payment,
    (start, credit): (Timestamp, i64),
    who: Buyer<'_>,
    now: Timestamp,
) -> Term {
    let ends_at = if p.trial {
        plan.trial_end(&program.tz, start).expect("checked: the plan has a trial")
    } else {
        plan.term_end(&program.tz, start)
    };
    Term {
        term_id: p.id.clone(),
        plan: plan.code.clone(),
        trial: p.trial,
        paid_minor: p.paid_minor,
        payment_ref: p.payment_ref.clone(),
        paid_at: p.started_at,
        starts_at: start,
        ends_at,
        credit_minor: credit,
        refunded_minor: 0,
        refund_id: None,
        credited_minor: 0,
        ended_at: None,
        packs_issued: 0,
        tier: who.0.to_owned(),
        segment: who.1.map(str::to_owned),
        created_at: now,
        dirty: true,
    }
}

/// Records a payment for a term: a new membership (or a trial), a renewal posted early (it
/// starts where the chain ends), a late one inside the grace (it continues the chain), or a
/// trial's conversion. Paying for a period already paid is a 409 `period_paid`; another plan
/// while one runs is an upgrade, not a purchase (409 `membership_running`).
pub fn subscribe(
    m: &mut Membership,
    program: &Program,
    p: &Payment,
    who: Buyer<'_>,
    now: Timestamp,
) -> Result<(Term, bool), DomainError> {
    if let Some(t) = replay(m, p)? {
        return Ok((t, true));
    }
    let plan = check_payment(program, p, now)?;
    let at = p.started_at;
    let status = m.status_at(at, grace(program));
    let (start, kind) = if running(status) {
        if m.plan != plan.code {
            return Err(refuse(
                "membership_running",
                format!("the member's plan {} runs at {at}: changing plans is an upgrade", m.plan),
            ));
        }
        if p.trial {
            return Err(refuse("trial_used", "a trial is for members without a running membership"));
        }
        let last = m.last_term().expect("a running membership has a term");
        if let Some(covering) = m.term_at(at).filter(|t| t.term_id != last.term_id) {
            return Err(refuse(
                "period_paid",
                format!(
                    "started_at {at} falls in term {} and the period after it is paid already (term {} to {})",
                    covering.term_id,
                    last.term_id,
                    last.end()
                ),
            ));
        }
        let kind = if last.trial { EventKind::Converted } else { EventKind::Renewed };
        (last.end(), kind)
    } else {
        if p.trial && m.trial_used {
            return Err(refuse("trial_used", format!("the member had the trial of plan {} already", m.plan)));
        }
        eligible(program, m, plan, who.0)?;
        // A new chain: the plan's renewal default, and nothing noted for it yet.
        m.plan = plan.code.clone();
        m.renews = plan.renews;
        (at, if p.trial { EventKind::TrialStarted } else { EventKind::Started })
    };
    let term = new_term(program, plan, p, (start, 0), who, now);
    if term.trial {
        m.trial_used = true;
    }
    let detail = format!("{} to {} ({})", term.starts_at, term.ends_at, p.payment_ref);
    m.terms.push(term.clone());
    m.terms.sort_by_key(|t| t.starts_at);
    m.record(now, kind, Some(&p.id), p.paid_minor, detail);
    m.updated_at = now;
    m.assert_invariants();
    Ok((term, false))
}

/// Turns auto-renew off: the benefits run to the term's end. Cancelling again changes nothing.
pub fn cancel(m: &mut Membership, program: &Program, reason: &str, now: Timestamp) -> Result<bool, DomainError> {
    if !running(m.status_at(now, grace(program))) {
        return Err(refuse("membership_not_running", "the membership is not running"));
    }
    if !m.renews {
        return Ok(false);
    }
    m.renews = false;
    let end = m.last_term().map(|t| t.end()).expect("running");
    m.record(now, EventKind::Cancelled, None, 0, format!("benefits until {end}: {reason}"));
    m.updated_at = now;
    Ok(true)
}

/// Turns auto-renew back on while the membership runs. Resuming again changes nothing.
pub fn resume(m: &mut Membership, program: &Program, now: Timestamp) -> Result<bool, DomainError> {
    let status = m.status_at(now, grace(program));
    if !matches!(status, Some(Status::Cancelled | Status::Trial | Status::Active)) {
        return Err(refuse("membership_not_running", "only a running term can renew again"));
    }
    if m.renews {
        return Ok(false);
    }
    m.renews = true;
    m.record(now, EventKind::Resumed, None, 0, "auto-renew on".into());
    m.updated_at = now;
    Ok(true)
}

/// Whole days of a term, and those left unused at `now` (a day begun counts as used).
pub fn days_of(t: &Term, now: Timestamp) -> (i64, i64) {
    let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0);
    let term_days = ((secs(t.starts_at, t.ends_at) + 43_200) / 86_400).max(1);
    let unused = (secs(now.max(t.starts_at), t.end()) / 86_400).min(term_days);
    (term_days, unused)
}

/// ⌊fee × unused ÷ term days⌋, never more than the fee left.
fn pro_rata(t: &Term, now: Timestamp) -> i64 {
    let (term_days, unused) = days_of(t, now);
    let share = i128::from(t.fee_minor()) * i128::from(unused) / i128::from(term_days);
    i64::try_from(share).expect("bounded by the fee").min(t.fee_left_minor())
}

/// The terms a refund or an upgrade at `now` ends: the running one and any paid ahead.
fn open_terms(m: &Membership, now: Timestamp) -> Vec<usize> {
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
        return Err(refuse("membership_not_running", "no term runs now: there is nothing to refund"));
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

/// Moves a running membership to another plan at `started_at` (not after `now`): the running
/// term and any paid ahead end there, their unused part is credited, and the new plan's
/// term starts. The store charges at most the new price less the credit.
pub fn upgrade(
    m: &mut Membership,
    program: &Program,
    p: &Payment,
    who: Buyer<'_>,
    now: Timestamp,
) -> Result<(Term, bool), DomainError> {
    if let Some(t) = replay(m, p)? {
        return Ok((t, true));
    }
    if p.trial {
        return Err(DomainError::unprocessable("trial", "an upgrade is paid, never a trial"));
    }
    let plan = check_payment(program, p, now)?;
    let at = p.started_at;
    let Some(current) = m.term_at(at) else {
        return Err(refuse("membership_not_running", format!("no term runs at {at}: buy the plan instead")));
    };
    if current.plan == plan.code {
        return Err(refuse(
            "membership_running",
            format!("the member is on plan {} already: renew it instead", plan.code),
        ));
    }
    eligible(program, m, plan, who.0)?;
    let credit = upgrade_credit(m, at);
    let owed = (plan.price_minor - credit).max(0);
    if p.paid_minor > owed {
        return Err(DomainError::unprocessable(
            "paid_minor",
            format!(
                "{} is more than the upgrade costs: {} less the credit {credit} is {owed}",
                p.paid_minor, plan.price_minor
            ),
        ));
    }
    let from = m.plan.clone();
    for i in open_terms(m, at) {
        let t = &mut m.terms[i];
        t.credited_minor += pro_rata(t, at);
        t.ended_at = Some(at.max(t.starts_at));
        t.dirty = true;
    }
    m.plan = plan.code.clone();
    m.renews = plan.renews;
    let term = new_term(program, plan, p, (at, credit), who, now);
    m.terms.push(term.clone());
    m.terms.sort_by_key(|t| t.starts_at);
    m.record(now, EventKind::Upgraded, Some(&p.id), p.paid_minor, format!("from {from} with a credit of {credit}"));
    m.updated_at = now;
    m.assert_invariants();
    Ok((term, false))
}

/// Records an invitation to an invitation-only plan. Inviting again changes nothing.
pub fn invite(m: &mut Membership, program: &Program, code: &str, now: Timestamp) -> Result<bool, DomainError> {
    plan(program, "plan", code)?;
    if m.invitations.iter().any(|c| c == code) {
        return Ok(false);
    }
    m.invitations.push(code.to_owned());
    let plan = std::mem::replace(&mut m.plan, code.to_owned());
    m.record(now, EventKind::Invited, None, 0, format!("invited to plan {code}"));
    m.plan = plan;
    m.updated_at = now;
    Ok(true)
}

/// A monthly coupon pack due: pack `month` (0 for the term's first month) of term `term_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePack {
    pub term_id: String,
    pub month: i64,
    pub at: Timestamp,
}

fn pack_at(program: &Program, t: &Term, k: i64) -> Timestamp {
    super::plan::months_after(&program.tz, t.starts_at, k)
}

/// The packs of paid terms due by `now`, not yet issued, in time order.
pub fn due_packs(m: &Membership, program: &Program, now: Timestamp) -> Vec<DuePack> {
    let mut out = Vec::new();
    for t in m.terms.iter().filter(|t| !t.trial) {
        let Some(plan) = program.file.plans.iter().find(|p| p.code == t.plan) else { continue };
        if plan.benefits.coupon_pack.is_empty() {
            continue;
        }
        for k in t.packs_issued..plan.term.months() {
            let at = pack_at(program, t, k);
            if at > now || at >= t.end() {
                break;
            }
            out.push(DuePack { term_id: t.term_id.clone(), month: k, at });
        }
    }
    out.sort_by_key(|p| p.at);
    out
}

/// Marks a pack issued, with what it gave (`detail`, the coupons or why one was not given).
pub fn pack_issued(m: &mut Membership, pack: &DuePack, coupons: i64, detail: String) {
    let t = m.terms.iter_mut().find(|t| t.term_id == pack.term_id).expect("a due pack is of a term");
    assert_eq!(t.packs_issued, pack.month, "packs are issued in order, once");
    t.packs_issued += 1;
    t.dirty = true;
    m.record(pack.at, EventKind::PackIssued, Some(&pack.term_id), coupons, detail);
}

/// Records what time brought by `now`: the renewal notice, the grace, the lapse (each once
/// per chain end, at the instant it fell due). Packs are the engine's (`due_packs`).
pub fn advance(m: &mut Membership, program: &Program, now: Timestamp) {
    let s = &program.file.memberships;
    let Some(last) = m.last_term() else { return };
    let (end, term_id) = (last.end(), last.term_id.clone());
    let refunded = last.refund_id.is_some();
    if m.renews && !refunded {
        let notice = crate::calendar::plus_secs(end, -s.renewal_notice_days * 86_400);
        if notice <= now && m.noticed_for != Some(end) {
            m.noticed_for = Some(end);
            m.record(
                notice,
                EventKind::RenewalDue,
                Some(&term_id),
                0,
                format!("the term ends at {end}: charge the renewal"),
            );
        }
        if s.grace_days > 0 && end <= now && m.grace_noted_for != Some(end) {
            m.grace_noted_for = Some(end);
            let until = crate::calendar::plus_secs(end, s.grace_days * 86_400);
            m.record(
                end,
                EventKind::InGrace,
                Some(&term_id),
                0,
                format!("renewal not posted: benefits continue until {until}"),
            );
        }
    }
    let until = m.benefits_until(s.grace_days).expect("a membership with a term has an end");
    if until <= now && m.lapse_noted_for != Some(end) {
        m.lapse_noted_for = Some(end);
        m.record(until, EventKind::Lapsed, Some(&term_id), 0, "no renewal: the benefits ended".into());
    }
}

/// When the membership next needs the scheduler: a notice, a grace, a lapse or a pack.
pub fn next_due(m: &Membership, program: &Program) -> Option<Timestamp> {
    let s = &program.file.memberships;
    let last = m.last_term()?;
    let end = last.end();
    let mut due: Vec<Timestamp> = Vec::new();
    if m.renews && last.refund_id.is_none() {
        if m.noticed_for != Some(end) {
            due.push(crate::calendar::plus_secs(end, -s.renewal_notice_days * 86_400));
        }
        if s.grace_days > 0 && m.grace_noted_for != Some(end) {
            due.push(end);
        }
    }
    if m.lapse_noted_for != Some(end) {
        due.extend(m.benefits_until(s.grace_days));
    }
    for t in m.terms.iter().filter(|t| !t.trial) {
        let Some(plan) = program.file.plans.iter().find(|p| p.code == t.plan) else { continue };
        if !plan.benefits.coupon_pack.is_empty() && t.packs_issued < plan.term.months() {
            let at = pack_at(program, t, t.packs_issued);
            if at < t.end() {
                due.push(at);
            }
        }
    }
    due.into_iter().min()
}
