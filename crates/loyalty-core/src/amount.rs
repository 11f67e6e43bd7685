//! `Points` and `Money`: the two quantities of the ledger, as types that cannot be mixed.
//!
//! Both wrap an `i64` and cost nothing over it (`#[repr(transparent)]`, `Copy`, every method
//! `#[inline]`): order ingest and the importer move millions of them. Serde sees the bare
//! integer (`#[serde(transparent)]`), so the HTTP API and stored JSON are what they were, and
//! the OpenAPI schema of a field of either type is an integer (`#[schema(value_type = i64)]`
//! on the field, because a derived schema would add a component and a `$ref`).
//!
//! Arithmetic never wraps. `checked_add` and `checked_sub` return `None` on overflow for the
//! callers that turn it into a refusal. The operators (`+`, `-`, `+=`, `-=`, unary `-`) and
//! `Sum` panic on overflow instead, in release builds too: every amount that reaches them is
//! bounded by `limits` (points ≤ 10¹⁵ a member, money ≤ 10¹² minor units a line) far below
//! `i64::MAX`, so an overflow there is a broken invariant, and a ledger with a broken
//! invariant must stop rather than write a wrapped balance (the house rule of asserting
//! invariants). `Sum` panics for the same reason rather than returning a `Result`: a sum of
//! bounded amounts that overflows is a bug no caller could handle.
//!
//! Money becomes points only through the programme's rates (`Program::points_for`,
//! `Program::points_value_minor`, `Program::max_redeemable`); there is no operator between
//! the two types.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

macro_rules! amount {
    ($(#[$doc:meta])* $name:ident, $unit:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[repr(transparent)]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: Self = Self(0);

            #[inline]
            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            /// The bare integer, for the store's columns, ratios computed in `i128` and text.
            #[inline]
            pub const fn get(self) -> i64 {
                self.0
            }

            #[inline]
            pub fn checked_add(self, other: Self) -> Option<Self> {
                self.0.checked_add(other.0).map(Self)
            }

            #[inline]
            pub fn checked_sub(self, other: Self) -> Option<Self> {
                self.0.checked_sub(other.0).map(Self)
            }

            #[inline]
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            #[inline]
            pub const fn is_positive(self) -> bool {
                self.0 > 0
            }

            #[inline]
            pub const fn is_negative(self) -> bool {
                self.0 < 0
            }

            /// Zero for a negative amount: what a view shows of a balance that is owed.
            #[inline]
            pub fn at_least_zero(self) -> Self {
                Self(self.0.max(0))
            }
        }

        impl Add for $name {
            type Output = Self;
            #[inline]
            fn add(self, other: Self) -> Self {
                Self(self.0.checked_add(other.0).expect(concat!($unit, " overflow: amounts are bounded far below i64")))
            }
        }

        impl Sub for $name {
            type Output = Self;
            #[inline]
            fn sub(self, other: Self) -> Self {
                Self(self.0.checked_sub(other.0).expect(concat!($unit, " overflow: amounts are bounded far below i64")))
            }
        }

        impl AddAssign for $name {
            #[inline]
            fn add_assign(&mut self, other: Self) {
                *self = *self + other;
            }
        }

        impl SubAssign for $name {
            #[inline]
            fn sub_assign(&mut self, other: Self) {
                *self = *self - other;
            }
        }

        impl Neg for $name {
            type Output = Self;
            #[inline]
            fn neg(self) -> Self {
                Self(self.0.checked_neg().expect(concat!($unit, " overflow: amounts are bounded far below i64")))
            }
        }

        impl std::iter::Sum for $name {
            #[inline]
            fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
                iter.fold(Self::ZERO, |a, b| a + b)
            }
        }

        impl<'a> std::iter::Sum<&'a $name> for $name {
            #[inline]
            fn sum<I: Iterator<Item = &'a Self>>(iter: I) -> Self {
                iter.fold(Self::ZERO, |a, b| a + *b)
            }
        }

        impl From<$name> for i64 {
            #[inline]
            fn from(v: $name) -> i64 {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        /// The bare integer, as the `i64` it replaced printed: `verify`'s messages and the
        /// logs show balances as `Buckets { pending: 5, .. }`.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

amount!(
    /// A number of loyalty points. Signed: a ledger entry's points are negative when they leave
    /// the member, and `available` is negative while the member owes points.
    Points,
    "points"
);

amount!(
    /// An amount of money in the programme currency's minor units (fen for CNY). Signed only so
    /// that differences can be formed; every amount a store sends is checked non-negative.
    Money,
    "money"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_serialise_as_bare_integers() {
        assert_eq!(serde_json::to_string(&Points::new(-5)).unwrap(), "-5");
        assert_eq!(serde_json::to_string(&Money::new(1_999)).unwrap(), "1999");
        assert_eq!(serde_json::from_str::<Points>("42").unwrap(), Points::new(42));
        assert!(serde_json::from_str::<Money>("\"42\"").is_err(), "a string is not an amount");
    }

    #[test]
    fn checked_arithmetic_reports_overflow_and_the_operators_refuse_it() {
        let max = Points::new(i64::MAX);
        assert_eq!(max.checked_add(Points::new(1)), None);
        assert_eq!(Points::new(i64::MIN).checked_sub(Points::new(1)), None);
        assert_eq!(Points::new(3) + Points::new(4) - Points::new(10), Points::new(-3));
        assert!(std::panic::catch_unwind(|| max + Points::new(1)).is_err(), "overflow never wraps");
        assert!(std::panic::catch_unwind(|| -Money::new(i64::MIN)).is_err());
        let total: Money = [Money::new(1), Money::new(2)].iter().sum();
        assert_eq!(total, Money::new(3));
    }

    #[test]
    fn an_amount_is_as_small_as_its_integer() {
        assert_eq!(std::mem::size_of::<Points>(), std::mem::size_of::<i64>());
        assert_eq!(std::mem::size_of::<Option<Money>>(), std::mem::size_of::<Option<i64>>());
    }
}
