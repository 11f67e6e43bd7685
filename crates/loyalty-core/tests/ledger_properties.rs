//! Proves that any sequence of ledger operations keeps every invariant: balances never go
//! negative except through debt, lots stay within their grants, held points match open holds,
//! and the entries replayed from zero equal the balances (what `loyalty verify` checks).

use jiff::Timestamp;
use loyalty_core::account::Account;
use loyalty_core::ids::MemberId;
use loyalty_core::ledger::{HoldStatus, LotStatus, SourceKind};
use loyalty_core::program::{ProgramFile, RefundPolicy};
use loyalty_core::verify::{verify_member, MemberHistory};
use loyalty_core::{Money, Points, Program};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Earn(i64),
    Wait(i64),
    Hold(i64, i64),
    Capture(usize),
    Release(usize),
    Clawback(usize, i64),
    Adjust(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..5_000).prop_map(Op::Earn),
        (1i64..40 * 86_400).prop_map(Op::Wait),
        (100i64..3_000, 60i64..7_200).prop_map(|(p, ttl)| Op::Hold(p, ttl)),
        (0usize..8).prop_map(Op::Capture),
        (0usize..8).prop_map(Op::Release),
        (0usize..8, 1i64..5_000).prop_map(|(i, p)| Op::Clawback(i, p)),
        (-2_000i64..2_000).prop_map(Op::Adjust),
    ]
}

fn program(policy: RefundPolicy, rolling: bool) -> Program {
    let mut f = ProgramFile { refund_policy: policy, ..ProgramFile::default() };
    if rolling {
        f.expiry = loyalty_core::program::ExpiryPolicy::Rolling { days: 20 };
    }
    Program::from_file(f).unwrap()
}

/// Runs `ops` and returns the account plus every lot ever made (the account keeps them all
/// here because nothing is unloaded between operations).
fn run(ops: &[Op], p: &Program) -> Account {
    let mut acc = Account::new(MemberId::parse("m1").unwrap());
    let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let mut orders: Vec<(Option<i64>, i64)> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        acc.advance(now);
        match *op {
            Op::Earn(pts) => {
                let lot = acc.earn(p, (SourceKind::Order, &format!("o{n}")), Points::new(pts), now, now);
                orders.push((lot, pts));
            }
            Op::Wait(secs) => now = now.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap(),
            Op::Hold(pts, ttl) => {
                let before = acc.buckets().available();
                let r = acc.hold(p, &format!("c{n}"), Points::new(pts), Money::new(1_000_000), ttl, now);
                assert_eq!(r.is_ok(), pts <= before.get(), "a hold succeeds exactly when points are available");
            }
            Op::Capture(i) | Op::Release(i) => {
                if let Some(id) = acc.holds().get(i).map(|h| h.hold_id.clone()) {
                    let status = acc.holds()[i].status;
                    let r = if matches!(op, Op::Capture(_)) { acc.capture(&id, now) } else { acc.release(&id, now) };
                    if status == HoldStatus::Open {
                        assert!(r.is_ok());
                    }
                }
            }
            Op::Clawback(i, pts) => {
                if let Some(&(lot, earned)) = orders.get(i) {
                    let take = pts.min(earned);
                    let before = acc.buckets();
                    let c = acc.clawback(p, (SourceKind::Refund, &format!("r{n}")), lot, Points::new(take), now);
                    assert_eq!(c.taken + c.forgiven, Points::new(take));
                    if p.file.refund_policy == RefundPolicy::Clamp {
                        assert_eq!(acc.buckets().debt, before.debt, "clamp never creates debt");
                    }
                }
            }
            Op::Adjust(pts) => {
                let before = acc.buckets().available();
                let r = acc.adjust(p, &format!("a{n}"), Points::new(pts), "test".into(), now);
                if pts > 0 {
                    assert!(r.is_ok());
                } else if pts < 0 {
                    assert_eq!(r.is_ok(), -pts <= before.get());
                }
            }
        }
        acc.advance(now);
        acc.assert_invariants();
    }
    acc
}

