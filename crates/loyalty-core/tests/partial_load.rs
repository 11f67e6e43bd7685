//! Proves that a partially loaded account (pending lots, lots due by `now` and lots open holds
//! took from; the rest counted in `unloaded_active`) earns and advances exactly as the fully
//! loaded one does, keeps its invariants, and refuses to spend rather than spend in the wrong
//! order. The engine loads members partially for batches of orders and advances only.

use jiff::{SignedDuration, Timestamp};
use loyalty_core::account::{Account, StoredAccount};
use loyalty_core::ids::MemberId;
use loyalty_core::ledger::{Hold, HoldStatus, Lot, LotStatus, SourceKind};
use loyalty_core::program::{ExpiryPolicy, ProgramFile};
use loyalty_core::{Money, Points, Program};
use proptest::prelude::*;

fn program(rolling: bool) -> Program {
    let mut f = ProgramFile::default();
    if rolling {
        f.expiry = ExpiryPolicy::Rolling { days: 20 };
    }
    Program::from_file(f).unwrap()
}

/// The member's row as the writer left `acc`: what a load starts from.
fn stored(acc: &Account) -> StoredAccount {
    StoredAccount {
        member_id: acc.member_id().clone(),
        status: acc.status(),
        buckets: acc.buckets(),
        next_seq: acc.next_seq(),
        next_lot_no: acc.next_lot_no(),
        tier: acc.tier().clone(),
        tier_review_at: acc.tier_review_at(),
        growth_total: acc.growth_total(),
        next_growth_seq: acc.next_growth_seq(),
        next_tier_seq: acc.next_tier_seq(),
    }
}

/// What the store hands the engine for a partial load at `now`: what an earn or an advance
/// can touch, with the new entries of earlier work already written.
fn partial_copy(full: &Account, now: Timestamp) -> Account {
    let held: Vec<i64> = full
        .holds()
        .iter()
        .filter(|h| h.status == HoldStatus::Open)
        .flat_map(|h| h.allocations.iter().map(|a| a.lot_no))
        .collect();
    let mut p = Account::from_stored(stored(full));
    let wanted = |l: &&Lot| {
        l.status == LotStatus::Pending
            || (l.status == LotStatus::Active && l.remaining.is_positive() && l.expires_at.is_some_and(|e| e <= now))
            || held.contains(&l.lot_no)
    };
    for l in full.lots().iter().filter(wanted) {
        p.load_lot(Lot { dirty: false, ..l.clone() });
    }
    for h in full.holds() {
        p.load_hold(Hold { dirty: false, ..h.clone() });
    }
    p.set_partially_loaded();
    p
}

#[derive(Debug, Clone)]
enum Op {
    Earn(i64, i64),
    Wait(i64),
    Hold(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1i64..5_000, 0i64..30).prop_map(|(p, d)| Op::Earn(p, d)),
        3 => (1i64..40 * 86_400).prop_map(Op::Wait),
        1 => (100i64..2_000).prop_map(Op::Hold),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn earning_and_advancing_on_a_partial_load_match_the_full_account(ops in proptest::collection::vec(op(), 1..60), rolling in any::<bool>()) {
        let p = program(rolling);
        let mut full = Account::new(MemberId::parse("m1").unwrap());
        let mut now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Wait(secs) => now = now.checked_add(SignedDuration::from_secs(secs)).unwrap(),
                Op::Earn(pts, days_ago) => {
                    let paid = now.checked_sub(SignedDuration::from_hours(24 * days_ago)).unwrap();
                    let mut part = partial_copy(&full, now);
                    part.assert_invariants();
                    let before = full.new_entries().len();
                    for acc in [&mut full, &mut part] {
                        acc.advance(now);
                        acc.earn(&p, (SourceKind::Order, &format!("o{n}")), Points::new(pts), paid, now);
                        acc.advance(now);
                        acc.assert_invariants();
                    }
                    prop_assert_eq!(&full.new_entries()[before..], part.new_entries());
                    prop_assert_eq!(full.buckets(), part.buckets());
                }
                // Spending is done on the full account only (the engine loads spenders in full).
                Op::Hold(pts) => {
                    full.advance(now);
                    let _ = full.hold(&p, &format!("c{n}"), Points::new(pts), Money::new(1_000_000), 3_600, now);
                }
            }
            let mut part = partial_copy(&full, now);
            let before = full.new_entries().len();
            full.advance(now);
            part.advance(now);
            part.assert_invariants();
            prop_assert_eq!(&full.new_entries()[before..], part.new_entries());
            prop_assert_eq!(full.buckets(), part.buckets());
        }
    }
}

/// An account loaded in part after 300 points activated: the active lot stays in the store.
fn partial_with_one_active_lot() -> (Program, Timestamp, Account) {
    let p = program(false);
    let mut full = Account::new(MemberId::parse("m").unwrap());
    let t0: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
    full.earn(&p, (SourceKind::Order, "o1"), Points::new(300), t0, t0);
    let t1: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    full.advance(t1);
    let part = partial_copy(&full, t1);
    (p, t1, part)
}

#[test]
#[should_panic(expected = "spending from a partially loaded account")]
fn spending_from_a_partial_load_stops_the_world() {
    let (p, t1, mut part) = partial_with_one_active_lot();
    assert_eq!((part.unloaded_active(), part.lots().len()), (Points::new(300), 0), "the active lot stays in the store");
    part.assert_invariants();
    let _ = part.hold(&p, "c1", Points::new(100), Money::new(1_000_000), 600, t1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Growth loaded as a write loads it (entries near the window's edges, the middle as one
    /// sum) gives every window a write can evaluate the same growth as every entry does.
    #[test]
    fn summed_growth_counts_like_every_entry(
        growth in proptest::collection::vec((1i64..2_000, 0i64..800), 0..60),
        ends in proptest::collection::vec(0i64..30, 1..5),
    ) {
        use loyalty_core::tiers::{growth_in_window, growth_need, GrowthEntry, GrowthKind, GrowthSum};
        let p = program(false);
        let now: Timestamp = "2026-06-15T08:00:00Z".parse().unwrap();
        let mut full = Account::new(MemberId::parse("g").unwrap());
        for (i, (amount, days_ago)) in growth.iter().enumerate() {
            let at = now.checked_sub(SignedDuration::from_hours(24 * days_ago)).unwrap();
            full.add_growth(&p, GrowthKind::Order, &format!("o{i}"), *amount, at, now);
        }
        let need = growth_need(&full, &p, now);
        let (a, b) = need.summed.expect("a rolling window has a middle");
        let mut part = Account::from_stored(stored(&full));
        let summed = |g: &&GrowthEntry| g.at > a && g.at <= b;
        for g in full.growth_entries().iter().filter(|g| need.from.is_none_or(|f| g.at > f) && !summed(g)) {
            part.load_growth_entry(g.clone());
        }
        let amount = full.growth_entries().iter().filter(summed).map(|g| g.amount).sum();
        part.end_growth_load(Some(GrowthSum { after: a, upto: b, amount }));
        for d in ends {
            let end = now.checked_add(SignedDuration::from_hours(24 * d)).unwrap();
            prop_assert_eq!(growth_in_window(&full, &p, end), growth_in_window(&part, &p, end));
        }
    }
}
