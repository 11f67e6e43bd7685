//! What `loyalty verify` checks of each stored membership.

use super::state::{Cover, Membership};
use crate::Program;

/// What the store holds of one membership besides its rows: the member record's benefits
/// window, the history's count and largest sequence number, the scheduler's next visit.
pub struct Stored<'a> {
    pub cover: Option<&'a Cover>,
    pub events: i64,
    pub max_seq: i64,
    pub next_due_at: Option<jiff::Timestamp>,
}

/// Every way the stored membership breaks a rule, in words naming the member and the term.
pub fn problems(m: &Membership, stored: &Stored<'_>, program: &Program) -> Vec<String> {
    let mut out = Vec::new();
    let who = &m.member_id;
    let mut bad = |s: String| out.push(format!("membership {who}/: {s}"));
    if m.terms.iter().filter(|t| t.trial).count() > 1 {
        bad("more than one trial".into());
    }
    let mut live: Vec<_> = m.terms.iter().filter(|t| t.end() > t.starts_at).collect();
    live.sort_by_key(|t| t.starts_at);
    for w in live.windows(2) {
        if w[0].end() > w[1].starts_at {
            bad(format!("terms {} and {} overlap", w[0].term_id, w[1].term_id));
        }
    }
    for t in &m.terms {
        if t.fee_left_minor() < 0 {
            bad(format!(
                "term {} gave back {} of a fee of {}",
                t.term_id,
                t.refunded_minor + t.credited_minor,
                t.fee_minor()
            ));
        }
        if t.refunded_minor > 0 && t.refund_id.is_none() {
            bad(format!("term {} is refunded without a refund id", t.term_id));
        }
    }
    if m.trial_used != m.terms.iter().any(|t| t.trial) {
        bad(format!("trial_used is {} but the terms say otherwise", m.trial_used));
    }
    let grace = program.file.memberships.grace_days;
    let cover = m.cover(grace);
    if cover.as_ref() != stored.cover {
        bad(format!("the member record's benefits window {:?} is not the terms' {:?}", stored.cover, cover));
    }
    if stored.events != m.next_seq - 1 || stored.max_seq != m.next_seq - 1 {
        bad(format!(
            "history has {} entries up to seq {}, expected 1 to {}",
            stored.events,
            stored.max_seq,
            m.next_seq - 1
        ));
    }
    let due = super::rules::next_due(m, program);
    if due.is_some() && stored.next_due_at.is_none_or(|s| s > due.expect("some")) {
        bad(format!("due at {due:?} but the scheduler would come at {:?}", stored.next_due_at));
    }
    out
}
