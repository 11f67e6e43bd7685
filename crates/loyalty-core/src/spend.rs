//! Spending points outside an order: the mall's redemptions, the lottery's draws and make-up
//! check-ins. A spend
//! takes available points in spending order and records which lots it took them from, so that
//! a cancelled redemption gives them back to those same lots with their own expiry.

use crate::account::Account;
use crate::amount::Points;
use crate::error::DomainError;
use crate::ledger::{Allocation, EntryKind, SourceKind};
use jiff::Timestamp;

impl Account {
    /// Spends `points` of the member's available points for `source` (a redemption or a
    /// draw): one `spend` entry, the lots taken soonest-expiring first. Refused, changing
    /// nothing, when the member may not spend or has too few points.
    pub fn spend(
        &mut self,
        source: (SourceKind, &str),
        points: Points,
        now: Timestamp,
    ) -> Result<Vec<Allocation>, DomainError> {
        assert!(
            matches!(source.0, SourceKind::Redemption | SourceKind::Draw | SourceKind::Checkin),
            "only the mall, the lottery and make-up check-ins spend outside an order"
        );
        self.can_transact()?;
        crate::limits::check_spend(points.get())?;
        let allocations = self.take_available(points)?;
        self.push(EntryKind::Spend, -points, source, None, now, None);
        Ok(allocations)
    }

    /// Gives the points of a spend back to the lots it took them from (`restore`). Points
    /// that return to a lot which expired meanwhile keep its expiry: they lapse at once, as a
    /// released hold's do. Restoring is the caller's to do once (the redemption's status says
    /// whether it was).
    pub fn restore(&mut self, source: (SourceKind, &str), allocations: &[Allocation], now: Timestamp) {
        let points: Points = allocations.iter().map(|a| a.points).sum();
        assert!(points.is_positive(), "a restore gives back what a spend took");
        let lapsed = self.refill(allocations);
        self.buckets.active += points;
        self.push(EntryKind::Restore, points, source, None, now, None);
        self.lapse(lapsed, now);
    }
}

#[cfg(test)]
mod tests {
    use crate::account::Account;
    use crate::amount::Points;
    use crate::ids::MemberId;
    use crate::ledger::{EntryKind, SourceKind};
    use crate::program::Program;
    use jiff::Timestamp;

    fn funded(points: i64, now: Timestamp) -> (Account, Program) {
        let program = Program::default_program();
        let mut acc = Account::new(MemberId::parse("m").unwrap());
        acc.adjust(&program, "a1", Points::new(points), "seed".into(), now).unwrap();
        (acc, program)
    }

    #[test]
    fn a_spend_takes_available_points_and_a_restore_gives_them_back_to_their_lots() {
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let (mut acc, program) = funded(300, now);
        acc.adjust(&program, "a2", Points::new(200), "seed".into(), now).unwrap();
        let taken = acc.spend((SourceKind::Redemption, "r1"), Points::new(400), now).unwrap();
        assert_eq!(acc.buckets.active, Points::new(100));
        assert_eq!(taken.iter().map(|a| a.points).sum::<Points>(), Points::new(400));
        acc.assert_invariants();
        let err = acc.spend((SourceKind::Redemption, "r2"), Points::new(101), now).unwrap_err();
        assert_eq!(err.code(), "insufficient_points");
        assert_eq!(acc.buckets.active, Points::new(100), "a refused spend changes nothing");
        acc.restore((SourceKind::Redemption, "r1"), &taken, now);
        assert_eq!(acc.buckets.active, Points::new(500));
        let kinds: Vec<_> = acc.new_entries.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EntryKind::Adjust, EntryKind::Adjust, EntryKind::Spend, EntryKind::Restore]);
        acc.assert_invariants();
    }

    #[test]
    fn points_restored_to_a_lot_that_expired_meanwhile_lapse_at_once() {
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let (mut acc, _) = funded(300, now);
        let taken = acc.spend((SourceKind::Redemption, "r1"), Points::new(300), now).unwrap();
        let later = acc.lots[0].expires_at.expect("the default programme's points expire");
        acc.advance(later);
        acc.restore((SourceKind::Redemption, "r1"), &taken, later);
        assert_eq!(acc.buckets.active, Points::new(0));
        assert_eq!(acc.new_entries.last().unwrap().kind, EntryKind::Expire);
        acc.assert_invariants();
    }
}
