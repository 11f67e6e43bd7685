//! The `[checkin]` table of the programme: the daily reward, milestone bonuses on streak days,
//! whether the milestones cycle, and make-ups (补签).

use crate::config_file::{out_of_range, ConfigIssue};
use serde::{Deserialize, Serialize};

/// The longest milestone day, make-up window and monthly make-up count a programme may set.
pub const MAX_MILESTONE_DAY: i64 = 366;
pub const MAX_MILESTONES: usize = 32;
pub const MAX_MAKEUP_DAYS: i64 = 31;
pub const MAX_MAKEUPS_PER_MONTH: i64 = 31;
const MAX_REWARD_POINTS: i64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckinSettings {
    /// Off, a check-in is a 409 `checkin_off`.
    pub enabled: bool,
    /// Points and growth every day's check-in earns.
    pub points: i64,
    pub growth: i64,
    /// Bonuses on streak days, in increasing `day`.
    pub milestones: Vec<Milestone>,
    /// After the last milestone the streak's milestones start again (day 8 counts as day 1 of
    /// a 7-day cycle); otherwise the streak keeps counting and pays only the daily reward.
    pub cycle: bool,
    pub makeup: Makeup,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    /// The streak day that pays (1 = the first day).
    pub day: i64,
    #[serde(default)]
    pub points: i64,
    #[serde(default)]
    pub growth: i64,
    /// A coupon template issued on the day (channel `engagement`).
    #[serde(default)]
    pub coupon: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Makeup {
    /// How far back a missed day may be made up: 1 is yesterday only; 0 turns make-ups off.
    pub days: i64,
    /// Make-ups a member may make in a calendar month (counted by the day they are made).
    pub per_month: i64,
    /// What a make-up costs in points; 0 makes them free.
    pub cost_points: i64,
    /// Coupon templates whose coupons are make-up cards (补签卡): a make-up may use one up instead
    /// of paying points.
    pub cards: Vec<String>,
}

impl Default for CheckinSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            points: 5,
            growth: 1,
            milestones: vec![
                Milestone { day: 3, points: 10, growth: 0, coupon: None },
                Milestone { day: 7, points: 50, growth: 5, coupon: None },
            ],
            cycle: true,
            makeup: Makeup::default(),
        }
    }
}

impl Default for Makeup {
    fn default() -> Self {
        Self { days: 7, per_month: 2, cost_points: 20, cards: Vec::new() }
    }
}

impl CheckinSettings {
    /// The milestone paying on streak position `pos` (1-based, within a cycle when cycling).
    pub fn milestone_at(&self, pos: i64) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.day == pos)
    }

    /// The last milestone's day: the length of a cycle.
    pub fn cycle_days(&self) -> Option<i64> {
        self.milestones.last().map(|m| m.day)
    }

    /// Where streak day `streak` falls for the milestones: itself, or its place in the cycle.
    pub fn position(&self, streak: i64) -> i64 {
        assert!(streak >= 1, "a streak day is 1 or more");
        match self.cycle_days() {
            Some(len) if self.cycle => (streak - 1) % len + 1,
            _ => streak,
        }
    }

    /// How many times each milestone (by index) pays over a run of `n` days.
    pub fn payments(&self, n: i64) -> Vec<i64> {
        self.milestones
            .iter()
            .map(|m| match self.cycle_days() {
                _ if n < m.day => 0,
                Some(len) if self.cycle => (n - m.day) / len + 1,
                _ => 1,
            })
            .collect()
    }

    /// The next milestone after streak day `streak`: its streak day and the milestone.
    pub fn next_milestone(&self, streak: i64) -> Option<(i64, &Milestone)> {
        let pos = if streak == 0 { 0 } else { self.position(streak) };
        if let Some(m) = self.milestones.iter().find(|m| m.day > pos) {
            return Some((streak + m.day - pos, m));
        }
        let first = self.milestones.first()?;
        // Past the last milestone: the next cycle's first, when cycling.
        (self.cycle && pos > 0).then(|| (streak + first.day + self.cycle_days().unwrap_or(0) - pos, first))
    }
}

