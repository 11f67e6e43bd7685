//! Properties that must hold for every valid input.

use loyalty_insight::bgnbd::{self, BgNbdObservation, BgNbdParams};
use loyalty_insight::gamma_gamma::{self, GammaGammaParams, SpendObservation};
use loyalty_insight::rfm::{score_quintiles, MemberSummary};
use proptest::prelude::*;
use std::collections::HashMap;

/// A positive parameter spread over six orders of magnitude.
fn positive() -> impl Strategy<Value = f64> {
    (-3.0_f64..3.0).prop_map(|e| 10_f64.powf(e))
}

fn params() -> impl Strategy<Value = BgNbdParams> {
    (positive(), positive(), positive(), positive())
        .prop_map(|(r, alpha, a, b)| BgNbdParams::new(r, alpha, a, b).unwrap())
}

/// (x, tₓ, T) with T up to 10,000 time units and up to 5,000 repeat purchases.
fn history() -> impl Strategy<Value = BgNbdObservation> {
    (0_u32..5_000, 0.0_f64..=1.0, 0.0_f64..10_000.0).prop_map(|(x, share, age)| {
        let t_x = if x == 0 { 0.0 } else { share * age };
        BgNbdObservation::new(x, t_x, age).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// The likelihood is a finite number whatever the parameters and history.
    #[test]
    fn bgnbd_log_likelihood_is_finite_and_a_log_probability(p in params(), h in history()) {
        let ll = bgnbd::log_likelihood(&p, &h);
        prop_assert!(ll.is_finite(), "ln L = {ll} at {p:?} {h:?}");
    }

    /// P(alive) is a probability, 1 without repeat purchases, lower after a longer silence and
    /// higher the later the last purchase.
    #[test]
    fn p_alive_is_a_probability_that_falls_with_silence(p in params(), h in history(), extra in 0.0_f64..1_000.0) {
        let alive = bgnbd::p_alive(&p, &h);
        prop_assert!((0.0..=1.0).contains(&alive));
        if h.x() == 0 {
            prop_assert_eq!(alive, 1.0);
        }
        let older = BgNbdObservation::new(h.x(), h.t_x(), h.age() + extra).unwrap();
        prop_assert!(bgnbd::p_alive(&p, &older) <= alive);
        if h.x() > 0 {
            let recent = BgNbdObservation::new(h.x(), h.age(), h.age()).unwrap();
            prop_assert!(bgnbd::p_alive(&p, &recent) >= alive);
        }
    }

}

proptest! {
    // Each case sums series of up to ~10^5 terms; fewer cases keep the debug build quick.
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Expected purchases are finite, non-negative and grow with the horizon, within the
    /// domain where the series converges (horizons up to 50 times α + T).
    #[test]
    fn expected_purchases_grow_with_the_horizon(p in params(), h in history(), share in 0.0_f64..1.0) {
        let longest = 50.0 * (p.alpha() + h.age());
        let (t1, t2) = (share * longest, longest);
        let e1 = bgnbd::expected_purchases(&p, &h, t1).unwrap();
        let e2 = bgnbd::expected_purchases(&p, &h, t2).unwrap();
        prop_assert!(e1.is_finite() && e1 >= 0.0 && e2.is_finite());
        prop_assert!(e2 >= e1 * (1.0 - 1e-9), "E[Y({t1})] = {e1} > E[Y({t2})] = {e2}");
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn gamma_gamma_log_likelihood_is_finite(
        (p, q, v) in (positive(), positive(), positive()),
        x in 1_u32..5_000,
        mean in (-2.0_f64..7.0).prop_map(|e| 10_f64.powf(e)),
    ) {
        let params = GammaGammaParams::new(p, q, v).unwrap();
        let obs = SpendObservation::new(x, mean).unwrap();
        prop_assert!(gamma_gamma::log_likelihood(&params, &obs).is_finite());
    }
}

/// Characters of generated ids: a small alphabet so ids share prefixes, with upper case (which
/// sorts before lower case byte-wise) and a two-byte character.
const ALPHABET: [char; 8] = ['a', 'b', 'c', 'A', 'B', '0', '9', '\u{e9}'];

/// A member drawn with many ties and ids sharing prefixes, so tie-breaks decide.
fn member() -> impl Strategy<Value = MemberSummary> {
    let id = prop::collection::vec(0..ALPHABET.len(), 0..10)
        .prop_map(|v| v.into_iter().map(|i| ALPHABET[i]).collect::<String>());
    (id, prop::option::of(0_u32..6), 1_u32..4, -2_i64..3).prop_map(|(id, recency, frequency, monetary)| MemberSummary {
        member_id: id.into(),
        recency_days: recency,
        frequency: if recency.is_some() { frequency } else { 0 },
        monetary_minor: monetary * 1_000,
        first_order_age_days: recency.map(|r| r + 7),
    })
}

/// NTILE(5) the way the SQL standard words it, by counting rows per bucket.
fn sql_ntile(rows: usize) -> Vec<u8> {
    let groups = rows.min(5);
    let mut out = Vec::new();
    for g in 0..groups {
        let size = rows / groups + usize::from(g < rows % groups);
        out.extend(std::iter::repeat_n(g as u8 + 1, size));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Quintile scores equal NTILE(5) over the documented SQL orderings, computed naively.
    #[test]
    fn quintiles_match_the_sql_definition(members in prop::collection::vec(member(), 0..300)) {
        let mut members = members;
        members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        members.dedup_by(|a, b| a.member_id == b.member_id);
        members.reverse();
        let got = score_quintiles(&members).unwrap();
        let buyers: Vec<&MemberSummary> = members.iter().filter(|m| m.frequency > 0).collect();
        let tiles = sql_ntile(buyers.len());
        let mut by_r = buyers.clone();
        by_r.sort_by(|a, b| b.recency_days.cmp(&a.recency_days).then(a.member_id.cmp(&b.member_id)));
        let mut by_f = buyers.clone();
        by_f.sort_by(|a, b| a.frequency.cmp(&b.frequency).then(a.member_id.cmp(&b.member_id)));
        let mut by_m = buyers.clone();
        by_m.sort_by(|a, b| a.monetary_minor.cmp(&b.monetary_minor).then(a.member_id.cmp(&b.member_id)));
        let tile_of = |order: &[&MemberSummary]| -> HashMap<std::sync::Arc<str>, u8> {
            order.iter().zip(&tiles).map(|(m, &t)| (m.member_id.clone(), t)).collect()
        };
        let (r, f, m) = (tile_of(&by_r), tile_of(&by_f), tile_of(&by_m));
        for (member, scores) in members.iter().zip(&got) {
            match scores {
                None => prop_assert_eq!(member.frequency, 0),
                Some(s) => {
                    let id = &member.member_id;
                    prop_assert_eq!((s.r, s.f, s.m), (r[id], f[id], m[id]));
                }
            }
        }
    }
}
