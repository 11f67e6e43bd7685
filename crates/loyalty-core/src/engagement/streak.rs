//! The check-in rules: one check-in per local calendar day, the streak it extends, the
//! milestone it pays, and make-ups that mend a missed day. A [`Calendar`] holds the member's
//! recent days (the writer loads enough of them: the make-up window and a month before it);
//! the rules change it and name the days to write.

use super::checkin::CheckinSettings;
use crate::ids::MemberId;
use crate::DomainError;
use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayKind {
    Checkin,
    Makeup,
}

impl DayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Checkin => "checkin",
            Self::Makeup => "makeup",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Checkin, Self::Makeup].into_iter().find(|k| k.as_str() == s)
    }
}

/// One checked-in day of a member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    pub day: Date,
    pub kind: DayKind,
    /// When it was recorded, and the local day that was (a make-up's month counts toward the
    /// monthly limit).
    pub at: Timestamp,
    pub made_on: Date,
    /// The streak ending on this day; a make-up before it moves it.
    pub streak: i64,
    /// What this day's record earned: the daily reward and the milestones it paid.
    pub points: i64,
    pub growth: i64,
    pub milestones: Vec<i64>,
    /// A make-up's price: points spent, or the make-up card (a coupon) used up.
    pub cost_points: i64,
    pub card: Option<String>,
}

/// How a make-up is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MakeupPay {
    /// `[checkin.makeup].cost_points`.
    Points,
    /// A make-up card: a coupon of one of `[checkin.makeup].cards`, which the writer checks and
    /// uses up.
    Card(String),
}

/// What a check-in or a make-up earns, for the writer to credit and issue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reward {
    pub points: i64,
    pub growth: i64,
    /// The milestone days paid (a make-up that joins two runs may pay several).
    pub milestones: Vec<i64>,
    /// Coupon templates to issue, one per entry.
    pub coupons: Vec<String>,
    pub cost_points: i64,
}

/// A member's recent check-ins, from `from` (inclusive) on.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    pub member: MemberId,
    pub from: Date,
    pub days: BTreeMap<Date, Day>,
    /// Days recorded here, to insert, and stored days whose streak a make-up moved, to update.
    pub added: BTreeSet<Date>,
    pub moved: BTreeSet<Date>,
}

fn refuse(code: &'static str, reason: String) -> DomainError {
    DomainError::Checkin { code, reason }
}

fn prev(d: Date) -> Date {
    d.yesterday().expect("days of the supported range have a day before")
}

impl Calendar {
    pub fn new(member: MemberId, from: Date, days: impl IntoIterator<Item = Day>) -> Self {
        let days: BTreeMap<Date, Day> = days.into_iter().map(|d| (d.day, d)).collect();
        debug_assert!(days.keys().all(|d| *d >= from), "only days from `from` are loaded");
        Self { member, from, days, added: BTreeSet::new(), moved: BTreeSet::new() }
    }

    /// The first day the writer must load to decide on `today`: the make-up window, the day
    /// before it (its streak), and a month before that (make-ups made this month for days in
    /// the month before count toward this month's limit).
    pub fn load_from(settings: &CheckinSettings, today: Date) -> Date {
        today.checked_sub((settings.makeup.days + 32).days()).expect("in range")
    }

    pub fn streak_on(&self, day: Date) -> i64 {
        self.days.get(&day).map_or(0, |d| d.streak)
    }

    /// The running streak: today's, or yesterday's while today is not checked in yet.
    pub fn current_streak(&self, today: Date) -> i64 {
        self.days.get(&today).map_or_else(|| self.streak_on(prev(today)), |d| d.streak)
    }

    /// Make-ups made in `today`'s month.
    pub fn makeups_this_month(&self, today: Date) -> i64 {
        let same = |d: Date| (d.year(), d.month()) == (today.year(), today.month());
        self.days.values().filter(|d| d.kind == DayKind::Makeup && same(d.made_on)).count() as i64
    }

    pub fn makeups_left(&self, s: &CheckinSettings, today: Date) -> i64 {
        if s.makeup.days == 0 {
            return 0;
        }
        (s.makeup.per_month - self.makeups_this_month(today)).max(0)
    }

    /// Today's check-in: refused when check-ins are off or today is checked in already.
    pub fn check_in(&mut self, s: &CheckinSettings, today: Date, at: Timestamp) -> Result<Reward, DomainError> {
        if !s.enabled {
            return Err(refuse("checkin_off", "the programme has no daily check-in".into()));
        }
        if let Some(d) = self.days.get(&today) {
            return Err(refuse(
                "already_checked_in",
                format!("member {} checked in on {today} already (streak {})", self.member, d.streak),
            ));
        }
        let streak = self.streak_on(prev(today)) + 1;
        let mut reward = Reward { points: s.points, growth: s.growth, ..Reward::default() };
        if let Some((i, _)) = s.milestones.iter().enumerate().find(|(_, m)| m.day == s.position(streak)) {
            pay(s, i, &mut reward);
        }
        self.record(Day {
            day: today,
            kind: DayKind::Checkin,
            at,
            made_on: today,
            streak,
            points: reward.points,
            growth: reward.growth,
            milestones: reward.milestones.clone(),
            cost_points: 0,
            card: None,
        });
        Ok(reward)
    }

