//! Tests of the paid-membership estimate: a hand-computed example, a property test against a
//! naive reading of the definition, the edge cases, and the ROI arithmetic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn subject(stratum: u32, joined: Option<Month>, spend: &[(Month, i64)]) -> Subject {
    Subject { stratum, joined, spend: spend.to_vec() }
}

fn config(pre_months: u32, post_months: u32, first: Month, last: Month, data_end: Month) -> DidConfig {
    DidConfig { pre_months, post_months, first, last, data_end }
}

/// K = 2, L = 2, joins counted in months 10..=13, data up to month 12.
fn hand_example() -> Vec<Subject> {
    vec![
        // Controls of stratum 0. Months 3 and 20 lie outside [first − K, data_end] = [8, 12].
        subject(0, None, &[(3, 9_999), (8, 100), (9, 100), (10, 200), (11, 200), (20, 7_777)]),
        subject(0, None, &[(8, 300), (10, 100), (12, 50)]),
        // J1 joins in 10: pre = 8..=9, post = 10..=11 (month 12 is past L).
        subject(0, Some(10), &[(8, 100), (9, 300), (10, 500), (11, 700), (12, 900)]),
        // J2 joins in 12: pre = 10..=11, post cut at data_end to 12..=12.
        subject(0, Some(12), &[(11, 100), (12, 400)]),
        // J3: stratum 1 has no never-joined member.
        subject(1, Some(11), &[(10, 50)]),
        // J4 joins in 13 = last, after data_end: no post month.
        subject(0, Some(13), &[(12, 1_000)]),
        // Joined outside the window: neither joiners nor controls.
        subject(0, Some(14), &[(12, 1_000)]),
        subject(0, Some(9), &[(8, 100_000), (10, 100_000)]),
        // A control in a stratum without joiners is not a control used.
        subject(2, None, &[(10, 5_000)]),
    ]
}

#[test]
fn hand_computed_example_matches_every_field() {
    let report = estimate_incremental_spend(&hand_example(), &config(2, 2, 10, 13, 12)).unwrap();
    // J1: own_pre = (100 + 300) / 2 = 200, own_post = (500 + 700) / 2 = 600;
    //     ctrl_pre  = (100 + 100 + 300) / (2 controls × 2) = 125,
    //     ctrl_post = (200 + 200 + 100) / (2 × 2) = 125; did = 400 − 0 = 400, × 2 months = 800.
    // J2: own_pre = (0 + 100) / 2 = 50, own_post = 400 / 1 = 400;
    //     ctrl_pre  = (200 + 200 + 100) / (2 × 2) = 125, ctrl_post = 50 / (2 × 1) = 25;
    //     did = 350 − (25 − 125) = 450, × 1 month = 450.
    // Means over J1, J2: own_pre 125, own_post 500, ctrl_pre 125, ctrl_post 75, did 425.
    let expected = DidReport {
        joiners_in_window: 4,
        joiners_used: 2,
        joiners_without_post: 1,
        joiners_without_controls: 1,
        controls_used: 2,
        strata_used: 1,
        means: Some(DidMeans {
            own_pre: 125.0,
            own_post: 500.0,
            ctrl_pre: 125.0,
            ctrl_post: 75.0,
            incremental_per_member_month: 425.0,
        }),
        incremental_spend_minor: 1_250,
        method: method(&config(2, 2, 10, 13, 12)),
    };
    assert_eq!(report, expected);
    assert!(report.method.contains("months 10..=13") && report.method.contains("the 2 months before"));
}

#[test]
fn a_join_after_data_end_has_no_post_month_and_a_join_in_data_end_has_one() {
    let controls = [subject(0, None, &[(5, 100)]), subject(0, None, &[(6, 100)])];
    let mut subjects = controls.to_vec();
    subjects.push(subject(0, Some(7), &[(6, 100)]));
    let report = estimate_incremental_spend(&subjects, &config(3, 3, 1, 7, 6)).unwrap();
    assert_eq!((report.joiners_in_window, report.joiners_without_post, report.joiners_used), (1, 1, 0));
    assert_eq!(
        (report.means, report.incremental_spend_minor, report.controls_used, report.strata_used),
        (None, 0, 0, 0)
    );

    // Joined in data_end: one post month. own: pre (0 + 0 + 0) / 3, post 100 / 1; controls: pre
    // (100 + 0 + 0) / (2 × 3) = 16.67, post 100 / (2 × 1) = 50. did = 100 − 33.33 = 66.67.
    subjects[2].joined = Some(6);
    let report = estimate_incremental_spend(&subjects, &config(3, 3, 1, 7, 6)).unwrap();
    let means = report.means.unwrap();
    assert_eq!((report.joiners_used, report.joiners_without_post, report.controls_used), (1, 0, 2));
    assert!((means.incremental_per_member_month - (100.0 - (50.0 - 100.0 / 6.0))).abs() < 1e-9);
    assert_eq!(report.incremental_spend_minor, 67);
}

