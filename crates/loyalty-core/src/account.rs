//! A member's points account: the aggregate every points rule runs against.
//!
//! The caller loads an [`Account`], calls rules with the current instant, and persists what
//! changed (dirty lots and holds, `new_entries`, the balances) in one transaction.

use crate::amount::{Money, Points};
use crate::calendar;
use crate::error::DomainError;
use crate::ids::{HoldId, MemberId};
use crate::ledger::*;
use crate::limits::check_hold_input;
use crate::program::{Program, RefundPolicy};
use jiff::Timestamp;

/// Most lots or holds one account may process in one call; a bound on every loop.
pub const MAX_OPEN_LOTS: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct Account {
    pub member_id: MemberId,
    pub status: MemberStatus,
    pub buckets: Buckets,
    pub next_seq: i64,
    pub next_lot_no: i64,
    /// Every lot with points left, plus lots that open holds took points from; after a
    /// partial load, only pending lots, lots due by the load's instant and held lots (see
    /// `unloaded_active`).
    pub lots: Vec<Lot>,
    /// Points in active lots that were not loaded with this account. A batch that only earns
    /// or advances does not need the spending order, so the store loads a member's pending
    /// lots and the lots due by `now`, not the whole active FIFO; the points of the lots left
    /// behind are counted here. No rule touches them, so the invariant
    /// `active = Σ active lots + unloaded_active` still checks every change the rules make.
    /// Spending needs every lot: it asserts this is zero (the engine loads spenders in full).
    pub unloaded_active: Points,
    /// Open holds, plus any hold a command in flight refers to.
    pub holds: Vec<Hold>,
    /// Entries appended since the account was loaded, in order.
    pub new_entries: Vec<Entry>,
    /// The member's tier (see `tiers`).
    pub tier: crate::tiers::TierState,
    /// Tier state or growth changed since loading.
    pub tier_dirty: bool,
    /// Lifetime growth.
    pub growth_total: i64,
    /// Growth entries recent enough to matter for the qualification window, plus new ones.
    pub growth_entries: Vec<crate::tiers::GrowthEntry>,
    pub new_growth: Vec<crate::tiers::GrowthEntry>,
    /// Growth the store summed instead of loading its entries (see `tiers::growth_need`).
    pub growth_sum: Option<crate::tiers::GrowthSum>,
    pub next_growth_seq: i64,
    pub new_tier_events: Vec<crate::tiers::TierEvent>,
    pub next_tier_seq: i64,
    /// When the tier next needs a review (kept for the scheduler's index).
    pub tier_review_at: Option<Timestamp>,
}

/// What a clawback did: points taken from the member, and points forgiven (clamp policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clawback {
    pub taken: Points,
    pub forgiven: Points,
}

