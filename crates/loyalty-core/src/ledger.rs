//! Value types of the points ledger: balances, entries, lots and holds.

use crate::amount::{Money, Points};
use crate::ids::HoldId;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A member's points by state. `available = active − debt`; it is negative only while the
/// member owes points, and then `active` is zero (debts are settled as soon as points exist).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    /// Earned, not yet usable (inside the return window).
    pub pending: Points,
    /// Usable points in active lots, not reserved by a hold.
    pub active: Points,
    /// Reserved by open holds at checkout.
    pub held: Points,
    /// Points clawed back that the member had already spent.
    pub debt: Points,
}

impl Buckets {
    #[inline]
    pub fn available(&self) -> Points {
        self.active - self.debt
    }
    #[inline]
    pub fn is_well_formed(&self) -> bool {
        ![self.pending, self.active, self.held, self.debt].iter().any(|p| p.is_negative())
    }
}

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(
    /// What a ledger entry records. Entries are never updated or deleted. `spend` is points spent
    /// in the mall or the lottery (not on an order); `restore` gives a cancelled redemption's
    /// points back to the lots they came from.
    EntryKind {
        Earn = "earn",
        Activate = "activate",
        Hold = "hold",
        Capture = "capture",
        Release = "release",
        Expire = "expire",
        Clawback = "clawback",
        Adjust = "adjust",
        DebtSettle = "debt_settle",
        Spend = "spend",
        Restore = "restore",
    }
);

str_enum!(
    /// What caused an entry.
    SourceKind {
        Order = "order",
        Refund = "refund",
        Hold = "hold",
        Adjustment = "adjustment",
        Activity = "activity",
        Job = "job",
        Redemption = "redemption",
        Draw = "draw",
        Checkin = "checkin",
        Task = "task",
        Referral = "referral",
    }
);

str_enum!(
    LotStatus { Pending = "pending", Active = "active", Expired = "expired" }
);

str_enum!(
    HoldStatus { Open = "open", Captured = "captured", Released = "released", Expired = "expired" }
);

str_enum!(
    /// `frozen` and `closed` members cannot earn or spend.
    MemberStatus { Active = "active", Frozen = "frozen", Closed = "closed" }
);

/// One movement of points. `points` is signed from the member's point of view: earn, activate,
/// release, restore and positive adjustments are positive; hold, capture, spend, expire,
/// clawback, debt settlement and negative adjustments are negative. `after` is the balances after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub kind: EntryKind,
    pub points: Points,
    pub source_kind: SourceKind,
    pub source_id: String,
    pub lot_no: Option<i64>,
    /// When the movement took effect (an activation takes effect at its lot's activation time).
    pub at: Timestamp,
    pub after: Buckets,
    pub note: Option<String>,
}

/// One grant of points with its own activation and expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lot {
    pub lot_no: i64,
    pub source_kind: SourceKind,
    pub source_id: String,
    pub granted: Points,
    pub remaining: Points,
    /// Points of this lot that expired.
    pub expired: Points,
    pub activates_at: Timestamp,
    /// First instant at which the lot is no longer usable; `None` never expires.
    pub expires_at: Option<Timestamp>,
    pub status: LotStatus,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub dirty: bool,
}

impl Lot {
    /// Spending order: soonest expiry first, never-expiring last, ties oldest first.
    pub fn spend_key(&self) -> (bool, Timestamp, i64) {
        (self.expires_at.is_none(), self.expires_at.unwrap_or(Timestamp::MAX), self.lot_no)
    }
}

/// Points a hold took from one lot; a release gives them back to that same lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    pub lot_no: i64,
    pub points: Points,
}

/// Points reserved at checkout until captured, released or timed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub hold_id: HoldId,
    pub order_id: String,
    pub points: Points,
    pub order_amount_minor: Money,
    pub status: HoldStatus,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub settled_at: Option<Timestamp>,
    pub allocations: Vec<Allocation>,
    #[serde(skip)]
    pub dirty: bool,
}

impl Hold {
    /// Names the terms in which a hold asked again for this hold's order differs from it, for
    /// a 409 that says what (empty: the same hold, replayed): `points`, `order_amount_minor`,
    /// and `coupons` when the coupons it names are not those `reserved` with this hold (as
    /// sets: a hold reserves coupons, the order later decides in which order they apply).
    pub fn differences(
        &self,
        points: Points,
        order_amount_minor: Money,
        coupons: &[crate::ids::CouponId],
        reserved: &[crate::ids::CouponId],
    ) -> Vec<String> {
        let mut d = Vec::new();
        if self.points != points {
            d.push("points".to_owned());
        }
        if self.order_amount_minor != order_amount_minor {
            d.push("order_amount_minor".to_owned());
        }
        fn set(ids: &[crate::ids::CouponId]) -> std::collections::BTreeSet<&crate::ids::CouponId> {
            ids.iter().collect()
        }
        if set(coupons) != set(reserved) {
            d.push("coupons".to_owned());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CouponId;

    #[test]
    fn a_hold_asked_again_differs_in_points_amount_or_coupons_reserved() {
        let at: Timestamp = "2026-03-01T12:00:00+08:00".parse().unwrap();
        let hold = Hold {
            hold_id: HoldId::parse("h1").unwrap(),
            order_id: "o1".into(),
            points: Points::new(500),
            order_amount_minor: Money::new(25_000),
            status: HoldStatus::Open,
            created_at: at,
            expires_at: at,
            settled_at: None,
            allocations: Vec::new(),
            dirty: false,
        };
        let c = |ids: &[&str]| ids.iter().map(|i| CouponId::parse(i).unwrap()).collect::<Vec<_>>();
        let reserved = c(&["a", "b"]);
        let (points, amount) = (Points::new(500), Money::new(25_000));
        assert!(hold.differences(points, amount, &c(&["b", "a"]), &reserved).is_empty(), "named in another order");
        assert!(hold.differences(points, amount, &c(&["a", "b", "a"]), &reserved).is_empty(), "named twice");
        assert_eq!(hold.differences(points, amount, &c(&["a"]), &reserved), ["coupons"]);
        assert_eq!(hold.differences(points, amount, &[], &reserved), ["coupons"]);
        assert_eq!(hold.differences(points, amount, &c(&["a"]), &[]), ["coupons"]);
        assert_eq!(
            hold.differences(Points::new(400), Money::new(20_000), &reserved, &reserved),
            ["points", "order_amount_minor"]
        );
    }
}
