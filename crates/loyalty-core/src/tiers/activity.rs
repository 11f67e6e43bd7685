//! Member activities (reviews, shares, community posts, …) and benefit claims.

use super::config::CapPeriod;
use super::rules::GrowthKind;
use crate::account::Account;
use crate::error::DomainError;
use crate::ids::{ActivityId, ClaimId};
use crate::ledger::SourceKind;
use crate::program::Program;
use crate::text::check_text;
use jiff::{civil::Date, Timestamp, ToSpan};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Activity,
    /// A claim on a monthly benefit quota (free samples).
    Claim,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Claim => "claim",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Activity, Self::Claim].into_iter().find(|k| k.as_str() == s)
    }
}

/// A recorded activity or claim, with what it awarded and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    pub action_id: String,
    pub action_type: String,
    pub occurred_at: Timestamp,
    pub reference: Option<String>,
    pub growth: i64,
    pub points: i64,
    /// Why nothing was awarded, when nothing was.
    pub note: Option<String>,
    pub created_at: Timestamp,
}

/// The calendar period (in the programme's zone) that contains `at`.
pub fn period_bounds(program: &Program, period: CapPeriod, at: Timestamp) -> (Timestamp, Timestamp) {
    let date = at.to_zoned(program.tz.clone()).date();
    let (start, span) = match period {
        CapPeriod::Day => (date, 1.day()),
        CapPeriod::Week => {
            (date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days()).unwrap_or(date), 7.days())
        }
        CapPeriod::Month => (date.first_of_month(), 1.month()),
    };
    let at_start = |d: Date| d.to_zoned(program.tz.clone()).map(|z| z.timestamp()).unwrap_or(Timestamp::MIN);
    (at_start(start), start.checked_add(span).map(at_start).unwrap_or(Timestamp::MAX))
}

/// An activity as the store reports it, validated: parse with [`ActivityInput::parse`].
#[derive(Debug, Clone)]
pub struct ActivityInput {
    pub id: ActivityId,
    pub kind: String,
    pub occurred_at: Timestamp,
    pub reference: Option<String>,
}

/// Longest activity type and reference (characters).
pub const MAX_TYPE_CHARS: usize = 64;
pub const MAX_REFERENCE_CHARS: usize = 256;

impl ActivityInput {
    /// Validates an activity as sent: its id, a printable type and reference of bounded
    /// length, and when it happened (RFC 3339, not in the future beyond the clock skew).
    /// Whether the type is one of the programme's is the rule's to say ([`record_activity`]).
    pub fn parse(
        id: &str,
        kind: &str,
        occurred_at: &str,
        reference: Option<&str>,
        now: Timestamp,
    ) -> Result<Self, DomainError> {
        let id = ActivityId::parse(id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        check_text("type", kind, 1..=MAX_TYPE_CHARS)?;
        if let Some(r) = reference {
            check_text("reference", r, 0..=MAX_REFERENCE_CHARS)?;
        }
        let latest = crate::calendar::plus_secs(now, crate::order::MAX_FUTURE_SKEW_SECS);
        let occurred_at = crate::instant::parse_past_instant("occurred_at", occurred_at, latest)?;
        Ok(Self { id, kind: kind.to_owned(), occurred_at, reference: reference.map(str::to_owned) })
    }
}

impl Action {
    /// Names the fields in which a retried activity differs from this recorded one, for a
    /// 409 that says what.
    pub fn differences(&self, input: &ActivityInput) -> Vec<String> {
        let mut d = Vec::new();
        if self.action_type != input.kind {
            d.push("type".to_owned());
        }
        if self.occurred_at != input.occurred_at {
            d.push("occurred_at".to_owned());
        }
        if self.reference != input.reference {
            d.push("reference".to_owned());
        }
        d
    }
}

/// Records an activity. Over its cap it is accepted and recorded with nothing awarded and
/// the reason; otherwise growth (and points, usable at once) are awarded.
/// `prior` holds this member's earlier activities of the same type in the same period.
pub fn record_activity(
    acc: &mut Account,
    program: &Program,
    input: &ActivityInput,
    prior: &[Action],
    now: Timestamp,
) -> Result<Action, DomainError> {
    let (id, kind, occurred_at) = (input.id.as_str(), input.kind.as_str(), input.occurred_at);
    let cfg =
        program.file.activities.iter().find(|a| a.kind == kind).ok_or_else(|| {
            DomainError::unprocessable("type", format!("{kind:?} is not an activity of the programme"))
        })?;
    acc.can_transact()?;
    let (start, end) = period_bounds(program, cfg.cap_period, occurred_at);
    let awarded = prior
        .iter()
        .filter(|a| {
            a.action_type == kind && a.occurred_at >= start && a.occurred_at < end && (a.growth > 0 || a.points > 0)
        })
        .count();
    let mut action = Action {
        kind: ActionKind::Activity,
        action_id: id.to_owned(),
        action_type: kind.to_owned(),
        occurred_at,
        reference: input.reference.clone(),
        growth: 0,
        points: 0,
        note: None,
        created_at: now,
    };
    if awarded as i64 >= cfg.cap {
        let period = match cfg.cap_period {
            CapPeriod::Day => "day",
            CapPeriod::Week => "week",
            CapPeriod::Month => "month",
        };
        action.note = Some(format!("cap of {} {kind} per {period} reached: recorded, nothing awarded", cfg.cap));
        return Ok(action);
    }
    acc.check_growth("type", cfg.growth)?;
    if cfg.points > 0 {
        acc.check_credit("type", crate::Points::new(cfg.points))?;
    }
    let source = format!("activity/{id}");
    acc.add_growth(program, GrowthKind::Activity, &source, cfg.growth, occurred_at, now);
    if cfg.points > 0 {
        acc.earn_now(program, (SourceKind::Activity, &source), crate::Points::new(cfg.points), now);
    }
    action.growth = cfg.growth;
    action.points = cfg.points;
    Ok(action)
}

/// This month's free samples: the tier's quota, the claims made in the month (in the programme's
/// zone), and what is left. The benefits read and the claim count the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleQuota {
    pub quota: i64,
    pub used: i64,
    pub left: i64,
}

