//! Calendar rules in the programme's time zone. Pure: every instant is an argument.

use crate::program::{ExpiryPolicy, Period, Program};
use jiff::{civil::Date, Span, Timestamp, ToSpan};

/// When points earned at `paid_at` become usable: `pending_days` calendar days later.
pub fn activation(program: &Program, paid_at: Timestamp) -> Timestamp {
    let days = program.file.pending_days;
    paid_at.to_zoned(program.tz.clone()).checked_add(days.days()).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX)
}

/// The first instant at which points activated at `activated_at` are no longer usable,
/// or `None` when the programme's points never expire.
pub fn expiry(program: &Program, activated_at: Timestamp) -> Option<Timestamp> {
    let zoned = activated_at.to_zoned(program.tz.clone());
    let start_of = |date: Date| -> Timestamp {
        date.to_zoned(program.tz.clone()).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX)
    };
    match program.file.expiry {
        ExpiryPolicy::Never => None,
        ExpiryPolicy::Rolling { days } => {
            Some(zoned.checked_add(i64::from(days).days()).map(|z| z.timestamp()).unwrap_or(Timestamp::MAX))
        }
        ExpiryPolicy::EndOfPeriod { period, periods } => {
            let date = zoned.date();
            let (first, months_per) = match period {
                Period::Month => (date.first_of_month(), 1),
                Period::Quarter => {
                    let q_month = (date.month() - 1) / 3 * 3 + 1;
                    (Date::new(date.year(), q_month, 1).expect("valid quarter start"), 3)
                }
                Period::Year => (Date::new(date.year(), 1, 1).expect("valid year start"), 12),
            };
            // The period that ends the validity is `periods` after the activation's own;
            // the lot stops being usable at the start of the one after it.
            let months = i64::from(periods + 1) * months_per;
            Some(first.checked_add(Span::new().months(months)).map(start_of).unwrap_or(Timestamp::MAX))
        }
    }
}

/// `at` plus `secs` seconds, saturating at the ends of time.
pub fn plus_secs(at: Timestamp, secs: i64) -> Timestamp {
    at.checked_add(jiff::SignedDuration::from_secs(secs)).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

/// An instant as RFC 3339 with the offset `tz` has at that instant (how every response and
/// report shows time).
pub fn rfc3339(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let offset = tz.to_offset(t);
    t.display_with_offset(offset).to_string()
}

/// The local calendar day, ISO week (from Monday) and month that `now` falls in, in the
/// programme's zone, each as the instant it began: the periods per-member limits count in.
pub fn period_starts(program: &Program, now: Timestamp) -> [(&'static str, Timestamp); 3] {
    let date = now.to_zoned(program.tz.clone()).date();
    let start = |d: Date| d.to_zoned(program.tz.clone()).map(|z| z.timestamp()).unwrap_or(now);
    let week = date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days()).unwrap_or(date);
    [("day", start(date)), ("week", start(week)), ("month", start(date.first_of_month()))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::ProgramFile;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn default_points_activate_after_seven_days_and_expire_at_the_end_of_month_24() {
        let p = Program::default_program();
        let paid = ts("2026-03-08T10:00:00+08:00");
        let act = activation(&p, paid);
        assert_eq!(act, ts("2026-03-15T10:00:00+08:00"));
        // End of March 2028 in Shanghai: usable until 2028-04-01T00:00+08:00.
        assert_eq!(expiry(&p, act), Some(ts("2028-04-01T00:00:00+08:00")));
    }

    #[test]
    fn the_time_zone_decides_the_month() {
        let p = Program::default_program();
        // 2026-01-31T20:00Z is already February 1st in Shanghai.
        let e = expiry(&p, ts("2026-01-31T20:00:00Z")).unwrap();
        assert_eq!(e, ts("2028-03-01T00:00:00+08:00"));
    }

    #[test]
    fn quarter_year_rolling_and_never() {
        let mut f = ProgramFile {
            expiry: ExpiryPolicy::EndOfPeriod { period: Period::Quarter, periods: 1 },
            ..ProgramFile::default()
        };
        let p = Program::from_file(f.clone()).unwrap();
        assert_eq!(expiry(&p, ts("2026-05-20T00:00:00+08:00")), Some(ts("2026-10-01T00:00:00+08:00")));
        f.expiry = ExpiryPolicy::EndOfPeriod { period: Period::Year, periods: 0 };
        let p = Program::from_file(f.clone()).unwrap();
        assert_eq!(expiry(&p, ts("2026-05-20T00:00:00+08:00")), Some(ts("2027-01-01T00:00:00+08:00")));
        f.expiry = ExpiryPolicy::Rolling { days: 30 };
        let p = Program::from_file(f.clone()).unwrap();
        assert_eq!(expiry(&p, ts("2026-05-20T12:00:00+08:00")), Some(ts("2026-06-19T12:00:00+08:00")));
        f.expiry = ExpiryPolicy::Never;
        let p = Program::from_file(f).unwrap();
        assert_eq!(expiry(&p, ts("2026-05-20T12:00:00+08:00")), None);
    }
}
