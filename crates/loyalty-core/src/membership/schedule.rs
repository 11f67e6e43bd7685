//! What time brings to a membership, recorded by the scheduler: the renewal notice, the grace,
//! the lapse, and each month's coupon pack of a paid term.

use super::state::{EventKind, Membership, Term};
use crate::program::Program;
use jiff::Timestamp;

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