/// Counts `prior` (any of the member's actions) against `quota` for the month holding `now`.
pub fn free_samples(program: &Program, quota: i64, prior: &[Action], now: Timestamp) -> SampleQuota {
    let (start, end) = period_bounds(program, CapPeriod::Month, now);
    let used =
        prior.iter().filter(|a| a.kind == ActionKind::Claim && a.occurred_at >= start && a.occurred_at < end).count()
            as i64;
    SampleQuota { quota, used, left: (quota - used).max(0) }
}

/// Claims one free sample from this month's quota of the member's tier.
pub fn claim_free_sample(
    acc: &mut Account,
    program: &Program,
    id: &ClaimId,
    prior: &[Action],
    now: Timestamp,
) -> Result<Action, DomainError> {
    acc.can_transact()?;
    let quota = super::rules::level_index(program, &acc.tier.code)
        .map(|i| program.file.tiers.levels[i].free_samples_per_month)
        .unwrap_or(0);
    let SampleQuota { used, left, .. } = free_samples(program, quota, prior, now);
    if left == 0 {
        return Err(DomainError::Conflict {
            what: "free sample quota".into(),
            id: acc.member_id.to_string(),
            differences: vec![format!("{used} of {quota} free samples used this month")],
        });
    }
    Ok(Action {
        kind: ActionKind::Claim,
        action_id: id.to_string(),
        action_type: crate::usage::FREE_SAMPLE.into(),
        occurred_at: now,
        reference: None,
        growth: 0,
        points: 0,
        note: None,
        created_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(at: &str) -> Action {
        let at: Timestamp = at.parse().unwrap();
        Action {
            kind: ActionKind::Claim,
            action_id: at.to_string(),
            action_type: crate::usage::FREE_SAMPLE.into(),
            occurred_at: at,
            reference: None,
            growth: 0,
            points: 0,
            note: None,
            created_at: at,
        }
    }

    /// Only this month's claims (in the programme's zone) count, and nothing is left below zero.
    #[test]
    fn free_samples_count_this_local_month_only() {
        let p = Program::default_program();
        let now: Timestamp = "2026-12-15T12:00:00+08:00".parse().unwrap();
        // 2026-11-30T17:00Z is already 1 December in Shanghai; 15:00Z is still November.
        let prior = [claim("2026-11-30T15:00:00Z"), claim("2026-11-30T17:00:00Z"), claim("2026-12-10T09:00:00+08:00")];
        assert_eq!(free_samples(&p, 3, &prior, now), SampleQuota { quota: 3, used: 2, left: 1 });
        assert_eq!(free_samples(&p, 1, &prior, now), SampleQuota { quota: 1, used: 2, left: 0 });
    }
}
