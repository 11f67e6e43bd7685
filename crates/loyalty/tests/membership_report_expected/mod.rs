//! The report's figures recomputed from the terms and orders the test made, each definition of
//! docs/METRICS.md read literally: nested loops over the members, no index, no prefix sums.

use super::{month, Term, World, GRACE_DAYS, K, MARGIN, MEMBERS};
use jiff::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default)]
struct Did {
    in_window: u64,
    used: u64,
    without_post: u64,
    without_controls: u64,
    controls_used: u64,
    strata_used: u64,
    /// own_pre, own_post, control_pre, control_post, did: means over the joiners used.
    means: Option<[f64; 5]>,
    total: f64,
}

#[derive(Debug, Default)]
struct Figures {
    members: [u64; 5],
    trials: (u64, u64),
    renewals: (u64, u64),
    fees: i64,
    cost: i64,
    did: Did,
}

pub struct Expected {
    by_plan: BTreeMap<Option<&'static str>, Figures>,
}

/// A subject of the estimate: stratum, join month (None = never paid), spend by month.
type Subject = ((bool, String), Option<i32>, BTreeMap<i32, i64>);

fn in_range(x: Timestamp, from: Timestamp, to: Timestamp) -> bool {
    from <= x && x < to
}

impl Expected {
    pub fn new(w: &World, segments: &BTreeMap<&str, String>, from: Timestamp, to: Timestamp, now: Timestamp) -> Self {
        let mut by_plan = BTreeMap::new();
        for f in [None, Some("plus"), Some("vip")] {
            by_plan.insert(f, figures(w, segments, f, (from, to, now)));
        }
        Expected { by_plan }
    }

    /// Compares one figures object of the answer with the plan's (None: every plan).
    pub fn check(&self, got: &Value, plan: Option<&str>) {
        let e = &self.by_plan[&plan];
        let what = format!("plan {plan:?}: {got}");
        let m = &got["members"];
        let counts = ["trial", "paid", "joined", "renewed", "lapsed"].map(|k| m[k].as_u64().unwrap());
        assert_eq!(counts, e.members, "members, {what}");
        let tc = &got["trial_conversion"];
        assert_eq!((tc["trials_ended"].as_u64().unwrap(), tc["converted"].as_u64().unwrap()), e.trials, "{what}");
        let rn = &got["renewal"];
        assert_eq!((rn["terms_ended"].as_u64().unwrap(), rn["renewed"].as_u64().unwrap()), e.renewals, "{what}");
        let rate = |(d, n): (u64, u64)| (d > 0).then(|| n as f64 / d as f64);
        let near = |g: Option<f64>, v: Option<f64>| match (g, v) {
            (Some(g), Some(v)) => (g - v).abs() <= 1e-12,
            (g, v) => g == v,
        };
        assert!(near(tc["rate"].as_f64(), rate(e.trials)), "{what}");
        assert!(near(rn["rate"].as_f64(), rate(e.renewals)), "{what}");
        assert_eq!(
            (got["fees_minor"].as_i64().unwrap(), got["benefit_cost_minor"].as_i64().unwrap()),
            (e.fees, e.cost)
        );
        let i = &got["incremental"];
        let d = &e.did;
        let n = |k: &str| i[k].as_u64().unwrap();
        assert_eq!(
            [n("joiners_in_window"), n("joiners_used"), n("joiners_without_post"), n("joiners_without_controls")],
            [d.in_window, d.used, d.without_post, d.without_controls],
            "{what}"
        );
        assert_eq!([n("controls_used"), n("strata_used")], [d.controls_used, d.strata_used], "{what}");
        assert_eq!((i["first_month"].as_str(), i["data_end_month"].as_str()), (Some("2025-07"), Some("2025-11")));
        match d.means {
            None => assert!(i["means"].is_null(), "{what}"),
            Some(means) => {
                let keys = ["own_pre", "own_post", "control_pre", "control_post", "incremental_per_member_month"];
                for (k, v) in keys.iter().zip(means) {
                    let g = i["means"][k].as_f64().unwrap();
                    assert!((g - v).abs() <= 1e-6 * v.abs().max(1.0), "{k}: {g} against {v}, {what}");
                }
            }
        }
        let incremental = i["incremental_spend_minor"].as_i64().unwrap();
        assert!((incremental - d.total.round() as i64).abs() <= 1, "{incremental} against {}, {what}", d.total);
        let margin = (i128::from(incremental) * i128::from(MARGIN)).div_euclid(100) as i64;
        let net = margin + e.fees - e.cost;
        let roi = &got["roi"];
        assert_eq!((roi["incremental_margin_minor"].as_i64(), roi["net_minor"].as_i64()), (Some(margin), Some(net)));
        // serde_json reads a float to within an ulp of what was written.
        match (roi["roi"].as_f64(), (e.cost != 0).then(|| net as f64 / e.cost as f64)) {
            (None, None) => {}
            (Some(g), Some(v)) => assert!((g - v).abs() <= 1e-12 * v.abs().max(1.0), "roi {g} against {v}, {what}"),
            (g, v) => panic!("roi {g:?} against {v:?}, {what}"),
        }
    }
}

