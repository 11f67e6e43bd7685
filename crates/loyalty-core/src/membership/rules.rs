//! What a membership may do: buy, renew, convert a trial, cancel, resume, refund, upgrade,
//! and what the scheduler records as time passes. Pure: every rule takes `now`.

use super::plan::Plan;
use super::refund::{open_terms, pro_rata};
use super::state::{EventKind, Membership, Status, Term};
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

pub(super) fn refuse(code: &'static str, reason: impl Into<String>) -> DomainError {
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
    // Paid time lies after `at` though no term covers it: the payment would go before time
    // already paid for, which no renewal does.
    if m.term_at(at).is_none() {
        if let Some(later) = m.terms.iter().filter(|t| t.end() > t.starts_at).find(|t| t.starts_at > at) {
            return Err(refuse(
                "period_paid",
                format!("started_at {at} is before term {}, paid already from {}", later.term_id, later.starts_at),
            ));
        }
    }
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

pub use super::refund::{days_of, refund, refund_quote, upgrade_credit, RefundFigures, RefundRequest};
pub use super::schedule::{advance, due_packs, next_due, pack_issued, DuePack};