fn history(acc: &Account) -> MemberHistory {
    MemberHistory {
        member_id: acc.member_id().to_string(),
        stored: acc.buckets(),
        entries: acc.new_entries().to_vec(),
        lots: acc.lots().to_vec(),
        open_holds: acc.holds().iter().filter(|h| h.status == HoldStatus::Open).cloned().collect(),
        growth: acc.new_growth().to_vec(),
        growth_total: acc.growth_total(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_sequence_keeps_every_invariant_under_debt(ops in proptest::collection::vec(op(), 1..80), rolling in any::<bool>()) {
        let acc = run(&ops, &program(RefundPolicy::Debt, rolling));
        let v = verify_member(&history(&acc));
        prop_assert!(v.is_empty(), "violations: {v:?}");
    }

    #[test]
    fn any_sequence_keeps_every_invariant_under_clamp(ops in proptest::collection::vec(op(), 1..80), rolling in any::<bool>()) {
        let acc = run(&ops, &program(RefundPolicy::Clamp, rolling));
        prop_assert_eq!(acc.buckets().debt, Points::ZERO);
        let v = verify_member(&history(&acc));
        prop_assert!(v.is_empty(), "violations: {v:?}");
    }
}

#[test]
fn a_tampered_history_is_caught_and_named() {
    let p = program(RefundPolicy::Debt, false);
    let acc = run(&[Op::Earn(500), Op::Wait(8 * 86_400), Op::Hold(200, 600)], &p);
    let mut h = history(&acc);
    assert!(verify_member(&h).is_empty());
    h.entries[1].points += Points::new(1);
    let v = verify_member(&h);
    assert_eq!(v[0].entry_seq, Some(2), "{v:?}");
    let mut h = history(&acc);
    h.stored.active += Points::new(5);
    assert!(verify_member(&h).iter().any(|v| v.entry_seq.is_none() && v.problem.contains("differ")));
}

#[test]
fn spending_takes_the_soonest_expiring_lot_and_releases_return_to_it() {
    let p = program(RefundPolicy::Debt, false);
    let mut acc = Account::new(MemberId::parse("m").unwrap());
    let t0: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
    acc.earn(&p, (SourceKind::Order, "old"), Points::new(300), t0, t0);
    let t1: Timestamp = "2026-03-10T00:00:00Z".parse().unwrap();
    acc.earn(&p, (SourceKind::Order, "new"), Points::new(300), t1, t1);
    let t2: Timestamp = "2026-04-01T00:00:00Z".parse().unwrap();
    acc.advance(t2);
    let id = acc.hold(&p, "c1", Points::new(400), Money::new(1_000_000), 600, t2).unwrap();
    assert_eq!(acc.lots()[0].remaining, Points::ZERO, "the older lot expires first and is spent first");
    assert_eq!(acc.lots()[1].remaining, Points::new(200));
    acc.release(&id, t2).unwrap();
    assert_eq!((acc.lots()[0].remaining, acc.lots()[1].remaining), (Points::new(300), Points::new(300)));
    assert!(acc.lots().iter().all(|l| l.status == LotStatus::Active));
    acc.assert_invariants();
}

#[test]
fn debt_is_settled_from_the_next_earning() {
    let p = program(RefundPolicy::Debt, false);
    let mut acc = Account::new(MemberId::parse("m").unwrap());
    let t0: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
    let lot = acc.earn(&p, (SourceKind::Order, "o1"), Points::new(1_000), t0, t0);
    let t1: Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
    acc.advance(t1);
    let h = acc.hold(&p, "c", Points::new(800), Money::new(1_000_000), 600, t1).unwrap();
    acc.capture(&h, t1).unwrap();
    let c = acc.clawback(&p, (SourceKind::Refund, "o1/r1"), lot, Points::new(1_000), t1);
    assert_eq!(c.taken, Points::new(1_000));
    assert_eq!((acc.buckets().available(), acc.buckets().debt), (Points::new(-800), Points::new(800)));
    acc.earn(&p, (SourceKind::Order, "o2"), Points::new(500), t1, t1);
    assert_eq!(
        (acc.buckets().pending, acc.buckets().debt),
        (Points::ZERO, Points::new(300)),
        "the new earning pays the debt first"
    );
    acc.earn(&p, (SourceKind::Order, "o3"), Points::new(500), t1, t1);
    assert_eq!((acc.buckets().pending, acc.buckets().debt), (Points::new(200), Points::ZERO));
    acc.assert_invariants();
}
