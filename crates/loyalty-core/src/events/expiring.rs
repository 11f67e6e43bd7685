//! `[events]` in the programme file, and the daily notice of points about to expire.

use super::payload::{PointsExpiring, V1};
use crate::account::Account;
use crate::config_file::{out_of_range, ConfigIssue};
use crate::ledger::LotStatus;
use crate::Program;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The longest window `expiring_days` may set.
pub const MAX_EXPIRING_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventSettings {
    /// A member is told (`points.expiring`) once a local day while points expire within this
    /// many days.
    pub expiring_days: i64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self { expiring_days: 7 }
    }
}

pub(crate) fn validate_settings(s: &EventSettings, issues: &mut Vec<ConfigIssue>) {
    if let Some(reason) = out_of_range(s.expiring_days, 1, MAX_EXPIRING_DAYS) {
        issues.push(ConfigIssue { field: "events.expiring_days".into(), reason });
    }
}

/// The `points.expiring` notice due to the member at `now`, if any: one a local day (`told`
/// is the last day the member was told), summing every active lot with points left that
/// expires after `now` and within `expiring_days` of it — not one per lot. `account` must be
/// advanced to `now` and loaded with every lot.
pub fn expiring_notice(
    account: &Account,
    program: &Program,
    now: Timestamp,
    told: Option<Date>,
) -> Option<PointsExpiring> {
    assert!(account.lots_fully_loaded(), "{}: expiring points need every active lot", account.member_id());
    let day = crate::engagement::local_day(program, now);
    if told.is_some_and(|t| t >= day) {
        return None;
    }
    let days = program.file.events.expiring_days;
    let horizon = crate::calendar::plus_secs(now, days * 86_400);
    let lots: Vec<_> = account
        .lots()
        .iter()
        .filter(|l| l.status == LotStatus::Active && l.remaining.is_positive())
        .filter_map(|l| l.expires_at.filter(|e| *e > now && *e <= horizon).map(|e| (l.remaining, e)))
        .collect();
    let earliest = lots.iter().map(|(_, e)| *e).min()?;
    Some(PointsExpiring {
        v: V1,
        day,
        points: lots.iter().map(|(p, _)| p.get()).sum(),
        lots: lots.len() as i64,
        earliest_expires_at: earliest,
        within_days: days,
    })
}