fn figures(
    w: &World,
    segments: &BTreeMap<&str, String>,
    f: Option<&str>,
    (from, to, now): (Timestamp, Timestamp, Timestamp),
) -> Figures {
    let matches = |x: &Term| f.is_none_or(|p| p == x.plan);
    let mut out = Figures::default();
    let mut subjects: Vec<Subject> = Vec::new();
    let none = Vec::new();
    for (id, _, gold) in MEMBERS {
        let terms: Vec<&Term> = w.terms.get(id).unwrap_or(&none).iter().filter(|x| x.end > x.start).collect();
        let all: &Vec<Term> = w.terms.get(id).unwrap_or(&none);
        let overlaps = |x: &&Term| matches(x) && x.start < to && x.end > from;
        let first_paid = terms.iter().find(|x| !x.trial);
        let joined = first_paid.is_some_and(|x| matches(x) && in_range(x.start, from, to));
        let renewed = terms.iter().any(|u| {
            !u.trial
                && matches(u)
                && in_range(u.start, from, to)
                && terms.iter().any(|x| !x.trial && x.end == x.bought_end && x.end == u.start)
        });
        // The benefits end at the last term's end, and a lapse is recorded when the grace is
        // over; a refund ends them at once.
        let lapsed = terms.last().is_some_and(|last| {
            let at =
                w.refunded_memberships.get(id).copied().unwrap_or_else(|| {
                    last.end.checked_add(jiff::SignedDuration::from_hours(24 * GRACE_DAYS)).unwrap()
                });
            matches(last) && in_range(at, from, to.min(now))
        });
        let flags = [
            terms.iter().filter(|x| x.trial).any(&overlaps),
            terms.iter().filter(|x| !x.trial).any(&overlaps),
            joined,
            renewed,
            lapsed,
        ];
        for (k, flag) in flags.iter().enumerate() {
            out.members[k] += u64::from(*flag);
        }
        let ended = |x: &Term| in_range(x.end, from, to) && x.end <= now;
        for x in terms.iter().filter(|x| matches(x) && ended(x)) {
            if x.trial {
                out.trials.0 += 1;
                out.trials.1 += u64::from(terms.iter().any(|u| !u.trial && u.start == x.end));
            } else if x.end == x.bought_end {
                out.renewals.0 += 1;
                out.renewals.1 += u64::from(terms.iter().any(|u| u.start == x.end));
            }
        }
        out.fees +=
            all.iter().filter(|x| matches(x) && in_range(x.start, from, to)).map(|x| x.paid - x.refunded).sum::<i64>();
        let mut spend: BTreeMap<i32, i64> = BTreeMap::new();
        for o in w.orders.iter().filter(|o| o.member == id) {
            *spend.entry(month(o.paid_at)).or_default() += o.total - o.refunded;
        }
        let stratum = (gold, segments[id].clone());
        match first_paid {
            None => subjects.push((stratum, None, spend)),
            Some(x) if joined => subjects.push((stratum, Some(month(x.start)), spend)),
            Some(_) => {}
        }
    }
    // Lapses are counted per member: with every plan, a member counts once.
    out.cost = w
        .orders
        .iter()
        .filter(|o| o.plan.is_some_and(|p| f.is_none_or(|f| f == p)) && in_range(o.paid_at, from, to))
        .map(|o| o.benefit)
        .sum();
    let first = month(from);
    let last = month(to.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap());
    let data_end = (month(now) - 1).min(last + K - 1);
    out.did = did(&subjects, first, last, data_end);
    out
}

/// The difference in differences by its definition.
fn did(subjects: &[Subject], first: i32, last: i32, data_end: i32) -> Did {
    let sum = |s: &BTreeMap<i32, i64>, a: i32, b: i32| s.range(a..=b).map(|(_, v)| *v).sum::<i64>() as f64;
    let mut d = Did::default();
    let mut strata = BTreeSet::new();
    let mut rows: Vec<[f64; 6]> = Vec::new();
    for (stratum, joined, spend) in subjects {
        let Some(m) = joined.filter(|m| (first..=last).contains(m)) else { continue };
        d.in_window += 1;
        let post_end = (m + K - 1).min(data_end);
        if post_end < m {
            d.without_post += 1;
            continue;
        }
        let controls: Vec<&BTreeMap<i32, i64>> =
            subjects.iter().filter(|(s, j, _)| j.is_none() && s == stratum).map(|(_, _, sp)| sp).collect();
        if controls.is_empty() {
            d.without_controls += 1;
            continue;
        }
        strata.insert(stratum.clone());
        let (k, n, c) = (f64::from(K), f64::from(post_end - m + 1), controls.len() as f64);
        let own_pre = sum(spend, m - K, m - 1) / k;
        let own_post = sum(spend, m, post_end) / n;
        let ctrl_pre = controls.iter().map(|s| sum(s, m - K, m - 1)).sum::<f64>() / (c * k);
        let ctrl_post = controls.iter().map(|s| sum(s, m, post_end)).sum::<f64>() / (c * n);
        rows.push([own_pre, own_post, ctrl_pre, ctrl_post, (own_post - own_pre) - (ctrl_post - ctrl_pre), n]);
    }
    d.used = rows.len() as u64;
    d.strata_used = strata.len() as u64;
    d.controls_used = subjects.iter().filter(|(s, j, _)| j.is_none() && strata.contains(s)).count() as u64;
    if !rows.is_empty() {
        let mean = |i: usize| rows.iter().map(|r| r[i]).sum::<f64>() / rows.len() as f64;
        d.means = Some([mean(0), mean(1), mean(2), mean(3), mean(4)]);
    }
    d.total = rows.iter().map(|r| r[4] * r[5]).sum();
    d
}