/// Checks `[checkin]`, every problem by its key (`checkin.milestones[1].day`).
pub(crate) fn validate(s: &CheckinSettings, issues: &mut Vec<ConfigIssue>) {
    let mut bad = |field: String, reason: String| issues.push(ConfigIssue { field, reason });
    let mut ranges = vec![
        ("checkin.points".to_owned(), s.points, 0, MAX_REWARD_POINTS),
        ("checkin.growth".to_owned(), s.growth, 0, MAX_REWARD_POINTS),
        ("checkin.makeup.days".to_owned(), s.makeup.days, 0, MAX_MAKEUP_DAYS),
        ("checkin.makeup.per_month".to_owned(), s.makeup.per_month, 0, MAX_MAKEUPS_PER_MONTH),
        ("checkin.makeup.cost_points".to_owned(), s.makeup.cost_points, 0, MAX_REWARD_POINTS),
    ];
    if s.milestones.len() > MAX_MILESTONES {
        bad("checkin.milestones".into(), format!("holds {} milestones; at most {MAX_MILESTONES}", s.milestones.len()));
    }
    for (i, m) in s.milestones.iter().enumerate() {
        let f = |n: &str| format!("checkin.milestones[{i}].{n}");
        ranges.push((f("day"), m.day, 1, MAX_MILESTONE_DAY));
        ranges.push((f("points"), m.points, 0, MAX_REWARD_POINTS));
        ranges.push((f("growth"), m.growth, 0, MAX_REWARD_POINTS));
        if i > 0 && m.day <= s.milestones[i - 1].day {
            bad(f("day"), format!("{} must be after the milestone before it (day {})", m.day, s.milestones[i - 1].day));
        }
        if let Some(t) = &m.coupon {
            if crate::ids::TemplateId::parse(t).is_err() {
                bad(f("coupon"), format!("{t:?} is not a template id"));
            }
        }
    }
    for (i, t) in s.makeup.cards.iter().enumerate() {
        if crate::ids::TemplateId::parse(t).is_err() {
            bad(format!("checkin.makeup.cards[{i}]"), format!("{t:?} is not a template id"));
        }
    }
    if s.makeup.cards.len() > MAX_MILESTONES {
        bad(
            "checkin.makeup.cards".into(),
            format!("holds {} templates; at most {MAX_MILESTONES}", s.makeup.cards.len()),
        );
    }
    for (name, v, lo, hi) in ranges {
        if let Some(reason) = out_of_range(v, lo, hi) {
            bad(name, reason);
        }
    }
}

/// How long after the member tapped a check-in may arrive and still count for that instant's
/// day (a request sent at 23:59:59 that reaches us after midnight). Anything older is a missed
/// day, which only a make-up mends.
pub const MAX_LATE_SECS: i64 = 300;

/// The instant a check-in counts at: `at` as sent, at most [`MAX_LATE_SECS`] before `now`; an
/// `at` ahead of `now` by no more than the clock skew orders allow counts at `now` (a client
/// clock running fast must not check in for tomorrow before midnight); `now` without one.
pub fn checkin_instant(
    at: Option<jiff::Timestamp>,
    now: jiff::Timestamp,
) -> Result<jiff::Timestamp, crate::DomainError> {
    let Some(at) = at else { return Ok(now) };
    let skew = jiff::SignedDuration::from_secs(crate::order::MAX_FUTURE_SKEW_SECS);
    if at > now.saturating_add(skew).expect("seconds add to an instant") {
        return Err(crate::DomainError::unprocessable("at", format!("{at} is in the future")));
    }
    if at < now.saturating_sub(jiff::SignedDuration::from_secs(MAX_LATE_SECS)).expect("seconds subtract") {
        return Err(crate::DomainError::unprocessable(
            "at",
            format!("{at} is more than {MAX_LATE_SECS} seconds ago: a missed day is made up (POST …/checkins/makeups)"),
        ));
    }
    Ok(at.min(now))
}

/// The local calendar day of `at` in the programme's zone: where a check-in's day begins and ends.
pub fn local_day(program: &crate::Program, at: jiff::Timestamp) -> jiff::civil::Date {
    at.to_zoned(program.tz.clone()).date()
}
