//! How an account crosses the store boundary: built from the member's row and the lots,
//! holds and growth loaded with it, read through accessors, and handing back what the rules
//! changed. Nothing outside the core sets an account's state: the loader hands rows in, the
//! writer takes changes out, and only the rules move points in between.

use super::Account;
use crate::amount::Points;
use crate::ids::MemberId;
use crate::ledger::*;
use crate::program::Program;
use crate::tiers::{GrowthEntry, GrowthSum, TierEvent, TierState};
use jiff::Timestamp;

/// What the member's row keeps of an account, as the store reads it.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    pub member_id: MemberId,
    pub status: MemberStatus,
    pub buckets: Buckets,
    pub next_seq: i64,
    pub next_lot_no: i64,
    pub tier: TierState,
    pub tier_review_at: Option<Timestamp>,
    pub growth_total: i64,
    pub next_growth_seq: i64,
    pub next_tier_seq: i64,
}

impl StoredAccount {
    /// What a new member's row holds: no points, no tier yet, every sequence at 1.
    pub fn new(member_id: MemberId) -> Self {
        Self {
            member_id,
            status: MemberStatus::Active,
            buckets: Buckets::default(),
            next_seq: 1,
            next_lot_no: 1,
            tier: TierState::default(),
            tier_review_at: None,
            growth_total: 0,
            next_growth_seq: 1,
            next_tier_seq: 1,
        }
    }
}

/// One change the rules made, handed out once by [`Account::take_changes`].
#[derive(Debug)]
pub enum AccountChange {
    /// A lot made or changed since it was loaded (inserted or updated whole).
    Lot(Lot),
    /// A hold made or settled since it was loaded.
    Hold(Hold),
    Entry(Entry),
    Growth(GrowthEntry),
    TierEvent(TierEvent),
}

impl Account {
    /// The account as stored, before its lots, holds and growth are loaded into it.
    pub fn from_stored(s: StoredAccount) -> Self {
        Account {
            member_id: s.member_id,
            status: s.status,
            buckets: s.buckets,
            next_seq: s.next_seq,
            next_lot_no: s.next_lot_no,
            lots: Vec::new(),
            unloaded_active: Points::ZERO,
            holds: Vec::new(),
            new_entries: Vec::new(),
            tier: s.tier,
            tier_dirty: false,
            growth_total: s.growth_total,
            growth_entries: Vec::new(),
            new_growth: Vec::new(),
            growth_sum: None,
            next_growth_seq: s.next_growth_seq,
            new_tier_events: Vec::new(),
            next_tier_seq: s.next_tier_seq,
            tier_review_at: s.tier_review_at,
        }
    }

    /// A stored lot, as the loader reads it (in `lot_no` order, or followed by
    /// [`Account::load_missing_lots`], which restores it).
    #[inline]
    pub fn load_lot(&mut self, lot: Lot) {
        debug_assert!(!lot.dirty, "a loaded lot has no unsaved change");
        self.lots.push(lot);
    }

    /// Stored lots a command needs beyond those loaded (the lots open holds or a cancelled
    /// redemption took points from); those already loaded are skipped. Keeps `lot_no` order.
    pub fn load_missing_lots(&mut self, lots: impl IntoIterator<Item = Lot>) {
        for lot in lots {
            if !self.lots.iter().any(|l| l.lot_no == lot.lot_no) {
                self.load_lot(lot);
            }
        }
        self.lots.sort_by_key(|l| l.lot_no);
    }