    /// A make-up for `day`, a missed day within the window: it earns the day's reward, mends
    /// the streak through it, and pays each milestone as often as the joined run reaches it
    /// less the times the runs before and after it reached it (never less than nothing). The price (`cost_points`, or the card) is the writer's to take.
    pub fn make_up(
        &mut self,
        s: &CheckinSettings,
        (day, today): (Date, Date),
        pay_with: &MakeupPay,
        at: Timestamp,
    ) -> Result<Reward, DomainError> {
        if !s.enabled {
            return Err(refuse("checkin_off", "the programme has no daily check-in".into()));
        }
        if s.makeup.days == 0 {
            return Err(refuse("makeup_off", "the programme allows no make-up check-ins".into()));
        }
        if day >= today {
            return Err(DomainError::unprocessable("day", format!("{day} is not a past day: check in for today")));
        }
        let oldest = today.checked_sub(s.makeup.days.days()).expect("in range");
        if day < oldest {
            return Err(DomainError::unprocessable(
                "day",
                format!("{day} is too far back: the last {} days can be made up (from {oldest})", s.makeup.days),
            ));
        }
        if self.days.contains_key(&day) {
            return Err(refuse("already_checked_in", format!("member {} has {day} checked in already", self.member)));
        }
        if self.makeups_this_month(today) >= s.makeup.per_month {
            return Err(refuse(
                "makeup_limit_reached",
                format!("{} make-ups a month, the limit, are made this month", s.makeup.per_month),
            ));
        }
        let before = self.streak_on(prev(day));
        let mut after = 0;
        let mut next = day.tomorrow().expect("in range");
        while next <= today && self.days.contains_key(&next) {
            after += 1;
            next = next.tomorrow().expect("in range");
        }
        let joined = before + 1 + after;
        let mut reward = Reward { points: s.points, growth: s.growth, ..Reward::default() };
        let (all, left, right) = (s.payments(joined), s.payments(before), s.payments(after));
        for i in 0..s.milestones.len() {
            // What the parts were paid stays paid: with a cycle both parts may have paid a
            // milestone the joined run reaches once, and nothing is taken back.
            for _ in 0..(all[i] - left[i] - right[i]).max(0) {
                pay(s, i, &mut reward);
            }
        }
        let card = match pay_with {
            MakeupPay::Points => {
                reward.cost_points = s.makeup.cost_points;
                None
            }
            MakeupPay::Card(c) => Some(c.clone()),
        };
        let mut d = day;
        for k in 1..=after {
            d = d.tomorrow().expect("in range");
            let row = self.days.get_mut(&d).expect("counted above");
            row.streak = before + 1 + k;
            if !self.added.contains(&d) {
                self.moved.insert(d);
            }
        }
        self.record(Day {
            day,
            kind: DayKind::Makeup,
            at,
            made_on: today,
            streak: before + 1,
            points: reward.points,
            growth: reward.growth,
            milestones: reward.milestones.clone(),
            cost_points: reward.cost_points,
            card,
        });
        Ok(reward)
    }

    fn record(&mut self, d: Day) {
        self.added.insert(d.day);
        self.days.insert(d.day, d);
        debug_assert!(self.check().is_empty(), "{:?}", self.check());
    }

    /// Each day's streak is one more than the day before's (or 1 after a gap), for the days
    /// loaded: what `loyalty verify` asks of every member's days.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (day, d) in &self.days {
            let before = prev(*day);
            let expected = match self.days.get(&before) {
                Some(p) => p.streak + 1,
                // The first loaded day may continue a run from before `from`.
                None if before < self.from => d.streak,
                None => 1,
            };
            if d.streak != expected {
                problems.push(format!(
                    "check-in {day} of member {}: streak {} but {expected} expected",
                    self.member, d.streak
                ));
            }
            if d.streak < 1 || d.points < 0 || d.growth < 0 || d.cost_points < 0 {
                problems.push(format!("check-in {day} of member {}: a negative figure", self.member));
            }
        }
        problems
    }
}

fn pay(s: &CheckinSettings, i: usize, reward: &mut Reward) {
    let m = &s.milestones[i];
    reward.points += m.points;
    reward.growth += m.growth;
    reward.milestones.push(m.day);
    reward.coupons.extend(m.coupon.iter().cloned());
}