#[test]
fn a_stratum_without_controls_leaves_its_joiners_unused() {
    let subjects = [subject(0, None, &[(5, 100)]), subject(1, Some(5), &[(5, 100)]), subject(1, Some(6), &[])];
    let report = estimate_incremental_spend(&subjects, &config(1, 1, 5, 6, 6)).unwrap();
    assert_eq!((report.joiners_in_window, report.joiners_without_controls, report.joiners_used), (2, 2, 0));
    assert_eq!((report.controls_used, report.strata_used, report.means), (0, 0, None));
}

#[test]
fn zero_spend_everywhere_estimates_zero() {
    let subjects =
        [subject(0, None, &[]), subject(0, None, &[(4, 0)]), subject(0, Some(4), &[]), subject(0, Some(5), &[])];
    let report = estimate_incremental_spend(&subjects, &config(2, 2, 4, 5, 8)).unwrap();
    let zero =
        DidMeans { own_pre: 0.0, own_post: 0.0, ctrl_pre: 0.0, ctrl_post: 0.0, incremental_per_member_month: 0.0 };
    assert_eq!(
        (report.joiners_used, report.controls_used, report.means, report.incremental_spend_minor),
        (2, 2, Some(zero), 0)
    );
}

#[test]
fn no_subjects_is_an_empty_report_not_an_error() {
    let report = estimate_incremental_spend(&[], &config(3, 3, 0, 11, 11)).unwrap();
    assert_eq!((report.joiners_in_window, report.means, report.incremental_spend_minor), (0, None, 0));
    assert!(serde_json::to_string(&report).unwrap().contains("\"means\":null"));
}

