//! Instants as stores and operators send them: RFC 3339 with an offset, within a sane range,
//! kept to the microsecond (what both databases store, so a retried request compares equal).

use crate::error::DomainError;
use jiff::fmt::temporal::Pieces;
use jiff::tz::Offset;
use jiff::Timestamp;

/// The earliest instant accepted. Nothing a store reports (an order, a refund, an activity)
/// happened before it, so an earlier one is a mistake; and before it the programme's zone
/// rules are histories of local mean time (Shanghai ran at +08:05:43 in 1900) that answers
/// would be written in.
pub const EARLIEST: Timestamp = Timestamp::UNIX_EPOCH;
/// Every instant accepted is before this one (2200-01-01T00:00:00Z): no order, assignment or
/// report range reaches it, and calendar arithmetic from any accepted instant (terms, expiry
/// at the end of a month years later) stays far inside what `jiff` represents (to 9999).
pub const END: Timestamp = Timestamp::constant(7_258_118_400, 0);
/// The widest offset from UTC in use (Kiribati, +14:00; the lowest is −12:00).
pub const MAX_OFFSET_SECS: i32 = 14 * 3600;

/// Why an instant was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    Syntax,
    /// The offset as written, e.g. `+25:00`.
    Offset(String),
    Early,
    Late,
}

/// Parses an RFC 3339 timestamp that carries an offset of at most ±14:00, between
/// [`EARLIEST`] and [`END`]. The refusal names `field` and says exactly what is wrong.
pub fn parse_instant(field: &str, raw: &str) -> Result<Timestamp, DomainError> {
    read(raw).map_err(|r| refused(field, raw, r))
}

/// Parses an instant that must not be after `latest` (now plus the clock skew allowed): when
/// something happened. Anything later, however far, is answered "is in the future".
pub fn parse_past_instant(field: &str, raw: &str, latest: Timestamp) -> Result<Timestamp, DomainError> {
    match read(raw) {
        Ok(t) if t <= latest => Ok(t),
        Ok(_) | Err(Refusal::Late) => Err(DomainError::unprocessable(field, format!("{raw} is in the future"))),
        Err(r) => Err(refused(field, raw, r)),
    }
}

fn read(raw: &str) -> Result<Timestamp, Refusal> {
    // Offsets past ±25:59 do not parse at all; read the written one first to say why.
    if let Some((written, secs)) = written_offset(raw) {
        if secs > MAX_OFFSET_SECS {
            return Err(Refusal::Offset(written.to_owned()));
        }
    }
    let pieces = Pieces::parse(raw).map_err(|_| Refusal::Syntax)?;
    let (Some(time), Some(offset)) = (pieces.time(), pieces.to_numeric_offset()) else {
        return Err(Refusal::Syntax);
    };
    if offset.seconds().abs() > MAX_OFFSET_SECS {
        return Err(Refusal::Offset(show_offset(offset)));
    }
    let date = pieces.date();
    // Only the first and last days of years ±9999 fall outside `jiff`'s range.
    let t = offset.to_timestamp(date.to_datetime(time)).map_err(|_| {
        if date.year() < 0 {
            Refusal::Early
        } else {
            Refusal::Late
        }
    })?;
    if t < EARLIEST {
        return Err(Refusal::Early);
    }
    if t >= END {
        return Err(Refusal::Late);
    }
    let micros = jiff::TimestampRound::new().smallest(jiff::Unit::Microsecond).mode(jiff::RoundMode::Trunc);
    Ok(t.round(micros).expect("an instant before 2200 rounds to the microsecond"))
}

/// A trailing `±HH:MM`, as written, with its size in seconds.
fn written_offset(raw: &str) -> Option<(&str, i32)> {
    let b = raw.as_bytes();
    let n = b.len();
    if n < 6 || !matches!(b[n - 6], b'+' | b'-') || b[n - 3] != b':' {
        return None;
    }
    let two = |i: usize| {
        (b[i].is_ascii_digit() && b[i + 1].is_ascii_digit())
            .then(|| i32::from(b[i] - b'0') * 10 + i32::from(b[i + 1] - b'0'))
    };
    Some((&raw[n - 6..], two(n - 5)? * 3600 + two(n - 2)? * 60))
}

