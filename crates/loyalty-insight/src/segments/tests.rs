use super::*;
use crate::rfm::{score_quintiles, MemberSummary};

fn buyer(id: &str, recency: u32, frequency: u32, monetary: i64) -> MemberSummary {
    MemberSummary {
        member_id: id.into(),
        recency_days: Some(recency),
        frequency,
        monetary_minor: monetary,
        first_order_age_days: Some(400),
    }
}

#[test]
fn value_segments_cut_at_the_mean_with_ties_counting_high() {
    // Means over the three buyers: recency 20, frequency 2, monetary 300.
    let members = vec![
        buyer("a", 20, 2, 300),
        buyer("b", 10, 1, 500),
        buyer("c", 30, 3, 100),
        MemberSummary {
            member_id: "d".into(),
            recency_days: None,
            frequency: 0,
            monetary_minor: -50,
            first_order_age_days: Some(500),
        },
    ];
    let got = value_segments(&members).unwrap();
    assert_eq!(
        got.segments,
        vec![
            ValueSegment::ImportantValue,
            ValueSegment::ImportantDevelop,
            ValueSegment::GeneralKeep,
            ValueSegment::NoPurchase
        ]
    );
    let t = got.thresholds.unwrap();
    assert_eq!((t.buyers, t.mean_recency_days, t.mean_frequency, t.mean_monetary_minor), (3, 20.0, 2.0, 300.0));
}

#[test]
fn every_combination_of_levels_has_its_own_segment() {
    let mut seen = std::collections::HashSet::new();
    for bits in 0..8 {
        seen.insert(ValueSegment::from_levels(bits & 1 == 1, bits & 2 == 2, bits & 4 == 4));
    }
    assert_eq!(seen.len(), 8);
    assert!(!seen.contains(&ValueSegment::NoPurchase));
}

#[test]
fn the_score_map_is_total_and_uses_all_eleven_segments() {
    let mut seen = std::collections::HashSet::new();
    for r in 1..=5 {
        for f in 1..=5 {
            for m in 1..=5 {
                seen.insert(ScoreSegment::of(Some(RfmScores { r, f, m })));
            }
        }
    }
    assert_eq!(seen.len(), 11);
    assert!(!seen.contains(&ScoreSegment::NoPurchase));
    assert_eq!(ScoreSegment::of(None), ScoreSegment::NoPurchase);
    assert_eq!(ScoreSegment::of(Some(RfmScores { r: 5, f: 4, m: 5 })), ScoreSegment::Champions);
    assert_eq!(ScoreSegment::of(Some(RfmScores { r: 1, f: 1, m: 2 })), ScoreSegment::Lost);
}

#[test]
fn codes_are_the_json_forms() {
    for s in ValueSegment::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.code()));
    }
    for s in ScoreSegment::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.code()));
    }
}

#[test]
fn segments_compose_with_quintile_scores() {
    let members: Vec<_> = (0..10).map(|i| buyer(&format!("m{i}"), 10 * i, 10 - i, 1000 - 100 * i64::from(i))).collect();
    let segments = score_segments(&score_quintiles(&members).unwrap());
    assert_eq!(segments[0], ScoreSegment::Champions);
    assert_eq!(segments[9], ScoreSegment::Lost);
}
