//! Daily check-ins (`Checkins`): a member's days for the calendar, and `verify`'s check of
//! every streak. Check-ins are written by a batch through [`crate::Tx::write`] with the points
//! and coupons they earn; the batch loads the days it decides on with [`crate::Tx::load_checkins`].

use async_trait::async_trait;
use jiff::civil::Date;
use loyalty_core::engagement::Day;
use loyalty_core::ids::MemberId;

/// Most days one read returns (a little over a year).
pub const MAX_DAYS_READ: i64 = 400;

#[async_trait]
pub trait Checkins: Send + Sync {
    /// The member's checked-in days in `[from, to)`, by day, at most [`MAX_DAYS_READ`].
    async fn checkin_days(&self, member: &MemberId, from: Date, to: Date) -> crate::Result<Vec<Day>>;
    /// Days whose streak is not one more than the day before's (or 1 after a gap), and members
    /// whose check-in points differ from what the ledger credited them for check-ins: each a
    /// sentence, at most `limit`.
    async fn checkin_problems(&self, limit: i64) -> crate::Result<Vec<String>>;
}

/// Days since 1970-01-01: how a calendar day is stored.
pub fn day_number(d: Date) -> i64 {
    let epoch = jiff::civil::date(1970, 1, 1);
    d.duration_since(epoch).as_secs().div_euclid(86_400)
}

pub fn from_day_number(n: i64) -> Option<Date> {
    jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().try_days(n).ok()?).ok()
}
