//! Bounds on the numbers a request carries and on what an account holds. Every number is
//! bounded before arithmetic touches it, so that every product and sum the rules compute is
//! exact in `i64`; a value out of its range is refused naming the field and the range.

use crate::account::Account;
use crate::amount::Points;
use crate::error::DomainError;
use crate::order::MAX_AMOUNT_MINOR;
use crate::program::{Program, RefundPolicy};

/// Most points one request may move or one order may earn: an adjustment (either sign), a
/// hold, a redemption. The same size as the largest amount (`MAX_AMOUNT_MINOR`, 10¹²), so one
/// bound covers points and money alike.
pub const MAX_POINTS: i64 = MAX_AMOUNT_MINOR;

/// Most points a member's buckets may hold together (pending + active + held), most debt, and
/// most lifetime growth. A credit past it is refused. The headroom below `i64::MAX` keeps every
/// value computed from a balance exact (points × up to 1,000 minor units per currency unit).
pub const MAX_BALANCE: i64 = 1_000 * MAX_POINTS;

/// Furthest ahead a manual tier assignment may end: as far as the longest expiry a programme
/// may set (`expiry.days` ≤ 36,500).
pub const MAX_ASSIGNMENT_DAYS: i64 = 36_500;

/// Refuses `v` outside `lo..=hi`, naming the field and the range.
pub fn check_range(field: &str, v: i64, lo: i64, hi: i64) -> Result<(), DomainError> {
    if (lo..=hi).contains(&v) {
        return Ok(());
    }
    Err(DomainError::unprocessable(field, format!("{v} must be between {lo} and {hi}")))
}

/// Points an order or a cart earns, refused when the multiplication overflowed (`None`) or
/// the result is more than one order may earn: a programme with a high rate and multipliers
/// could otherwise earn past what an account can hold from a single order.
pub fn check_earned(field: &str, earned: Option<i64>) -> Result<i64, DomainError> {
    match earned {
        Some(p) if (0..=MAX_POINTS).contains(&p) => Ok(p),
        _ => Err(DomainError::unprocessable(
            field,
            format!("the points these lines would earn exceed {MAX_POINTS}, the most one order may earn"),
        )),
    }
}

/// `a + b` when the sum stays within `0..=MAX_BALANCE`; the refusal names `field`.
pub fn check_total(field: &str, what: &str, a: i64, b: i64) -> Result<i64, DomainError> {
    match a.checked_add(b) {
        Some(t) if (0..=MAX_BALANCE).contains(&t) => Ok(t),
        _ => Err(DomainError::unprocessable(
            field,
            format!("{b} more would take the {what} of {a} past {MAX_BALANCE}, the most an account holds"),
        )),
    }
}

impl Account {
    /// Refuses a credit of `points` that would take the member's points (pending + active +
    /// held) past `MAX_BALANCE`. Every credit is checked before anything changes, so
    /// a refused command changes nothing; and as points only move between those buckets
    /// after that, no move can overflow.
    pub fn check_credit(&self, field: &str, points: Points) -> Result<(), DomainError> {
        let b = self.buckets;
        let total = b.pending.checked_add(b.active).and_then(|t| t.checked_add(b.held));
        check_total(field, "points", total.map_or(i64::MAX, Points::get), points.get()).map(|_| ())
    }

    /// Refuses growth that would take lifetime growth past `MAX_BALANCE`.
    pub fn check_growth(&self, field: &str, amount: i64) -> Result<(), DomainError> {
        check_total(field, "lifetime growth", self.growth_total, amount).map(|_| ())
    }

    /// `bucket + points` for a credit the command checked first ([`Account::check_credit`]):
    /// an overflow here is a rule that forgot to, a bug.
    pub(crate) fn credited(&self, bucket: Points, points: Points) -> Points {
        assert!(
            self.check_credit("points", points).is_ok(),
            "{}: a credit of {points} was not checked",
            self.member_id
        );
        bucket.checked_add(points).expect("checked credits fit")
    }

    /// Refuses a clawback whose debt would pass `MAX_BALANCE`; called before the
    /// refund changes anything. `field` is the refund's field the refusal names.
    pub fn check_clawback(
        &self,
        field: &str,
        program: &Program,
        order_lot: Option<i64>,
        points: Points,
    ) -> Result<(), DomainError> {
        let (_, _, rest) = self.clawback_split(order_lot, points);
        match program.file.refund_policy {
            RefundPolicy::Debt => check_total(field, "debt", self.buckets.debt.get(), rest.get()).map(|_| ()),
            RefundPolicy::Clamp => Ok(()),
        }
    }
}

/// A hold's numbers: 1 to `MAX_POINTS` points on an order of 0 to `MAX_AMOUNT_MINOR`. The HTTP
/// edge checks them with this same function before the command is queued.
pub fn check_hold_input(points: i64, order_amount_minor: i64) -> Result<(), DomainError> {
    check_range("points", points, 1, MAX_POINTS)?;
    crate::order::check_amount("order_amount_minor", order_amount_minor)
}

/// Points a redemption or a draw spends: 1 to `MAX_POINTS`.
pub fn check_spend(points: i64) -> Result<(), DomainError> {
    check_range("points", points, 1, MAX_POINTS)
}

/// An adjustment's points: non-zero, at most `MAX_POINTS` either way. The HTTP edge checks
/// them with this same function before the command is queued.
pub fn check_adjustment(points: i64) -> Result<(), DomainError> {
    if points == 0 {
        return Err(DomainError::unprocessable(
            "points",
            format!("must be non-zero, between {} and {MAX_POINTS}", -MAX_POINTS),
        ));
    }
    check_range("points", points, -MAX_POINTS, MAX_POINTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_field_and_the_bounds() {
        assert!(check_range("points", MAX_POINTS, -MAX_POINTS, MAX_POINTS).is_ok());
        let e = check_range("points", i64::MIN, -MAX_POINTS, MAX_POINTS).unwrap_err();
        assert_eq!(
            e,
            DomainError::unprocessable(
                "points",
                "-9223372036854775808 must be between -1000000000000 and 1000000000000"
            )
        );
    }

    #[test]
    fn totals_refuse_an_overflow_and_anything_past_the_balance_bound() {
        assert_eq!(check_total("points", "points", MAX_BALANCE - 1, 1), Ok(MAX_BALANCE));
        assert!(check_total("points", "points", MAX_BALANCE, 1).is_err());
        assert!(check_total("points", "points", i64::MAX, 1).is_err(), "no overflow, a refusal");
        assert!(check_earned("lines", None).is_err());
        assert_eq!(check_earned("lines", Some(7)), Ok(7));
    }
}
