//! Random sequences of membership operations over random spans of time: whatever is accepted
//! or refused, a membership never has overlapping terms, never gives back more than its fees,
//! has at most one trial, and its status and benefits window agree with its terms.

use jiff::{SignedDuration, Timestamp};
use loyalty_core::ids::MemberId;
use loyalty_core::membership::checks::{problems, Stored};
use loyalty_core::membership::{rules, Membership, Payment, RefundRequest, Status};
use loyalty_core::Program;
use proptest::prelude::*;

const PLANS: &str = r#"
[[plans]]
code = "m"
name = "Month"
price_minor = 3100
term = "month"
trial = { days = 7 }
refund = "pro_rata"
[[plans]]
code = "y"
name = "Year"
price_minor = 36500
term = "year"
refund = "pro_rata_minus_savings"
"#;

#[derive(Debug, Clone)]
enum Op {
    Pay { plan: bool, paid: i64, trial: bool, back_hours: i64 },
    Upgrade { plan: bool, paid: i64 },
    Cancel,
    Resume,
    Refund { amount: Option<i64>, saved: i64 },
    Advance,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Mostly the price (or nothing, for a trial), sometimes anything.
        (any::<bool>(), prop_oneof![3 => Just(-1i64), 1 => 0..40_000i64], any::<bool>(), 0..200i64)
            .prop_map(|(plan, paid, trial, back_hours)| Op::Pay { plan, paid, trial, back_hours }),
        (any::<bool>(), prop_oneof![Just(0i64), 0..40_000i64]).prop_map(|(plan, paid)| Op::Upgrade { plan, paid }),
        Just(Op::Cancel),
        Just(Op::Resume),
        (proptest::option::of(0..40_000i64), 0..5_000i64).prop_map(|(amount, saved)| Op::Refund { amount, saved }),
        Just(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn memberships_stay_sound(steps in proptest::collection::vec((op(), 0..1_000i64), 1..40)) {
        let program = Program::from_toml(PLANS).unwrap();
        let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut m = Membership::new(MemberId::parse("p").unwrap(), "", now);
        let mut accepted = 0;
        for (i, (op, hours)) in steps.into_iter().enumerate() {
            now = now.checked_add(SignedDuration::from_hours(hours)).unwrap();
            let before = m.clone();
            let code = |b: bool| if b { "m" } else { "y" };
            let result = match op {
                Op::Pay { plan, paid, trial, back_hours } => {
                    let started_at = now.checked_sub(SignedDuration::from_hours(back_hours)).unwrap();
                    let price = match (trial, plan) { (true, _) => 0, (false, true) => 3100, (false, false) => 36500 };
                    let paid = if paid < 0 { price } else { paid };
                    let p = Payment { id: format!("p{i}"), plan: code(plan).into(), paid_minor: paid, payment_ref: "r".into(), started_at, trial };
                    rules::subscribe(&mut m, &program, &p, ("base", None), now).map(drop)
                }
                Op::Upgrade { plan, paid } => {
                    let p = Payment { id: format!("u{i}"), plan: code(plan).into(), paid_minor: paid, payment_ref: "r".into(), started_at: now, trial: false };
                    rules::upgrade(&mut m, &program, &p, ("base", None), now).map(drop)
                }
                Op::Cancel => rules::cancel(&mut m, &program, "why", now).map(drop),
                Op::Resume => rules::resume(&mut m, &program, now).map(drop),
                Op::Refund { amount, saved } => {
                    let r = RefundRequest { id: format!("r{i}"), amount_minor: amount, reason: "why".into() };
                    rules::refund(&mut m, &program, &r, saved, now).map(drop)
                }
                Op::Advance => {
                    for pack in rules::due_packs(&m, &program, now) {
                        rules::pack_issued(&mut m, &pack, 0, "none".into());
                    }
                    rules::advance(&mut m, &program, now);
                    Ok(())
                }
            };
            match result {
                Err(_) => prop_assert_eq!(&m, &before, "a refusal changes nothing"),
                Ok(()) => accepted += 1,
            }
            m.assert_invariants();
            let grace = program.file.memberships.grace_days;
            let cover = m.cover(grace);
            let stored = Stored { cover: cover.as_ref(), events: m.next_seq - 1, max_seq: m.next_seq - 1, next_due_at: rules::next_due(&m, &program) };
            let found = problems(&m, &stored, &program);
            prop_assert!(found.is_empty(), "{:?}", found);
            let fees: i64 = m.terms.iter().map(|t| t.paid_minor).sum();
            let back: i64 = m.terms.iter().map(|t| t.refunded_minor).sum();
            prop_assert!(back <= fees, "refunded {} of fees {}", back, fees);
            let status = m.status_at(now, grace);
            prop_assert_eq!(status.is_none(), m.terms.is_empty());
            if let (Some(s), Some(c)) = (status, &cover) {
                prop_assert_eq!(s.has_benefits(), c.applies_at(now), "status {:?} and the window {:?} agree", s, c);
            }
            if status == Some(Status::Trial) {
                prop_assert!(m.trial_used);
            }
        }
        // Most sequences get somewhere (a refusal-only run is allowed, but says so on failure).
        let _ = accepted;
    }
}
