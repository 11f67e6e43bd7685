//! A member's points account: the aggregate every points rule runs against.
//!
//! The store builds an [`Account`] from the member's row ([`StoredAccount`]) and loads its lots,
//! holds and growth into it (`stored.rs`); the caller runs rules with the current instant
//! (`lots.rs`: earning, activation, expiry, clawbacks, adjustments; `holds.rs`: checkout holds;
//! `spend.rs`, `tiers`); the writer takes the changes out ([`Account::take_changes`]) and
//! persists them with the balances in one transaction. The fields are the core's alone: outside
//! it an account is read through accessors, so no caller can move points past the rules and
//! their invariants.

mod holds;
mod lots;
mod stored;

pub use stored::{AccountChange, StoredAccount};

use crate::amount::Points;
use crate::calendar;
use crate::error::DomainError;
use crate::ids::MemberId;
use crate::ledger::*;
use jiff::Timestamp;

/// Most lots or holds one account may process in one call; a bound on every loop.
pub const MAX_OPEN_LOTS: usize = 1_000_000;

/// The fields are `pub(crate)`: the rules in this module and the core's others (`tiers`,
/// `spend`, `order`, `engagement`) move them; everything outside reads them through accessors
/// and builds or empties an account through `stored.rs`.
#[derive(Debug, Clone)]
pub struct Account {
    pub(crate) member_id: MemberId,
    pub(crate) status: MemberStatus,
    pub(crate) buckets: Buckets,
    pub(crate) next_seq: i64,
    pub(crate) next_lot_no: i64,
    /// Every lot with points left, plus lots that open holds took points from; after a
    /// partial load, only pending lots, lots due by the load's instant and held lots (see
    /// `unloaded_active`).
    pub(crate) lots: Vec<Lot>,
    /// Points in active lots that were not loaded with this account. A batch that only earns
    /// or advances does not need the spending order, so the store loads a member's pending
    /// lots and the lots due by `now`, not the whole active FIFO; the points of the lots left
    /// behind are counted here. No rule touches them, so the invariant
    /// `active = Σ active lots + unloaded_active` still checks every change the rules make.
    /// Spending needs every lot: it asserts this is zero (the engine loads spenders in full).
    pub(crate) unloaded_active: Points,
    /// Open holds, plus any hold a command in flight refers to.
    pub(crate) holds: Vec<Hold>,
    /// Entries appended since the account was loaded, in order.
    pub(crate) new_entries: Vec<Entry>,
    /// The member's tier (see `tiers`).
    pub(crate) tier: crate::tiers::TierState,
    /// Tier state or growth changed since loading.
    pub(crate) tier_dirty: bool,
    /// Lifetime growth.
    pub(crate) growth_total: i64,
    /// Growth entries recent enough to matter for the qualification window, plus new ones.
    pub(crate) growth_entries: Vec<crate::tiers::GrowthEntry>,
    pub(crate) new_growth: Vec<crate::tiers::GrowthEntry>,
    /// Growth the store summed instead of loading its entries (see `tiers::growth_need`).
    pub(crate) growth_sum: Option<crate::tiers::GrowthSum>,
    pub(crate) next_growth_seq: i64,
    pub(crate) new_tier_events: Vec<crate::tiers::TierEvent>,
    pub(crate) next_tier_seq: i64,
    /// When the tier next needs a review (kept for the scheduler's index).
    pub(crate) tier_review_at: Option<Timestamp>,
}

/// What a clawback did: points taken from the member, and points forgiven (clamp policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clawback {
    pub taken: Points,
    pub forgiven: Points,
}

impl Account {
    /// A new member's account: what [`StoredAccount::new`] says a new row holds.
    pub fn new(member_id: MemberId) -> Self {
        Self::from_stored(StoredAccount::new(member_id))
    }

    /// Balances as they are at `now`, without changing anything: what a read shows even when
    /// the scheduler has not yet run.
    pub fn balances_at(&self, now: Timestamp) -> (Buckets, Vec<(Points, Timestamp)>) {
        assert!(self.lots_fully_loaded(), "{}: expiring points need every active lot", self.member_id);
        let mut view = self.clone();
        view.advance(now);
        let horizon = calendar::plus_secs(now, 30 * 86_400);
        let mut expiring: Vec<(Points, Timestamp)> = view
            .lots
            .iter()
            .filter(|l| l.status == LotStatus::Active && l.remaining.is_positive())
            .filter_map(|l| l.expires_at.filter(|e| *e <= horizon).map(|e| (l.remaining, e)))
            .collect();
        expiring.sort_by_key(|(_, e)| *e);
        (view.buckets, expiring)
    }

