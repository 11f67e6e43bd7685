//! What the paid-membership report and its KPIs read (`MembershipFacts`): every member with
//! their current tier, their value segment in the latest insight run, all their terms and their
//! net spend by month, one range of members at a time; the lapses the history recorded; and
//! per-period sums for the KPIs.
//!
//! One read per range instead of a read per question: at a million members, a row per member
//! through the driver costs seconds, and the report needs every member (the members who never
//! paid are its control group). Each range's sources come back sorted by member id and are
//! merged here ([`merge_facts`]); the figures are the report's (`loyalty-report`), not SQL's.

use crate::analytics::{MonthGrid, MonthlySpend, Window};
use crate::Result;
use async_trait::async_trait;
use jiff::Timestamp;
use std::sync::Arc;

/// One range of members: ids in (`after`, `through`] (no upper bound without `through`), those
/// registered by `at`, with spend as of `at` by the months of `grid`.
#[derive(Debug, Clone)]
pub struct FactsQuery {
    pub after: Option<String>,
    pub through: Option<String>,
    pub at: Timestamp,
    pub grid: Arc<MonthGrid>,
    /// The slot and run of the latest complete insight run, whose value segments are read.
    pub run: Option<(i64, i64)>,
}

/// One term as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTerm {
    pub plan: String,
    pub trial: bool,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    pub starts_at: Timestamp,
    /// The end it was bought with.
    pub ends_at: Timestamp,
    /// The end of its benefits: `ends_at`, or sooner when a refund or an upgrade cut it short.
    pub end: Timestamp,
    pub refunded: bool,
    /// The member's tier and value segment when the term was bought.
    pub tier: String,
    pub segment: Option<String>,
}

impl ReportTerm {
    /// Whether the term gives anything: one refunded before it began ends where it starts.
    pub fn is_live(&self) -> bool {
        self.end > self.starts_at
    }

    /// Whether a refund or an upgrade ended it before its end.
    pub fn cut_short(&self) -> bool {
        self.end < self.ends_at
    }
}

/// One member as the report reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberFacts {
    pub member_id: String,
    /// The current tier code (empty before the member joined a tier).
    pub tier: String,
    /// The value segment in the latest complete insight run, if the member has a row there.
    pub segment: Option<String>,
    /// Every term, by start.
    pub terms: Vec<ReportTerm>,
    pub spend: MonthlySpend,
}

/// Paid-membership figures of KPI period `k`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipWindow {
    pub k: usize,
    /// Members with a paid (not trial) term giving benefits at some time in the period.
    pub paid_members: i64,
    /// Members whose first paid term started in the period.
    pub new_paid_members: i64,
    /// Σ paid − refunded of the terms (trials too) that started in the period.
    pub fees_minor: i64,
    /// Σ value of the benefit uses a plan gave in the period.
    pub plan_benefit_cost_minor: i64,
}

#[async_trait]
pub trait MembershipFacts: Send + Sync {
    /// The members of one range, ids ascending byte-wise, each once.
    async fn member_facts(&self, q: &FactsQuery) -> Result<Vec<MemberFacts>>;
    /// (member, plan) of each `lapsed` and `refunded` history entry in `[from, to)`: the
    /// instants benefits ended without a renewal (the scheduler records a lapse when the grace
    /// is over; a refund ends the benefits at once).
    async fn membership_lapses(&self, from: Timestamp, to: Timestamp) -> Result<Vec<(String, String)>>;
    /// Paid-membership KPIs of each window (at most `analytics::MAX_WINDOWS`).
    async fn membership_windows(&self, windows: &[Window]) -> Result<Vec<MembershipWindow>>;
}

/// The term columns both backends read, by these names.
pub(crate) const TERM_COLS: &str =
    "member_id, plan, trial, paid_minor, refunded_minor, starts_at, ends_at, ended_at, refunded, tier, segment";
/// The select list that gives [`TERM_COLS`] from `membership_terms`.
pub(crate) const TERM_SELECT: &str = "member_id, plan, trial, paid_minor, refunded_minor, starts_at, ends_at, \
     ended_at, CASE WHEN refund_id IS NULL THEN 0 ELSE 1 END AS refunded, tier, segment";