#[test]
fn bad_settings_are_refused_with_the_field_named() {
    let field = |c: DidConfig| match estimate_incremental_spend(&[], &c) {
        Err(InsightError::InvalidConfig { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert_eq!(field(config(0, 3, 0, 0, 5)), "pre_months");
    assert_eq!(field(config(3, 0, 0, 0, 5)), "post_months");
    assert_eq!(field(config(3, MAX_MONTH_SPAN + 1, 0, 0, 5)), "post_months");
    assert_eq!(field(config(3, 3, 6, 5, 9)), "last");
    // From month −3 to 1197 is 1,201 months, one too many; to 1196 is exactly the limit.
    assert_eq!(field(config(3, 3, 0, 0, 1197)), "data_end");
    assert!(estimate_incremental_spend(&[], &config(3, 3, 0, 0, 1196)).is_ok());
    assert_eq!(field(config(1, 1, Month::MIN, Month::MAX, Month::MAX)), "data_end");
}

#[test]
fn extreme_months_do_not_overflow_the_month_arithmetic() {
    // m − K below Month::MIN and m + L − 1 above Month::MAX are computed in i64.
    let subjects = [
        subject(0, None, &[(Month::MIN, 10)]),
        subject(0, Some(Month::MIN), &[(Month::MIN, 30)]),
        subject(0, Some(Month::MAX), &[(Month::MAX, 1)]),
    ];
    let report = estimate_incremental_spend(&subjects, &config(1, MAX_MONTH_SPAN, Month::MIN, Month::MAX, Month::MIN));
    let report = report.unwrap();
    assert_eq!((report.joiners_used, report.joiners_without_post), (1, 1));
    // own: 0 before, 30 in the one post month; controls: 0 before, 10 after. did = 30 − 10 = 20.
    assert_eq!((report.means.unwrap().incremental_per_member_month, report.incremental_spend_minor), (20.0, 20));
}

#[test]
fn unsorted_or_duplicate_months_are_refused_naming_the_subject() {
    for spend in [[(5, 1), (4, 1)], [(5, 1), (5, 2)]] {
        let subjects = [subject(0, None, &[]), subject(0, None, &spend)];
        let error = estimate_incremental_spend(&subjects, &config(1, 1, 5, 5, 5)).unwrap_err();
        assert!(matches!(&error, InsightError::InvalidInput { id, .. } if id == "1"), "{error:?}");
        assert_eq!(error.code(), "invalid_input");
    }
}

#[test]
fn roi_counts_only_the_margin_of_incremental_spend() {
    let inputs = RoiInputs {
        fees_minor: 1_000_000,
        benefit_cost_minor: 800_000,
        incremental_spend_minor: 1_250,
        margin_percent: 30,
    };
    // Margin floor(1,250 × 0.30) = 375; net = 375 + 1,000,000 − 800,000 = 200,375; ROI 200,375 / 800,000.
    let roi = membership_roi(&inputs).unwrap();
    assert_eq!(roi, Roi { incremental_margin_minor: 375, net_minor: 200_375, roi: Some(200_375.0 / 800_000.0) });
}

#[test]
fn roi_is_none_when_the_benefits_cost_nothing() {
    let inputs = RoiInputs { fees_minor: 500, benefit_cost_minor: 0, incremental_spend_minor: 100, margin_percent: 50 };
    assert_eq!(membership_roi(&inputs).unwrap(), Roi { incremental_margin_minor: 50, net_minor: 550, roi: None });
}

#[test]
fn a_negative_incremental_margin_floors_towards_minus_infinity() {
    let margin = |spend, percent| {
        let inputs =
            RoiInputs { fees_minor: 0, benefit_cost_minor: 0, incremental_spend_minor: spend, margin_percent: percent };
        membership_roi(&inputs).unwrap().incremental_margin_minor
    };
    assert_eq!(margin(-1_001, 30), -301); // −300.3
    assert_eq!(margin(-1_000, 30), -300);
    assert_eq!(margin(1_001, 30), 300);
    assert_eq!(margin(i64::MIN, 100), i64::MIN);
    assert_eq!(margin(i64::MIN, 99), (i128::from(i64::MIN) * 99).div_euclid(100) as i64);
    let roi = membership_roi(&RoiInputs {
        fees_minor: 0,
        benefit_cost_minor: 100,
        incremental_spend_minor: -1_001,
        margin_percent: 30,
    });
    assert_eq!(roi.unwrap(), Roi { incremental_margin_minor: -301, net_minor: -401, roi: Some(-4.01) });
}

#[test]
fn roi_refuses_bad_inputs_and_overflow() {
    let ok = RoiInputs { fees_minor: 0, benefit_cost_minor: 0, incremental_spend_minor: 0, margin_percent: 0 };
    let code = |inputs: RoiInputs| membership_roi(&inputs).unwrap_err().code();
    assert_eq!(code(RoiInputs { margin_percent: 101, ..ok }), "invalid_config");
    assert_eq!(code(RoiInputs { margin_percent: -1, ..ok }), "invalid_config");
    assert_eq!(code(RoiInputs { fees_minor: -1, ..ok }), "invalid_input");
    assert_eq!(code(RoiInputs { benefit_cost_minor: -1, ..ok }), "invalid_input");
    assert_eq!(
        code(RoiInputs { fees_minor: i64::MAX, incremental_spend_minor: 100, margin_percent: 1, ..ok }),
        "invalid_input"
    );
    let at_the_edge =
        RoiInputs { fees_minor: i64::MAX, benefit_cost_minor: 1, incremental_spend_minor: 100, margin_percent: 1 };
    assert_eq!(membership_roi(&at_the_edge).unwrap().net_minor, i64::MAX);
}

/// One used joiner in the naive estimate: own_pre, own_post, ctrl_pre, ctrl_post, n_post.
struct Row(f64, f64, f64, f64, f64);

/// The definition read literally: for each joiner, a pass over every subject to find its controls
/// and a pass over each control's months. No prefix sums, no index.
fn naive(subjects: &[Subject], c: &DidConfig) -> DidReport {
    let spend_in = |s: &Subject, from: i64, to: i64| -> i128 {
        s.spend.iter().filter(|&&(m, _)| from <= i64::from(m) && i64::from(m) <= to).map(|&(_, v)| i128::from(v)).sum()
    };
    let (k, l) = (i64::from(c.pre_months), i64::from(c.post_months));
    let (mut in_window, mut without_post, mut without_controls) = (0, 0, 0);
    let mut strata = BTreeSet::new();
    let mut rows: Vec<Row> = Vec::new();
    for joiner in subjects {
        let Some(m) = joiner.joined.filter(|m| (c.first..=c.last).contains(m)) else { continue };
        in_window += 1;
        let m = i64::from(m);
        let post_end = (m + l - 1).min(i64::from(c.data_end));
        if post_end < m {
            without_post += 1;
            continue;
        }
        let controls: Vec<&Subject> =
            subjects.iter().filter(|s| s.joined.is_none() && s.stratum == joiner.stratum).collect();
        if controls.is_empty() {
            without_controls += 1;
            continue;
        }
        strata.insert(joiner.stratum);
        let n = (post_end - m + 1) as f64;
        let big_n = controls.len() as f64;
        let ctrl = |from, to| controls.iter().map(|s| spend_in(s, from, to)).sum::<i128>() as f64;
        rows.push(Row(
            spend_in(joiner, m - k, m - 1) as f64 / k as f64,
            spend_in(joiner, m, post_end) as f64 / n,
            ctrl(m - k, m - 1) / (big_n * k as f64),
            ctrl(m, post_end) / (big_n * n),
            n,
        ));
    }
    let used = rows.len() as f64;
    let did = |r: &Row| (r.1 - r.0) - (r.3 - r.2);
    let mean = |f: &dyn Fn(&Row) -> f64| rows.iter().map(f).sum::<f64>() / used;
    DidReport {
        joiners_in_window: in_window,
        joiners_used: rows.len() as u64,
        joiners_without_post: without_post,
        joiners_without_controls: without_controls,
        controls_used: subjects.iter().filter(|s| s.joined.is_none() && strata.contains(&s.stratum)).count() as u64,
        strata_used: strata.len() as u64,
        means: (!rows.is_empty()).then(|| DidMeans {
            own_pre: mean(&|r| r.0),
            own_post: mean(&|r| r.1),
            ctrl_pre: mean(&|r| r.2),
            ctrl_post: mean(&|r| r.3),
            incremental_per_member_month: mean(&did),
        }),
        incremental_spend_minor: rows.iter().map(|r| did(r) * r.4).sum::<f64>().round() as i64,
        method: method(c),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn arb_subject() -> impl Strategy<Value = Subject> {
    (
        0..4_u32,
        prop::option::weighted(0.5, -2..30_i32),
        prop::collection::btree_map(-8..36_i32, -500..20_000_i64, 0..12),
    )
        .prop_map(|(stratum, joined, spend): (u32, Option<Month>, BTreeMap<Month, i64>)| Subject {
            stratum,
            joined,
            spend: spend.into_iter().collect(),
        })
}

fn arb_config() -> impl Strategy<Value = DidConfig> {
    (1..6_u32, 1..6_u32, -2..28_i32, 0..15_i32, -10..36_i32)
        .prop_map(|(k, l, first, width, data_end)| config(k, l, first, first + width, data_end))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Prefix sums per stratum give what the definition gives, field by field.
    #[test]
    fn the_fast_estimate_equals_the_naive_one(subjects in prop::collection::vec(arb_subject(), 0..40), c in arb_config()) {
        let fast = estimate_incremental_spend(&subjects, &c).unwrap();
        let slow = naive(&subjects, &c);
        let counts = |r: &DidReport| {
            (r.joiners_in_window, r.joiners_used, r.joiners_without_post, r.joiners_without_controls, r.controls_used, r.strata_used)
        };
        prop_assert_eq!(counts(&fast), counts(&slow));
        prop_assert_eq!(&fast.method, &slow.method);
        // Both round the same f64 sum; allow one minor unit for a sum that lands on .5 differently.
        prop_assert!((fast.incremental_spend_minor - slow.incremental_spend_minor).abs() <= 1, "{fast:?} {slow:?}");
        match (fast.means, slow.means) {
            (None, None) => {}
            (Some(f), Some(s)) => {
                let pairs = [
                    (f.own_pre, s.own_pre),
                    (f.own_post, s.own_post),
                    (f.ctrl_pre, s.ctrl_pre),
                    (f.ctrl_post, s.ctrl_post),
                    (f.incremental_per_member_month, s.incremental_per_member_month),
                ];
                prop_assert!(pairs.iter().all(|&(a, b)| close(a, b)), "{f:?} {s:?}");
            }
            (f, s) => prop_assert!(false, "means differ: {f:?} vs {s:?}"),
        }
    }

    /// floor(spend × p / 100) is the largest integer whose 100-fold is at most spend × p.
    #[test]
    fn the_margin_is_the_floor(spend in any::<i64>(), percent in 0..=100_i64) {
        let inputs = RoiInputs { fees_minor: 0, benefit_cost_minor: 0, incremental_spend_minor: spend, margin_percent: percent };
        let margin = i128::from(membership_roi(&inputs).unwrap().incremental_margin_minor);
        let exact = i128::from(spend) * i128::from(percent);
        prop_assert!(margin * 100 <= exact && exact < (margin + 1) * 100);
    }
}

/// A million subjects with ten million spend months, as the report will run it. Ignored by
/// default; run `cargo test --release -p loyalty-insight -- --ignored million` to time it.
#[test]
#[ignore]
fn a_million_subjects_take_well_under_a_second() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let subjects: Vec<Subject> = (0..1_000_000)
        .map(|_| {
            let joined = rng.random_bool(0.3).then(|| rng.random_range(24..48));
            let start = rng.random_range(0..50);
            let spend = (start..start + 10).map(|m| (m, rng.random_range(-1_000..50_000))).collect();
            Subject { stratum: rng.random_range(0..60), joined, spend }
        })
        .collect();
    let started = std::time::Instant::now();
    let report = estimate_incremental_spend(&subjects, &config(3, 3, 24, 47, 59)).unwrap();
    let elapsed = started.elapsed();
    println!("{elapsed:?} for {} joiners used, {} controls", report.joiners_used, report.controls_used);
    assert!(report.joiners_used > 250_000 && report.controls_used > 650_000);
    assert!(elapsed < std::time::Duration::from_secs(2), "{elapsed:?}");
}
