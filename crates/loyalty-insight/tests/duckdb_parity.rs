//! The crate against DuckDB, member for member.
//!
//! The fixtures were written by `tests/duckdb_check.py`, which runs the SQL of docs/INSIGHT.md
//! in DuckDB over generated members: ids with shared prefixes, upper and lower case and
//! multi-byte characters (so the byte-wise tie-break matters), heavy ties, zero and negative
//! monetary values, non-buyers, and in the second file monetary values near 2⁶² whose sum
//! overflows 64 bits.

use loyalty_insight::rfm::{score_quintiles, MemberSummary};
use loyalty_insight::segments::{score_segments, value_segments};

/// One fixture row: the member, then what DuckDB computed for it.
struct Expected {
    member: MemberSummary,
    rfm: Option<(u8, u8, u8)>,
    value_segment: String,
    score_segment: String,
}

fn parse(tsv: &str) -> Vec<Expected> {
    let optional = |field: &str| (!field.is_empty()).then(|| field.parse::<u32>().unwrap());
    tsv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            assert_eq!(f.len(), 10, "malformed fixture line {line:?}");
            let score = |s: &str| s.parse::<u8>().unwrap();
            Expected {
                member: MemberSummary {
                    member_id: f[0].into(),
                    recency_days: optional(f[1]),
                    frequency: f[2].parse().unwrap(),
                    monetary_minor: f[3].parse().unwrap(),
                    first_order_age_days: optional(f[4]),
                },
                rfm: (!f[5].is_empty()).then(|| (score(f[5]), score(f[6]), score(f[7]))),
                value_segment: f[8].to_owned(),
                score_segment: f[9].to_owned(),
            }
        })
        .collect()
}

fn check(tsv: &str) {
    let rows = parse(tsv);
    let members: Vec<MemberSummary> = rows.iter().map(|r| r.member.clone()).collect();
    let scores = score_quintiles(&members).unwrap();
    let values = value_segments(&members).unwrap().segments;
    let segments = score_segments(&scores);
    for (i, row) in rows.iter().enumerate() {
        let id = &row.member.member_id;
        assert_eq!(scores[i].map(|s| (s.r, s.f, s.m)), row.rfm, "RFM of {id:?}");
        assert_eq!(values[i].code(), row.value_segment, "value segment of {id:?}");
        assert_eq!(segments[i].code(), row.score_segment, "score segment of {id:?}");
    }
}

#[test]
fn scores_and_segments_equal_duckdb_for_every_member() {
    check(include_str!("fixtures/duckdb_rfm.tsv"));
}

#[test]
fn value_segments_stay_exact_when_sums_overflow_64_bits() {
    check(include_str!("fixtures/duckdb_rfm_huge.tsv"));
}
