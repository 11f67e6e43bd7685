//! One pass over the members: each member's terms give the report's counts, rates and fees, and
//! each joiner and each member who never paid becomes a subject of the difference in
//! differences. Pure; the ranges arrive from the store in member order and are folded here one
//! by one, so no member's facts are kept after its range.

use jiff::Timestamp;
use loyalty_insight::membership::{Month, Subject};
use loyalty_store::membership_facts::{MemberFacts, ReportTerm};
use std::collections::{BTreeMap, HashMap};

/// The range and the instant the figures are taken at.
#[derive(Debug, Clone)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
    pub now: Timestamp,
    /// Only this plan's terms count (its joiners, its figures); the controls stay everyone who
    /// never paid.
    pub plan: Option<String>,
    /// Month starts from the first month of the range to the end of its last, to number join
    /// months: `join_months[k]` starts month `first_month + k`.
    pub first_month: Month,
    pub join_months: Vec<Timestamp>,
}

impl Window {
    fn holds(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }

    /// In the range and past: an end that has happened.
    fn ended(&self, t: Timestamp) -> bool {
        self.holds(t) && t <= self.now
    }

    fn counts(&self, t: &ReportTerm) -> bool {
        self.plan.as_deref().is_none_or(|p| p == t.plan)
    }

    fn month_of(&self, t: Timestamp) -> Month {
        let k = self.join_months.partition_point(|&start| start <= t);
        assert!(k >= 1 && k < self.join_months.len(), "{t} is in the range, so in one of its months");
        self.first_month + (k - 1) as Month
    }
}

/// What one plan (or every plan) adds up to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanTally {
    pub trial: u64,
    pub paid: u64,
    pub joined: u64,
    pub renewed: u64,
    pub trials_ended: u64,
    pub converted: u64,
    pub terms_ended: u64,
    pub renewals: u64,
    /// i128: a million terms of 10¹² minor units each stay exact.
    pub fees_minor: i128,
}

/// A member's flags for one plan, so that a member counts once per plan.
#[derive(Default, Clone, Copy)]
struct Flags {
    trial: bool,
    paid: bool,
    joined: bool,
    renewed: bool,
}

impl Flags {
    fn add_to(self, t: &mut PlanTally) {
        t.trial += u64::from(self.trial);
        t.paid += u64::from(self.paid);
        t.joined += u64::from(self.joined);
        t.renewed += u64::from(self.renewed);
    }

    fn or(self, o: Flags) -> Flags {
        Flags {
            trial: self.trial || o.trial,
            paid: self.paid || o.paid,
            joined: self.joined || o.joined,
            renewed: self.renewed || o.renewed,
        }
    }
}

/// The running sums and the subjects.
#[derive(Default)]
pub struct Tally {
    pub plans: BTreeMap<String, PlanTally>,
    /// Members counted once across plans (its fees and rates are the plans' sums).
    pub total: PlanTally,
    /// Members who never had a paid term.
    pub controls: Vec<Subject>,
    /// Members whose first paid term started in the range, with its plan.
    pub joiners: Vec<(String, Subject)>,
    /// Comparison cells: (tier, value segment or "none") → index.
    pub strata: HashMap<(String, String), u32>,
}

impl Tally {
    fn stratum(&mut self, tier: &str, segment: Option<&str>) -> u32 {
        let key = (tier.to_owned(), segment.unwrap_or("none").to_owned());
        let next = self.strata.len() as u32;
        *self.strata.entry(key).or_insert(next)
    }

    fn plan(&mut self, code: &str) -> &mut PlanTally {
        if !self.plans.contains_key(code) {
            self.plans.insert(code.to_owned(), PlanTally::default());
        }
        self.plans.get_mut(code).expect("inserted above")
    }