impl Account {
    pub fn new(member_id: MemberId) -> Self {
        Self {
            member_id,
            status: MemberStatus::Active,
            buckets: Buckets::default(),
            next_seq: 1,
            next_lot_no: 1,
            lots: Vec::new(),
            unloaded_active: Points::ZERO,
            holds: Vec::new(),
            new_entries: Vec::new(),
            tier: Default::default(),
            tier_dirty: false,
            growth_total: 0,
            growth_entries: Vec::new(),
            new_growth: Vec::new(),
            growth_sum: None,
            next_growth_seq: 1,
            new_tier_events: Vec::new(),
            next_tier_seq: 1,
            tier_review_at: None,
        }
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

    /// Whether anything changed since the account was loaded that must be written: entries,
    /// lots or holds, growth, tier state.
    pub fn has_unsaved_changes(&self) -> bool {
        !self.new_entries.is_empty()
            || !self.new_growth.is_empty()
            || !self.new_tier_events.is_empty()
            || self.tier_dirty
            || self.lots.iter().any(|l| l.dirty)
            || self.holds.iter().any(|h| h.dirty)
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

    /// Applies everything due by `now`, in time order: holds timing out, lots activating and
    /// lots expiring. Idempotent: a second call with the same `now` does nothing.
    pub fn advance(&mut self, now: Timestamp) {
        // (time, rank, index): at the same instant a hold times out before a lot activates,
        // and a lot activates before it expires.
        let mut events: Vec<(Timestamp, u8, usize)> = Vec::new();
        for (i, h) in self.holds.iter().enumerate() {
            if h.status == HoldStatus::Open && h.expires_at <= now {
                events.push((h.expires_at, 0, i));
            }
        }
        for (i, l) in self.lots.iter().enumerate() {
            if l.status == LotStatus::Pending && l.activates_at <= now {
                events.push((l.activates_at, 1, i));
            }
            if l.status != LotStatus::Expired && l.expires_at.is_some_and(|e| e <= now) {
                events.push((l.expires_at.expect("checked"), 2, i));
            }
        }
        assert!(events.len() <= 2 * MAX_OPEN_LOTS, "too many due events");
        events.sort();
        for (at, rank, i) in events {
            match rank {
                0 => self.release_at(i, HoldStatus::Expired, at),
                1 => self.activate(i, at),
                _ => self.expire(i, at),
            }
        }
    }

    fn activate(&mut self, i: usize, at: Timestamp) {
        let lot = &mut self.lots[i];
        debug_assert_eq!(lot.status, LotStatus::Pending);
        lot.status = LotStatus::Active;
        lot.dirty = true;
        let (points, no) = (lot.remaining, lot.lot_no);
        let src = (lot.source_kind, lot.source_id.clone());
        if points.is_positive() {
            self.buckets.pending -= points;
            self.buckets.active += points;
            self.push(EntryKind::Activate, points, (src.0, &src.1), Some(no), at, None);
        }
        self.settle_debt(at);
    }

    fn expire(&mut self, i: usize, at: Timestamp) {
        let lot = &mut self.lots[i];
        debug_assert_eq!(lot.status, LotStatus::Active, "a lot activates before it expires");
        lot.status = LotStatus::Expired;
        lot.dirty = true;
        let (points, no) = (lot.remaining, lot.lot_no);
        if points.is_zero() {
            return;
        }
        lot.remaining = Points::ZERO;
        lot.expired += points;
        self.buckets.active -= points;
        self.push(EntryKind::Expire, -points, (SourceKind::Job, "expiry"), Some(no), at, None);
    }

    /// Pays down debt from active points, soonest-expiring first.
    pub(crate) fn settle_debt(&mut self, at: Timestamp) {
        while self.buckets.debt.is_positive() {
            let Some(i) = self.next_spendable() else { break };
            let lot = &mut self.lots[i];
            let k = lot.remaining.min(self.buckets.debt);
            lot.remaining -= k;
            lot.dirty = true;
            let no = lot.lot_no;
            self.buckets.active -= k;
            self.buckets.debt -= k;
            self.push(EntryKind::DebtSettle, -k, (SourceKind::Job, "debt"), Some(no), at, None);
        }
    }

    fn next_spendable(&self) -> Option<usize> {
        // The spending order (soonest expiry first) is only known with every lot at hand.
        assert!(self.lots_fully_loaded(), "{}: spending from a partially loaded account", self.member_id);
        self.lots
            .iter()
            .enumerate()
            .filter(|(_, l)| l.status == LotStatus::Active && l.remaining.is_positive())
            .min_by_key(|(_, l)| l.spend_key())
            .map(|(i, _)| i)
    }

    /// Takes `points` from active lots in spending order. The caller checked they exist.
    pub(crate) fn take_active(&mut self, points: Points) -> Vec<Allocation> {
        assert!(points <= self.buckets.active, "take {points} > active {}", self.buckets.active);
        let mut left = points;
        let mut taken = Vec::new();
        while left.is_positive() {
            let i = self.next_spendable().expect("active balance is backed by lots");
            let lot = &mut self.lots[i];
            let k = lot.remaining.min(left);
            lot.remaining -= k;
            lot.dirty = true;
            left -= k;
            taken.push(Allocation { lot_no: lot.lot_no, points: k });
        }
        self.buckets.active -= points;
        taken
    }

    pub(crate) fn new_lot(
        &mut self,
        source: (SourceKind, &str),
        points: Points,
        activates_at: Timestamp,
        expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> i64 {
        let no = self.next_lot_no;
        self.next_lot_no += 1;
        self.lots.push(Lot {
            lot_no: no,
            source_kind: source.0,
            source_id: source.1.to_owned(),
            granted: points,
            remaining: points,
            expired: Points::ZERO,
            activates_at,
            expires_at,
            status: LotStatus::Pending,
            created_at: now,
            dirty: true,
        });
        no
    }

    /// Credits `points` earned at `paid_at` as a pending lot; debt is settled from it first.
    /// Returns the lot number, or `None` when nothing was earned. The caller checked the
    /// credit ([`Account::check_credit`]).
    pub fn earn(
        &mut self,
        program: &Program,
        source: (SourceKind, &str),
        points: Points,
        paid_at: Timestamp,
        now: Timestamp,
    ) -> Option<i64> {
        assert!(!points.is_negative(), "earned points are never negative");
        if points.is_zero() {
            return None;
        }
        let activates_at = calendar::activation(program, paid_at);
        let expires_at = calendar::expiry(program, activates_at);
        let no = self.new_lot(source, points, activates_at, expires_at, now);
        self.buckets.pending = self.credited(self.buckets.pending, points);
        self.push(EntryKind::Earn, points, source, Some(no), paid_at, None);
        if self.buckets.debt.is_positive() {
            let k = points.min(self.buckets.debt);
            self.lot_mut(no).remaining -= k;
            self.buckets.pending -= k;
            self.buckets.debt -= k;
            self.push(EntryKind::DebtSettle, -k, source, Some(no), paid_at, None);
        }
        Some(no)
    }

    /// Credits points usable at once (an activity reward): earned, then activated, at `now`.
    /// The caller checked the credit ([`Account::check_credit`]).
    pub fn earn_now(&mut self, program: &Program, source: (SourceKind, &str), points: Points, now: Timestamp) {
        let expires_at = calendar::expiry(program, now);
        let no = self.new_lot(source, points, now, expires_at, now);
        self.buckets.pending = self.credited(self.buckets.pending, points);
        self.push(EntryKind::Earn, points, source, Some(no), now, None);
        let i = self.lots.iter().position(|l| l.lot_no == no).expect("just made");
        self.activate(i, now);
    }

    /// How a clawback of `points` splits: from the order's own pending lot, from active points,
    /// and what is left for the refund policy (debt, or forgiven under clamp).
    pub(crate) fn clawback_split(&self, order_lot: Option<i64>, points: Points) -> (Points, Points, Points) {
        let from_lot = order_lot
            .and_then(|no| self.lots.iter().find(|l| l.lot_no == no && l.status == LotStatus::Pending))
            .map_or(Points::ZERO, |lot| lot.remaining.min(points));
        let from_active = (points - from_lot).min(self.buckets.active);
        (from_lot, from_active, points - from_lot - from_active)
    }

    /// Takes back `points` for a refund: the order's own pending lot first, then available
    /// points, then the refund policy (debt, or forgive under clamp). The caller checked it
    /// ([`Account::check_clawback`]).
    pub fn clawback(
        &mut self,
        program: &Program,
        source: (SourceKind, &str),
        order_lot: Option<i64>,
        points: Points,
        at: Timestamp,
    ) -> Clawback {
        assert!(!points.is_negative(), "clawback is never negative");
        if points.is_zero() {
            return Clawback::default();
        }
        assert!(
            self.check_clawback("points", program, order_lot, points).is_ok(),
            "{}: an unchecked clawback",
            self.member_id
        );
        let (from_lot, from_active, left) = self.clawback_split(order_lot, points);
        if let Some(lot) = order_lot.and_then(|no| self.lots.iter_mut().find(|l| l.lot_no == no)) {
            if from_lot.is_positive() {
                lot.remaining -= from_lot;
                lot.dirty = true;
                self.buckets.pending -= from_lot;
            }
        }
        self.take_active(from_active);
        let (taken, forgiven) = match program.file.refund_policy {
            RefundPolicy::Debt => {
                self.buckets.debt = self.buckets.debt.checked_add(left).expect("checked clawbacks fit");
                (points, Points::ZERO)
            }
            RefundPolicy::Clamp => (points - left, left),
        };
        let note = forgiven.is_positive().then(|| format!("forgiven {forgiven}"));
        self.push(EntryKind::Clawback, -taken, source, order_lot, at, note);
        Clawback { taken, forgiven }
    }

    /// Reserves points for checkout. Validates the programme's minimum and share cap.
    #[allow(clippy::too_many_arguments)]
    pub fn hold(
        &mut self,
        program: &Program,
        order_id: &str,
        points: Points,
        order_amount_minor: Money,
        ttl_seconds: i64,
        now: Timestamp,
    ) -> Result<HoldId, DomainError> {
        self.can_transact()?;
        check_hold_input(points.get(), order_amount_minor.get())?;
        let r = &program.file.redemption;
        if points.get() < r.min_points {
            return Err(DomainError::unprocessable(
                "points",
                format!("{points} is below the minimum of {} points per redemption", r.min_points),
            ));
        }
        let max = program.max_redeemable(order_amount_minor.get());
        if points.get() > max {
            return Err(DomainError::unprocessable(
                "points",
                format!("{points} points exceed the {}% cap of this order: at most {max}", r.max_share_percent),
            ));
        }
        let available = self.buckets.available();
        if points > available {
            return Err(DomainError::InsufficientPoints {
                requested: points.get(),
                available: available.at_least_zero().get(),
            });
        }
        let allocations = self.take_active(points);
        self.buckets.held += points;
        let hold_id = HoldId::parse(&format!("h{}", self.next_seq)).expect("generated ids are valid");
        self.push(EntryKind::Hold, -points, (SourceKind::Hold, hold_id.as_str()), None, now, None);
        self.holds.push(Hold {
            hold_id: hold_id.clone(),
            order_id: order_id.to_owned(),
            points,
            order_amount_minor,
            status: HoldStatus::Open,
            created_at: now,
            expires_at: calendar::plus_secs(now, ttl_seconds),
            settled_at: None,
            allocations,
            dirty: true,
        });
        Ok(hold_id)
    }

    fn hold_index(&self, hold_id: &HoldId) -> Result<usize, DomainError> {
        self.holds
            .iter()
            .position(|h| &h.hold_id == hold_id)
            .ok_or_else(|| DomainError::HoldNotFound(hold_id.to_string()))
    }

    /// Spends a held reservation. Capturing twice is harmless; a released hold cannot be.
    pub fn capture(&mut self, hold_id: &HoldId, now: Timestamp) -> Result<(), DomainError> {
        let i = self.hold_index(hold_id)?;
        let h = &mut self.holds[i];
        match h.status {
            HoldStatus::Captured => Ok(()),
            HoldStatus::Open => {
                h.status = HoldStatus::Captured;
                h.settled_at = Some(now);
                h.dirty = true;
                let p = h.points;
                self.buckets.held -= p;
                self.push(EntryKind::Capture, -p, (SourceKind::Hold, hold_id.as_str()), None, now, None);
                Ok(())
            }
            s => Err(DomainError::HoldState {
                hold: hold_id.to_string(),
                status: s.to_string(),
                reason: "its points went back to the member and cannot be captured".into(),
            }),
        }
    }

    /// Gives held points back to the lots they came from. Releasing twice is harmless.
    pub fn release(&mut self, hold_id: &HoldId, now: Timestamp) -> Result<(), DomainError> {
        let i = self.hold_index(hold_id)?;
        match self.holds[i].status {
            HoldStatus::Open => {
                self.release_at(i, HoldStatus::Released, now);
                Ok(())
            }
            HoldStatus::Released | HoldStatus::Expired => Ok(()),
            HoldStatus::Captured => Err(DomainError::HoldState {
                hold: hold_id.to_string(),
                status: "captured".into(),
                reason: "its points were spent and cannot be released".into(),
            }),
        }
    }

    fn release_at(&mut self, i: usize, status: HoldStatus, at: Timestamp) {
        let h = &mut self.holds[i];
        h.status = status;
        h.settled_at = Some(at);
        h.dirty = true;
        let (points, id, allocations) = (h.points, h.hold_id.clone(), h.allocations.clone());
        self.buckets.held -= points;
        self.buckets.active += points;
        let lapsed = self.refill(&allocations);
        self.push(EntryKind::Release, points, (SourceKind::Hold, id.as_str()), None, at, None);
        self.lapse(lapsed, at);
    }

    /// Puts `allocations` back into their lots; the lots among them that expired meanwhile.
    pub(crate) fn refill(&mut self, allocations: &[Allocation]) -> Vec<i64> {
        let mut lapsed = Vec::new();
        for a in allocations {
            let lot = self.lot_mut(a.lot_no);
            lot.remaining += a.points;
            lot.dirty = true;
            assert!(lot.remaining <= lot.granted, "points given back never overfill their lot");
            if lot.status == LotStatus::Expired {
                lapsed.push(a.lot_no);
            }
        }
        lapsed
    }

    /// Points that returned to a lot which expired meanwhile keep its expiry: they lapse now.
    /// Then any debt is settled from what came back.
    pub(crate) fn lapse(&mut self, lapsed: Vec<i64>, at: Timestamp) {
        for no in lapsed {
            let lot = self.lot_mut(no);
            let back = lot.remaining;
            lot.remaining = Points::ZERO;
            lot.expired += back;
            self.buckets.active -= back;
            self.push(EntryKind::Expire, -back, (SourceKind::Job, "expiry"), Some(no), at, None);
        }
        self.settle_debt(at);
    }

    /// A manual correction by an operator: positive grants a lot usable at once, negative
    /// spends available points.
    pub fn adjust(
        &mut self,
        program: &Program,
        source_id: &str,
        points: Points,
        note: String,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        crate::limits::check_adjustment(points.get())?;
        let source = (SourceKind::Adjustment, source_id);
        if points.is_positive() {
            self.check_credit("points", points)?;
            let no = self.new_lot(source, points, now, calendar::expiry(program, now), now);
            let lot = self.lot_mut(no);
            lot.status = LotStatus::Active;
            self.buckets.active = self.credited(self.buckets.active, points);
            self.push(EntryKind::Adjust, points, source, Some(no), now, Some(note));
            self.settle_debt(now);
        } else {
            let want = -points;
            let available = self.buckets.available();
            if want > available {
                return Err(DomainError::InsufficientPoints {
                    requested: want.get(),
                    available: available.at_least_zero().get(),
                });
            }
            self.take_active(want);
            self.push(EntryKind::Adjust, points, source, None, now, Some(note));
        }
        Ok(())
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
