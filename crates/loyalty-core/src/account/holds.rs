//! Checkout holds: points reserved for an order until captured, released or timed out.

use super::Account;
use crate::amount::{Money, Points};
use crate::calendar;
use crate::error::DomainError;
use crate::ids::HoldId;
use crate::ledger::*;
use crate::limits::check_hold_input;
use crate::program::Program;
use jiff::Timestamp;

impl Account {
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
        let max = program.max_redeemable(order_amount_minor);
        if points > max {
            return Err(DomainError::unprocessable(
                "points",
                format!("{points} points exceed the {}% cap of this order: at most {max}", r.max_share_percent),
            ));
        }
        let allocations = self.take_available(points)?;
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

    pub(super) fn release_at(&mut self, i: usize, status: HoldStatus, at: Timestamp) {
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
}
