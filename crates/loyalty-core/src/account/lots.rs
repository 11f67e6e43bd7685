//! The rules that move points through lots: earning, activation, expiry, debt, clawbacks and
//! adjustments.

use super::{Account, Clawback, MAX_OPEN_LOTS};
use crate::amount::Points;
use crate::calendar;
use crate::error::DomainError;
use crate::ledger::*;
use crate::program::{Program, RefundPolicy};
use jiff::Timestamp;

impl Account {
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

    /// Takes `want` from the available points (active, less what holds keep), in spending
    /// order; refuses with `insufficient_points` and changes nothing when there are fewer.
    pub(crate) fn take_available(&mut self, want: Points) -> Result<Vec<Allocation>, DomainError> {
        let available = self.buckets.available();
        if want > available {
            return Err(DomainError::InsufficientPoints {
                requested: want.get(),
                available: available.at_least_zero().get(),
            });
        }
        Ok(self.take_active(want))
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
            self.take_available(-points)?;
            self.push(EntryKind::Adjust, points, source, None, now, Some(note));
        }
        Ok(())
    }
}