    /// The lots that the loaded open holds took points from and that are not loaded: a
    /// release gives points back to them, so they are loaded with the holds.
    pub fn held_lots_missing(&self) -> Vec<i64> {
        let mut missing: Vec<i64> = self
            .holds
            .iter()
            .flat_map(|h| h.allocations.iter().map(|a| a.lot_no))
            .filter(|no| !self.lots.iter().any(|l| l.lot_no == *no))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// A stored hold (an open one, or one a command names); a hold already loaded is skipped.
    pub fn load_hold(&mut self, hold: Hold) {
        debug_assert!(!hold.dirty, "a loaded hold has no unsaved change");
        if !self.holds.iter().any(|h| h.hold_id == hold.hold_id) {
            self.holds.push(hold);
        }
    }

    /// A stored growth entry (see `tiers::growth_need` for which the writer loads).
    #[inline]
    pub fn load_growth_entry(&mut self, g: GrowthEntry) {
        self.growth_entries.push(g);
    }

    /// Ends a write's growth load: the entries in `seq` order, and the sum the store made of
    /// the entries it did not load one by one.
    pub fn end_growth_load(&mut self, sum: Option<GrowthSum>) {
        self.growth_entries.sort_by_key(|g| g.seq);
        self.growth_sum = sum;
    }

    /// Marks the account as partially loaded: the active points not backed by a loaded lot
    /// are in lots left in the store. Called by the store right after a partial load.
    pub fn set_partially_loaded(&mut self) {
        let loaded: Points = self.lots.iter().filter(|l| l.status == LotStatus::Active).map(|l| l.remaining).sum();
        let rest = self.buckets.active - loaded;
        assert!(
            !rest.is_negative(),
            "{}: stored active {} is below the loaded active lots {loaded}",
            self.member_id,
            self.buckets.active
        );
        self.unloaded_active = rest;
    }

    /// Sets the member's status: an operator's decision (a member update, an erasure), which
    /// no points rule makes. A frozen or closed member earns and spends nothing after it.
    pub fn set_status(&mut self, status: MemberStatus) {
        self.status = status;
    }

    /// Keeps the instant of the next tier review for the scheduler's index, as the rules
    /// leave the tier.
    pub fn refresh_tier_review(&mut self, program: &Program) {
        self.tier_review_at = self.next_tier_review(program);
    }

    /// Hands out every change since the account was loaded (or since the last call), each
    /// once and in order, and forgets it: the writer writes them in the batch's transaction.
    /// Changed lots and holds are copied out (the account keeps them for the next command);
    /// entries, growth and tier events move out.
    pub fn take_changes(&mut self, mut out: impl FnMut(AccountChange)) {
        for l in self.lots.iter_mut().filter(|l| l.dirty) {
            l.dirty = false;
            out(AccountChange::Lot(l.clone()));
        }
        for h in self.holds.iter_mut().filter(|h| h.dirty) {
            h.dirty = false;
            out(AccountChange::Hold(h.clone()));
        }
        self.new_entries.drain(..).for_each(|e| out(AccountChange::Entry(e)));
        self.new_growth.drain(..).for_each(|g| out(AccountChange::Growth(g)));
        self.new_tier_events.drain(..).for_each(|e| out(AccountChange::TierEvent(e)));
        self.tier_dirty = false;
    }

    /// Whether anything changed since the account was loaded that must be written: entries,
    /// lots or holds, growth, tier state.
    pub fn has_unsaved_changes(&self) -> bool {
        self.appended() > 0 || !self.new_growth.is_empty() || self.has_dirty_rows()
    }

    /// Entries and tier events appended since loading: a command compares the count before
    /// and after it ran to tell whether it recorded anything.
    pub fn appended(&self) -> usize {
        self.new_entries.len() + self.new_tier_events.len()
    }

    /// Lots, holds or the tier state changed since they were last handed out.
    pub fn has_dirty_rows(&self) -> bool {
        self.tier_dirty || self.lots.iter().any(|l| l.dirty) || self.holds.iter().any(|h| h.dirty)
    }

    #[inline]
    pub fn member_id(&self) -> &MemberId {
        &self.member_id
    }
    #[inline]
    pub fn status(&self) -> MemberStatus {
        self.status
    }
    #[inline]
    pub fn buckets(&self) -> Buckets {
        self.buckets
    }
    #[inline]
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }
    #[inline]
    pub fn next_lot_no(&self) -> i64 {
        self.next_lot_no
    }
    /// The loaded lots (see the field's comment for which), in `lot_no` order.
    #[inline]
    pub fn lots(&self) -> &[Lot] {
        &self.lots
    }
    #[inline]
    pub fn unloaded_active(&self) -> Points {
        self.unloaded_active
    }
    #[inline]
    pub fn holds(&self) -> &[Hold] {
        &self.holds
    }
    /// Entries appended since loading and not yet handed out, in order.
    #[inline]
    pub fn new_entries(&self) -> &[Entry] {
        &self.new_entries
    }
    #[inline]
    pub fn tier(&self) -> &TierState {
        &self.tier
    }
    #[inline]
    pub fn growth_total(&self) -> i64 {
        self.growth_total
    }
    /// Loaded growth entries and new ones, in `seq` order.
    #[inline]
    pub fn growth_entries(&self) -> &[GrowthEntry] {
        &self.growth_entries
    }
    #[inline]
    pub fn new_growth(&self) -> &[GrowthEntry] {
        &self.new_growth
    }
    #[inline]
    pub fn growth_sum(&self) -> Option<GrowthSum> {
        self.growth_sum
    }
    #[inline]
    pub fn next_growth_seq(&self) -> i64 {
        self.next_growth_seq
    }
    #[inline]
    pub fn new_tier_events(&self) -> &[TierEvent] {
        &self.new_tier_events
    }
    #[inline]
    pub fn next_tier_seq(&self) -> i64 {
        self.next_tier_seq
    }
    #[inline]
    pub fn tier_review_at(&self) -> Option<Timestamp> {
        self.tier_review_at
    }
}