fn show_offset(o: Offset) -> String {
    let s = o.seconds();
    format!("{}{:02}:{:02}", if s < 0 { '-' } else { '+' }, s.abs() / 3600, s.abs() % 3600 / 60)
}

fn refused(field: &str, raw: &str, why: Refusal) -> DomainError {
    // Echo what was sent only while it is short: the answer should not carry a megabyte back.
    let shown = if raw.chars().count() <= 64 { format!("{raw:?}") } else { "the value".to_owned() };
    let reason = match why {
        Refusal::Syntax => {
            format!("{shown} is not an RFC 3339 timestamp with offset, e.g. 2026-11-11T20:00:00+08:00")
        }
        Refusal::Offset(o) => format!("{shown}: offset {o} is beyond ±14:00, the widest offset in use"),
        Refusal::Early => format!("{shown} is before {EARLIEST}, the earliest instant accepted"),
        Refusal::Late => format!("{shown} is too late: instants must be before {END}"),
    };
    DomainError::unprocessable(field, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(raw: &str) -> String {
        match parse_instant("at", raw) {
            Err(DomainError::Unprocessable { reason, .. }) => reason,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn the_range_is_1970_to_2200_and_instants_keep_microseconds() {
        assert_eq!(END.to_string(), "2200-01-01T00:00:00Z");
        assert_eq!(parse_instant("at", "1970-01-01T08:00:00+08:00"), Ok(EARLIEST));
        let t = parse_instant("at", "2199-12-31T23:59:59.9999999Z").unwrap();
        assert_eq!(t.to_string(), "2199-12-31T23:59:59.999999Z", "truncated to the microsecond");
        assert!(why("1969-12-31T23:59:59Z").contains("is before 1970-01-01T00:00:00Z"));
        assert!(why("1900-01-01T00:00:00+08:00").contains("is before 1970-01-01T00:00:00Z"));
        assert!(why("0000-01-01T00:00:00Z").contains("is before 1970-01-01T00:00:00Z"));
        assert!(why("-009999-01-01T00:00:00Z").contains("is before"));
        assert!(why("2200-01-01T00:00:00Z").contains("must be before 2200-01-01T00:00:00Z"));
        assert!(why("9999-12-31T23:59:59Z").contains("must be before 2200-01-01T00:00:00Z"));
    }

    #[test]
    fn offsets_beyond_14_hours_are_named_as_written() {
        assert!(parse_instant("at", "2026-01-01T00:00:00+14:00").is_ok());
        assert!(parse_instant("at", "2026-01-01T00:00:00-12:00").is_ok());
        assert!(why("2026-01-01T00:00:00+25:00").ends_with("offset +25:00 is beyond ±14:00, the widest offset in use"));
        assert!(why("2026-01-01T00:00:00+26:00").contains("offset +26:00 is beyond ±14:00"));
        assert!(why("2026-01-01T00:00:00-14:01").contains("offset -14:01 is beyond ±14:00"));
        assert!(why("2026-01-01T00:00:00+1430").contains("offset +14:30 is beyond ±14:00"));
    }

    #[test]
    fn what_is_not_a_timestamp_is_called_so_and_long_input_is_not_echoed() {
        for raw in ["yesterday", "2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00+08:75", ""] {
            assert!(why(raw).contains("is not an RFC 3339 timestamp"), "{raw}");
        }
        let long = "9".repeat(1000);
        assert!(!why(&long).contains(&long));
    }

    #[test]
    fn instants_in_the_past_say_in_the_future_for_anything_later() {
        let now = parse_instant("at", "2026-06-01T00:00:00Z").unwrap();
        let past = |raw| parse_past_instant("paid_at", raw, now).map_err(|e| e.to_string());
        assert_eq!(past("2026-06-01T08:00:00+08:00"), Ok(now));
        for raw in ["2026-06-01T00:00:01Z", "2999-01-01T00:00:00Z", "9999-12-31T23:59:59Z"] {
            assert_eq!(past(raw), Err(format!("paid_at: {raw} is in the future")));
        }
        assert!(past("1900-01-01T00:00:00Z").unwrap_err().contains("1970"));
    }
}