    /// Folds one member in.
    pub fn add(&mut self, w: &Window, m: MemberFacts) {
        let live: Vec<&ReportTerm> = m.terms.iter().filter(|t| t.is_live()).collect();
        let mut flags: BTreeMap<&str, Flags> = BTreeMap::new();
        for t in m.terms.iter().filter(|t| w.counts(t) && w.holds(t.starts_at)) {
            // Money is counted even for a term refunded before it began.
            let fee = i128::from(t.paid_minor - t.refunded_minor);
            self.plan(&t.plan).fees_minor += fee;
            self.total.fees_minor += fee;
        }
        for &t in live.iter().filter(|t| w.counts(t)) {
            let f = flags.entry(t.plan.as_str()).or_default();
            if t.starts_at < w.to && t.end > w.from {
                if t.trial {
                    f.trial = true;
                } else {
                    f.paid = true;
                }
            }
            let starts_at_end = |kind: fn(&ReportTerm) -> bool| live.iter().any(|u| kind(u) && u.starts_at == t.end);
            if !t.trial
                && w.holds(t.starts_at)
                && live.iter().any(|p| !p.trial && !p.cut_short() && p.end == t.starts_at)
            {
                f.renewed = true;
            }
            let (ended, followed) = if t.trial && w.ended(t.end) {
                (true, starts_at_end(|u| !u.trial))
            } else if !t.trial && !t.cut_short() && w.ended(t.end) {
                (true, starts_at_end(|_| true))
            } else {
                (false, false)
            };
            if ended {
                for p in [&mut self.total, self.plans.entry(t.plan.clone()).or_default()] {
                    if t.trial {
                        p.trials_ended += 1;
                        p.converted += u64::from(followed);
                    } else {
                        p.terms_ended += 1;
                        p.renewals += u64::from(followed);
                    }
                }
            }
        }
        // Terms come by start, so the first live paid one is the member's first paid term.
        match live.iter().find(|t| !t.trial) {
            None => {
                let stratum = self.stratum(&m.tier, m.segment.as_deref());
                self.controls.push(Subject { stratum, joined: None, spend: m.spend });
            }
            Some(first) if w.counts(first) && w.holds(first.starts_at) => {
                flags.entry(first.plan.as_str()).or_default().joined = true;
                let stratum = self.stratum(&first.tier, first.segment.as_deref());
                let joined = Some(w.month_of(first.starts_at));
                self.joiners.push((first.plan.clone(), Subject { stratum, joined, spend: m.spend }));
            }
            // Joined before or after the range (or on another plan than the one asked for):
            // neither a joiner nor a control.
            Some(_) => {}
        }
        let mut any = Flags::default();
        for (plan, f) in flags {
            f.add_to(self.plan(plan));
            any = any.or(f);
        }
        any.add_to(&mut self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s * 86_400).unwrap()
    }

    fn term(plan: &str, trial: bool, start: i64, end: i64) -> ReportTerm {
        ReportTerm {
            plan: plan.into(),
            trial,
            paid_minor: if trial { 0 } else { 100 },
            refunded_minor: 0,
            starts_at: t(start),
            ends_at: t(end),
            end: t(end),
            refunded: false,
            tier: "base".into(),
            segment: Some("champions".into()),
        }
    }

    fn member(id: &str, terms: Vec<ReportTerm>) -> MemberFacts {
        MemberFacts { member_id: id.into(), tier: "gold".into(), segment: None, terms, spend: vec![(5, 10)] }
    }

    /// Days 10 to 40, one month of days 0..30 (month 5) and one of 30..60 (month 6), now day 100.
    fn window(plan: Option<&str>) -> Window {
        Window {
            from: t(10),
            to: t(40),
            now: t(100),
            plan: plan.map(str::to_owned),
            first_month: 5,
            join_months: vec![t(0), t(30), t(60)],
        }
    }

    #[test]
    fn a_trial_converting_and_a_renewal_count_once_each() {
        let mut tally = Tally::default();
        let w = window(None);
        // A trial days 5..15 converted at its end into a paid term to 25, renewed to 35, which
        // lapsed; another member who never paid.
        let terms = vec![term("p", true, 5, 15), term("p", false, 15, 25), term("p", false, 25, 35)];
        tally.add(&w, member("a", terms));
        tally.add(&w, member("b", vec![]));
        let p = &tally.plans["p"];
        assert_eq!((p.trial, p.paid, p.joined, p.renewed), (1, 1, 1, 1));
        assert_eq!((p.trials_ended, p.converted, p.terms_ended, p.renewals), (1, 1, 2, 1));
        assert_eq!(p.fees_minor, 200);
        assert_eq!(tally.total, *p);
        assert_eq!(tally.joiners.len(), 1);
        assert_eq!(tally.joiners[0].1.joined, Some(5));
        assert_eq!(tally.controls.len(), 1);
        assert_eq!(tally.strata.len(), 2, "the joiner's cell is its term's, the control's its current one");
    }

    #[test]
    fn a_cut_term_is_not_due_for_renewal_and_a_plan_filter_keeps_the_controls() {
        let mut tally = Tally::default();
        let mut cut = term("p", false, 12, 42);
        cut.end = t(20);
        let upgraded = term("q", false, 20, 50);
        tally.add(&window(Some("p")), member("a", vec![cut.clone(), upgraded.clone()]));
        tally.add(&window(Some("p")), member("b", vec![]));
        let p = &tally.plans["p"];
        assert_eq!((p.paid, p.joined, p.terms_ended, p.renewed), (1, 1, 0, 0));
        assert!(!tally.plans.contains_key("q"), "another plan than the one asked for is not counted");
        assert_eq!((tally.joiners.len(), tally.controls.len()), (1, 1));
        // The member who joined on q, with q asked for, joined on another plan first.
        let mut tally = Tally::default();
        tally.add(&window(Some("q")), member("a", vec![cut, upgraded]));
        assert_eq!((tally.joiners.len(), tally.controls.len(), tally.plans["q"].joined), (0, 0, 0));
    }
}