/// A term from its stored cells: (plan, tier, segment), [trial, paid, refunded, refund flag],
/// (starts_at, ends_at, ended_at) in microseconds.
pub(crate) fn report_term(
    (plan, tier, segment): (String, String, Option<String>),
    [trial, paid_minor, refunded_minor, refunded]: [i64; 4],
    (starts_at, ends_at, ended_at): (i64, i64, Option<i64>),
) -> Result<ReportTerm> {
    let ts = |v| crate::convert::ts("membership_terms", v);
    let ends_at = ts(ends_at)?;
    let end = match ended_at {
        Some(e) => ts(e)?.min(ends_at),
        None => ends_at,
    };
    Ok(ReportTerm {
        plan,
        trial: trial != 0,
        paid_minor,
        refunded_minor,
        starts_at: ts(starts_at)?,
        ends_at,
        end,
        refunded: refunded != 0,
        tier,
        segment,
    })
}

/// Merges one range's sources, each sorted by member id byte-wise (terms by member, then start):
/// the members drive; segments, terms and spend of ids that are not among them are dropped (a
/// member registered after the read's instant).
pub fn merge_facts(
    members: Vec<(String, String)>,
    segments: Vec<(String, String)>,
    terms: Vec<(String, ReportTerm)>,
    spend: Vec<(String, MonthlySpend)>,
) -> Vec<MemberFacts> {
    fn sorted<'a>(ids: impl Iterator<Item = &'a str>) -> bool {
        let ids: Vec<&str> = ids.collect();
        ids.windows(2).all(|w| w[0] <= w[1])
    }
    debug_assert!(sorted(members.iter().map(|m| m.0.as_str())), "members sorted");
    debug_assert!(sorted(segments.iter().map(|m| m.0.as_str())), "segments sorted");
    debug_assert!(sorted(terms.iter().map(|m| m.0.as_str())), "terms sorted");
    debug_assert!(sorted(spend.iter().map(|m| m.0.as_str())), "spend sorted");
    let mut segments = segments.into_iter().peekable();
    let mut terms = terms.into_iter().peekable();
    let mut spend = spend.into_iter().peekable();
    let mut out = Vec::with_capacity(members.len());
    for (member_id, tier) in members {
        while segments.next_if(|(id, _)| *id < member_id).is_some() {}
        while terms.next_if(|(id, _)| *id < member_id).is_some() {}
        while spend.next_if(|(id, _)| *id < member_id).is_some() {}
        let segment = segments.next_if(|(id, _)| *id == member_id).map(|(_, s)| s);
        let mut own = Vec::new();
        while let Some((_, t)) = terms.next_if(|(id, _)| *id == member_id) {
            own.push(t);
        }
        let months = spend.next_if(|(id, _)| *id == member_id).map(|(_, s)| s).unwrap_or_default();
        out.push(MemberFacts { member_id, tier, segment, terms: own, spend: months });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(plan: &str, start: i64) -> ReportTerm {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        ReportTerm {
            plan: plan.into(),
            trial: false,
            paid_minor: 1,
            refunded_minor: 0,
            starts_at: t(start),
            ends_at: t(start + 10),
            end: t(start + 10),
            refunded: false,
            tier: "base".into(),
            segment: None,
        }
    }

    #[test]
    fn members_drive_the_merge_and_strangers_are_dropped() {
        let s = |v: &str| v.to_owned();
        let members = vec![(s("a"), s("gold")), (s("c"), s(""))];
        let segments = vec![(s("a"), s("champions")), (s("b"), s("at_risk"))];
        let terms =
            vec![(s("a"), term("p", 1)), (s("a"), term("p", 11)), (s("b"), term("q", 1)), (s("d"), term("p", 1))];
        let spend = vec![(s("b"), vec![(1, 5)]), (s("c"), vec![(2, 7)])];
        let got = merge_facts(members, segments, terms, spend);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].segment.as_deref(), got[0].terms.len(), got[0].spend.len()), (Some("champions"), 2, 0));
        assert_eq!((got[1].member_id.as_str(), got[1].segment.as_deref(), got[1].terms.len()), ("c", None, 0));
        assert_eq!(got[1].spend, [(2, 7)]);
        assert!(!term("p", 1).cut_short() && term("p", 1).is_live());
    }
}
