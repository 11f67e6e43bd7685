//! Unit tests of RFM scoring; the comparison with a plain SQL-order model is a property test in
//! `tests/properties.rs`.

use super::*;

fn buyer(id: &str, recency: u32, frequency: u32, monetary: i64) -> MemberSummary {
    MemberSummary {
        member_id: id.into(),
        recency_days: Some(recency),
        frequency,
        monetary_minor: monetary,
        first_order_age_days: Some(recency + 10),
    }
}

fn idle(id: &str) -> MemberSummary {
    MemberSummary {
        member_id: id.into(),
        recency_days: None,
        frequency: 0,
        monetary_minor: 0,
        first_order_age_days: None,
    }
}

#[test]
fn ntile_makes_buckets_that_differ_by_at_most_one_larger_first() {
    for n in 1..=23 {
        let mut sizes = [0_usize; 5];
        for position in 0..n {
            sizes[usize::from(quintile(position, n)) - 1] += 1;
        }
        let groups = n.min(5);
        for (i, &size) in sizes.iter().enumerate() {
            let want = if i < groups { n / groups + usize::from(i < n % groups) } else { 0 };
            assert_eq!(size, want, "n={n} bucket {i}: {sizes:?}");
        }
    }
}

#[test]
fn quintiles_give_5_to_the_most_recent_and_break_ties_by_id() {
    // Seven buyers: buckets of 2, 2, 1, 1, 1. Ties on every dimension are broken by id.
    let members = vec![
        buyer("g", 1, 9, 500),
        buyer("a", 50, 1, -20),
        buyer("b", 50, 1, 0),
        idle("z"),
        buyer("c", 10, 3, 300),
        buyer("d", 10, 3, 300),
        buyer("e", 200, 2, 100),
        buyer("f", 5, 5, 300),
    ];
    let scores = score_quintiles(&members).unwrap();
    let get = |i: usize| scores[i].map(|s| (s.r, s.f, s.m));
    // R order (recency desc, id): e200 a50 b50 c10 d10 f5 g1 → 1 1 2 2 3 4 5.
    // F order (frequency, id): a1 b1 e2 c3 d3 f5 g9 → 1 1 2 2 3 4 5.
    // M order (monetary, id): a-20 b0 e100 c300 d300 f300 g500 → 1 1 2 2 3 4 5.
    assert_eq!(get(0), Some((5, 5, 5)));
    assert_eq!(get(1), Some((1, 1, 1)));
    assert_eq!(get(2), Some((2, 1, 1)));
    assert_eq!(get(3), None);
    assert_eq!(get(4), Some((2, 2, 2)));
    assert_eq!(get(5), Some((3, 3, 3)));
    assert_eq!(get(6), Some((1, 2, 2)));
    assert_eq!(get(7), Some((4, 4, 4)));
}

#[test]
fn fewer_than_five_buyers_score_one_to_n() {
    let members = vec![buyer("x", 3, 1, 10), buyer("y", 1, 2, 20)];
    let scores = score_quintiles(&members).unwrap();
    assert_eq!(scores[0], Some(RfmScores { r: 1, f: 1, m: 1 }));
    assert_eq!(scores[1], Some(RfmScores { r: 2, f: 2, m: 2 }));
    assert_eq!(score_quintiles(&[]).unwrap(), vec![]);
    assert_eq!(score_quintiles(&[idle("q")]).unwrap(), vec![None]);
}

#[test]
fn fixed_boundaries_are_inclusive_as_documented() {
    let b = RfmBoundaries::default();
    let cases = [
        (buyer("a", 30, 1, 9_999), (5, 1, 1)),
        (buyer("b", 31, 2, 10_000), (4, 2, 2)),
        (buyer("c", 90, 4, 99_999), (4, 3, 3)),
        (buyer("d", 365, 9, 100_000), (2, 4, 4)),
        (buyer("e", 366, 10, 500_000), (1, 5, 5)),
        (buyer("f", 0, 1_000, -5), (5, 5, 1)),
    ];
    let members: Vec<_> = cases.iter().map(|c| c.0.clone()).collect();
    let scores = score(&members, &RfmMethod::Fixed(b)).unwrap();
    for (got, (member, want)) in scores.iter().zip(&cases) {
        let got = got.map(|s| (s.r, s.f, s.m));
        assert_eq!(got, Some(*want), "{member:?}");
    }
}

#[test]
fn unordered_boundaries_duplicate_ids_and_contradictions_are_refused() {
    let bad = RfmBoundaries { frequency: [2, 2, 5, 10], ..RfmBoundaries::default() };
    assert_eq!(score_fixed(&[], &bad).unwrap_err().code(), "invalid_config");
    let dup = vec![buyer("a", 1, 1, 1), idle("a")];
    assert_eq!(score_quintiles(&dup).unwrap_err(), InsightError::DuplicateMemberId("a".into()));
    let mut no_recency = buyer("a", 1, 1, 1);
    no_recency.recency_days = None;
    let mut no_orders = buyer("b", 1, 1, 1);
    no_orders.frequency = 0;
    let mut backwards = buyer("c", 10, 1, 1);
    backwards.first_order_age_days = Some(9);
    for member in [no_recency, no_orders, backwards] {
        assert_eq!(score_quintiles(&[member]).unwrap_err().code(), "invalid_input");
    }
}

#[test]
fn fm_rounds_half_up() {
    let s = |f, m| RfmScores { r: 3, f, m }.fm();
    assert_eq!((s(1, 1), s(1, 2), s(2, 3), s(4, 5), s(5, 5), s(1, 5)), (1, 2, 3, 5, 5, 3));
}

#[test]
fn methods_read_from_json_with_a_tag() {
    let q: RfmMethod = serde_json::from_str(r#"{"method":"quintiles"}"#).unwrap();
    assert_eq!(q, RfmMethod::Quintiles);
    let f: RfmMethod = serde_json::from_str(
        r#"{"method":"fixed","recency_days":[7,30,90,180],"frequency":[2,3,4,5],"monetary_minor":[1,2,3,4]}"#,
    )
    .unwrap();
    assert!(matches!(f, RfmMethod::Fixed(b) if b.recency_days == [7, 30, 90, 180]));
}