    /// Every lot with points is loaded (not a partial load with active points left behind).
    pub fn lots_fully_loaded(&self) -> bool {
        self.unloaded_active.is_zero()
    }

    /// Lots and growth are loaded as reads load them: any rule or view may run on it.
    pub fn is_fully_loaded(&self) -> bool {
        self.lots_fully_loaded() && self.growth_sum.is_none()
    }

    pub fn can_transact(&self) -> Result<(), DomainError> {
        match self.status {
            MemberStatus::Active => Ok(()),
            other => Err(DomainError::MemberInactive { member: self.member_id.to_string(), status: other.to_string() }),
        }
    }

    pub(crate) fn push(
        &mut self,
        kind: EntryKind,
        points: Points,
        source: (SourceKind, &str),
        lot: Option<i64>,
        at: Timestamp,
        note: Option<String>,
    ) {
        assert!(self.buckets.is_well_formed(), "balances went negative: {:?}", self.buckets);
        let seq = self.next_seq;
        self.next_seq += 1;
        self.new_entries.push(Entry {
            seq,
            kind,
            points,
            source_kind: source.0,
            source_id: source.1.to_owned(),
            lot_no: lot,
            at,
            after: self.buckets,
            note,
        });
    }

    pub(crate) fn lot_mut(&mut self, lot_no: i64) -> &mut Lot {
        self.lots.iter_mut().find(|l| l.lot_no == lot_no).expect("a lot referenced by this account is loaded with it")
    }

    /// Checks the account against its lots and holds. A failure is a bug: it stops the world.
    pub fn assert_invariants(&self) {
        let b = self.buckets;
        assert!(b.is_well_formed(), "{}: negative bucket {b:?}", self.member_id);
        assert!(b.debt.is_zero() || b.active.is_zero(), "{}: debt {} with active {}", self.member_id, b.debt, b.active);
        let sum = |s: LotStatus| self.lots.iter().filter(|l| l.status == s).map(|l| l.remaining).sum::<Points>();
        assert_eq!(sum(LotStatus::Pending), b.pending, "{}: pending ≠ Σ pending lots", self.member_id);
        assert!(!self.unloaded_active.is_negative(), "{}: negative unloaded active points", self.member_id);
        assert_eq!(
            sum(LotStatus::Active) + self.unloaded_active,
            b.active,
            "{}: active ≠ Σ active lots (+ {} in lots not loaded)",
            self.member_id,
            self.unloaded_active
        );
        let held: Points = self.holds.iter().filter(|h| h.status == HoldStatus::Open).map(|h| h.points).sum();
        assert_eq!(held, b.held, "{}: held ≠ Σ open holds", self.member_id);
        for l in &self.lots {
            assert!(
                (Points::ZERO..=l.granted).contains(&l.remaining),
                "{}: lot {} remaining {} outside 0..={}",
                self.member_id,
                l.lot_no,
                l.remaining,
                l.granted
            );
        }
        for h in self.holds.iter().filter(|h| h.status == HoldStatus::Open) {
            assert_eq!(
                h.allocations.iter().map(|a| a.points).sum::<Points>(),
                h.points,
                "{}: hold {} allocations",
                self.member_id,
                h.hold_id
            );
        }
        if let Some(last) = self.new_entries.last() {
            assert_eq!(last.after, b, "{}: last entry's balances differ from the account", self.member_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::Program;

    /// An account loaded in part after 300 points activated: the active lot stays in the store.
    fn partial_with_one_active_lot() -> Account {
        let p = Program::default_program();
        let mut full = Account::new(MemberId::parse("m").unwrap());
        let t0: Timestamp = "2026-01-10T00:00:00Z".parse().unwrap();
        full.earn(&p, (SourceKind::Order, "o1"), Points::new(300), t0, t0);
        full.advance("2026-03-01T00:00:00Z".parse().unwrap());
        let stored = StoredAccount {
            buckets: full.buckets(),
            next_lot_no: 2,
            next_seq: 3,
            ..StoredAccount::new(full.member_id)
        };
        let mut part = Account::from_stored(stored);
        part.set_partially_loaded();
        part
    }

    #[test]
    #[should_panic(expected = "active ≠ Σ active lots")]
    fn a_change_to_active_points_without_a_lot_is_caught_on_a_partial_load() {
        let mut part = partial_with_one_active_lot();
        assert_eq!((part.unloaded_active(), part.lots().len()), (Points::new(300), 0));
        part.assert_invariants();
        part.buckets.active += Points::new(1);
        part.assert_invariants();
    }
}
