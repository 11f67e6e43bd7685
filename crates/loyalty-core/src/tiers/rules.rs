//! Tier rules over a member's [`Account`](crate::account::Account).

use super::config::*;
use crate::account::Account;
use crate::calendar::plus_secs;
use crate::error::DomainError;
use crate::program::Program;
use crate::text::Reason;
use jiff::{civil::Date, Timestamp, ToSpan};
use serde::Serialize;

/// Bound on review steps in one call (catching up on years of terms still fits).
const MAX_REVIEW_STEPS: usize = 1_000;

/// A member's place on the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TierState {
    /// The tier code; empty until the member joins.
    pub code: String,
    pub since: Option<Timestamp>,
    /// End of the current term; `None` for the base tier, which has no term.
    pub term_end: Option<Timestamp>,
    /// Set while the member is in grace after a term ended without retention.
    pub grace_until: Option<Timestamp>,
    /// The at-risk warning of this term was recorded.
    pub warned: bool,
    pub assigned_reason: Option<String>,
    pub assigned_until: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrowthKind {
    Order,
    Refund,
    Activity,
    Checkin,
    Task,
    Referral,
}

impl GrowthKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Refund => "refund",
            Self::Activity => "activity",
            Self::Checkin => "checkin",
            Self::Task => "task",
            Self::Referral => "referral",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Order, Self::Refund, Self::Activity, Self::Checkin, Self::Task, Self::Referral]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One movement of growth (never spent; refunds take it back in proportion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrowthEntry {
    pub seq: i64,
    pub kind: GrowthKind,
    pub amount: i64,
    pub source_id: String,
    pub at: Timestamp,
    /// Lifetime growth after this entry.
    pub total_after: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierEventKind {
    Joined,
    Upgraded,
    Retained,
    AtRisk,
    Downgraded,
    Assigned,
    AssignmentEnded,
}

impl TierEventKind {
    pub const ALL: [TierEventKind; 7] = [
        Self::Joined,
        Self::Upgraded,
        Self::Retained,
        Self::AtRisk,
        Self::Downgraded,
        Self::Assigned,
        Self::AssignmentEnded,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Upgraded => "upgraded",
            Self::Retained => "retained",
            Self::AtRisk => "at_risk",
            Self::Downgraded => "downgraded",
            Self::Assigned => "assigned",
            Self::AssignmentEnded => "assignment_ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A tier change or warning, with its cause. `at_risk` is the `tier.at_risk` event; the
/// others are the member's tier history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierEvent {
    pub seq: i64,
    pub kind: TierEventKind,
    pub from: Option<String>,
    pub to: String,
    pub at: Timestamp,
    pub growth_in_window: i64,
    /// Growth still needed (to keep the tier, or to come back to it).
    pub growth_needed: Option<i64>,
    pub deadline: Option<Timestamp>,
    pub detail: String,
}

pub fn level_index(program: &Program, code: &str) -> Option<usize> {
    program.file.tiers.levels.iter().position(|l| l.code == code)
}

fn base_index(program: &Program) -> usize {
    program.file.tiers.levels.iter().position(|l| !l.invitation_only).expect("validated: a growth tier exists")
}

/// The highest tier growth reaches.
pub fn qualified(program: &Program, growth: i64) -> usize {
    let levels = &program.file.tiers.levels;
    let mut best = base_index(program);
    for (i, l) in levels.iter().enumerate() {
        if !l.invitation_only && growth >= l.entry && l.entry >= levels[best].entry {
            best = i;
        }
    }
    best
}

/// Start of the qualification window ending at `at` (`None`: lifetime).
pub fn window_start(program: &Program, at: Timestamp) -> Option<Timestamp> {
    let z = at.to_zoned(program.tz.clone());
    match program.file.tiers.window {
        Window::Lifetime => None,
        Window::Rolling12Months => Some(z.checked_sub(12.months()).map(|z| z.timestamp()).unwrap_or(Timestamp::MIN)),
        Window::CalendarYear => Some(
            Date::new(z.year(), 1, 1)
                .ok()
                .and_then(|d| d.to_zoned(program.tz.clone()).ok())
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MIN),
        ),
    }
}

/// Growth earned in the window ending at `at` (never below zero).
pub fn growth_in_window(acc: &Account, program: &Program, at: Timestamp) -> i64 {
    let start = window_start(program, at);
    let sum = match start {
        None => acc.growth_entries.iter().filter(|g| g.at <= at).map(|g| g.amount).sum::<i64>(),
        Some(start) => acc.growth_entries.iter().filter(|g| g.at > start && g.at <= at).map(|g| g.amount).sum(),
    };
    let summed = acc.growth_sum.as_ref().map_or(0, |s| {
        // The sum stands for entries the window must count whole; a window that would split
        // it is a bug in what the store was asked to load.
        assert!(
            start.is_some_and(|st| st <= s.after) && at >= s.upto,
            "{}: the window ending at {at} splits the growth summed over ({}, {}]",
            acc.member_id,
            s.after,
            s.upto
        );
        s.amount
    });
    (sum + summed).max(0)
}

/// Growth entries in `(after, upto]` that a write received as one sum instead of one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrowthSum {
    pub after: Timestamp,
    pub upto: Timestamp,
    pub amount: i64,
}

/// What a write at `now` needs of a member's growth: every entry after `from` (`None`: every
/// entry), except that the entries in `summed` may come as one sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrowthNeed {
    pub from: Option<Timestamp>,
    pub summed: Option<(Timestamp, Timestamp)>,
}

/// See [`GrowthNeed`]. A write evaluates windows ending at `now` (upgrades, assignments) or
/// at a due review instant of the current tier: an assignment's end, a term's end or a grace
/// end (all at or before `now`), or a term's end at most `warning_days` after `now` (the
/// at-risk warning). Reviews run in time order from the earliest one due and every later one
/// is later, so window ends lie in `[min(now, next review), now + warning_days]`. Window
/// starts only move forward as the end does, so growth at or before the earliest start never
/// counts, and growth between the latest start and the earliest end counts in every window:
/// one sum serves for it.
pub fn growth_need(acc: &Account, program: &Program, now: Timestamp) -> GrowthNeed {
    let first_end = acc.next_tier_review(program).map_or(now, |r| r.min(now));
    let from = window_start(program, first_end);
    let last_end = plus_secs(now, program.file.tiers.warning_days * 86_400);
    let summed = window_start(program, last_end).filter(|after| *after < first_end).map(|after| (after, first_end));
    GrowthNeed { from, summed }
}

fn term_end_from(program: &Program, start: Timestamp) -> Timestamp {
    start
        .to_zoned(program.tz.clone())
        .checked_add(program.file.tiers.term_months.months())
        .map(|z| z.timestamp())
        .unwrap_or(Timestamp::MAX)
}

impl Account {
    // A private recorder: each argument is one column of the event.
    #[allow(clippy::too_many_arguments)]
    fn tier_event(
        &mut self,
        kind: TierEventKind,
        from: Option<String>,
        at: Timestamp,
        g: i64,
        needed: Option<i64>,
        deadline: Option<Timestamp>,
        detail: String,
    ) {
        let seq = self.next_tier_seq;
        self.next_tier_seq += 1;
        let to = self.tier.code.clone();
        self.new_tier_events.push(TierEvent {
            seq,
            kind,
            from,
            to,
            at,
            growth_in_window: g,
            growth_needed: needed,
            deadline,
            detail,
        });
        self.tier_dirty = true;
    }

    /// Moves to tier `idx` with a fresh term starting at `start` (the base tier has none).
    fn enter(&mut self, program: &Program, idx: usize, start: Timestamp) -> Option<String> {
        let from = (!self.tier.code.is_empty()).then(|| self.tier.code.clone());
        let level = &program.file.tiers.levels[idx];
        let has_term = idx != base_index(program);
        self.tier = TierState {
            code: level.code.clone(),
            since: Some(start),
            term_end: has_term.then(|| term_end_from(program, start)),
            grace_until: None,
            warned: false,
            assigned_reason: None,
            assigned_until: None,
        };
        self.tier_dirty = true;
        from
    }

    fn current_index(&self, program: &Program) -> usize {
        level_index(program, &self.tier.code).unwrap_or_else(|| base_index(program))
    }

    /// A new member starts in the base tier.
    pub fn join_tier(&mut self, program: &Program, now: Timestamp) {
        if self.tier.code.is_empty() {
            let idx = base_index(program);
            self.enter(program, idx, now);
            self.tier_event(TierEventKind::Joined, None, now, 0, None, None, "registered".into());
        }
    }

    /// Records growth; positive growth may upgrade at once or retain a tier in grace.
    /// Negative growth (refunds) never changes the tier mid-term.
    pub fn add_growth(
        &mut self,
        program: &Program,
        kind: GrowthKind,
        source_id: &str,
        amount: i64,
        at: Timestamp,
        now: Timestamp,
    ) {
        if amount == 0 {
            return;
        }
        // Credits were checked by the command (`Account::check_growth`); refunds only take back.
        self.growth_total = self.growth_total.checked_add(amount).expect("checked growth fits");
        let seq = self.next_growth_seq;
        self.next_growth_seq += 1;
        let e = GrowthEntry { seq, kind, amount, source_id: source_id.to_owned(), at, total_after: self.growth_total };
        self.growth_entries.push(e.clone());
        self.new_growth.push(e);
        self.tier_dirty = true;
        if amount > 0 {
            self.check_upgrade(program, now);
        }
    }

    fn check_upgrade(&mut self, program: &Program, now: Timestamp) {
        self.join_tier(program, now);
        let g = growth_in_window(self, program, now);
        let cur = self.current_index(program);
        let q = qualified(program, g);
        if q > cur {
            let from = self.enter(program, q, now);
            let name = &program.file.tiers.levels[q].name;
            self.tier_event(
                TierEventKind::Upgraded,
                from,
                now,
                g,
                None,
                None,
                format!("growth {g} in the window reached {name}"),
            );
        } else if let Some(deadline) = self.tier.grace_until {
            let need = program.file.tiers.levels[cur].retention();
            if g >= need {
                let start = self.tier.term_end.unwrap_or(now);
                let from = self.enter(program, cur, start);
                self.tier_event(
                    TierEventKind::Retained,
                    from,
                    now,
                    g,
                    None,
                    Some(deadline),
                    format!("growth {g} met the retention threshold {need} during grace"),
                );
            }
        }
    }

    /// Assigns a tier by hand, with the operator's reason (kept with who gave it) and an
    /// optional end date.
    pub fn assign_tier(
        &mut self,
        program: &Program,
        code: &str,
        reason: &Reason,
        actor: &str,
        until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), DomainError> {
        let idx = level_index(program, code)
            .ok_or_else(|| DomainError::unprocessable("tier", format!("{code:?} is not a tier of the programme")))?;
        let reason = format!("{reason} (by {actor})");
        if until.is_some_and(|u| u <= now) {
            return Err(DomainError::unprocessable("until", "must be in the future"));
        }
        let furthest = plus_secs(now, crate::limits::MAX_ASSIGNMENT_DAYS * 86_400);
        if until.is_some_and(|u| u > furthest) {
            return Err(DomainError::unprocessable(
                "until",
                format!("must be at most {} days ahead, by {furthest}", crate::limits::MAX_ASSIGNMENT_DAYS),
            ));
        }
        self.join_tier(program, now);
        let g = growth_in_window(self, program, now);
        let from = self.enter(program, idx, now);
        if let Some(u) = until {
            self.tier.term_end = Some(u);
        } else if self.tier.term_end.is_none() && idx != base_index(program) {
            self.tier.term_end = Some(term_end_from(program, now));
        }
        self.tier.assigned_reason = Some(reason.clone());
        self.tier.assigned_until = until;
        self.tier_event(TierEventKind::Assigned, from, now, g, None, until, reason);
        Ok(())
    }

    /// When the tier next needs a review, for the scheduler's index.
    pub fn next_tier_review(&self, program: &Program) -> Option<Timestamp> {
        let t = &self.tier;
        let warn = t
            .term_end
            .filter(|_| !t.warned && t.grace_until.is_none())
            .map(|e| plus_secs(e, -program.file.tiers.warning_days * 86_400));
        let end = t.term_end.filter(|_| t.grace_until.is_none());
        [t.assigned_until, warn, end, t.grace_until].into_iter().flatten().min()
    }

    /// Applies warnings, retention, grace and downgrades due by `now`, in time order.
    pub fn review_tier(&mut self, program: &Program, now: Timestamp) {
        if self.tier.code.is_empty() {
            return;
        }
        for _ in 0..MAX_REVIEW_STEPS {
            if !self.review_step(program, now) {
                return;
            }
        }
        panic!("tier review of {} did not settle", self.member_id);
    }

    /// One due step; `false` when nothing is due.
    fn review_step(&mut self, program: &Program, now: Timestamp) -> bool {
        let cfg = &program.file.tiers;
        let cur = self.current_index(program);
        let need = cfg.levels[cur].retention();
        let t = self.tier.clone();
        if let Some(until) = t.assigned_until.filter(|u| *u <= now) {
            let g = growth_in_window(self, program, until);
            let q = qualified(program, g);
            let from = self.enter(program, q, until);
            self.tier_event(
                TierEventKind::AssignmentEnded,
                from,
                until,
                g,
                None,
                None,
                "the assigned term ended; back to the tier growth qualifies for".into(),
            );
            return true;
        }
        let Some(term_end) = t.term_end else { return false };
        if let Some(grace) = t.grace_until {
            if grace > now {
                return false;
            }
            let g = growth_in_window(self, program, grace);
            let target = match cfg.downgrade {
                Downgrade::ToQualified => qualified(program, g).min(cur),
                Downgrade::OneDown => (0..cur).rev().find(|i| !cfg.levels[*i].invitation_only).unwrap_or(cur),
            };
            let old = &cfg.levels[cur];
            let back = (old.entry - g).max(0);
            let detail = format!(
                "growth {g} stayed below the {need} that keeps {}; earn {back} more growth within the window to return",
                old.name
            );
            let from = self.enter(program, target.min(cur), grace);
            self.tier_event(TierEventKind::Downgraded, from, grace, g, Some(back), None, detail);
            return true;
        }
        let warn_at = plus_secs(term_end, -cfg.warning_days * 86_400);
        if !t.warned && warn_at <= now && now < term_end {
            // What will count at the term's end: growth so far that is still in that window.
            let g = growth_in_window(self, program, term_end);
            // The warning point is passed once per term: warned or found safe.
            self.tier.warned = true;
            self.tier_dirty = true;
            if g < need {
                let deadline = plus_secs(term_end, cfg.grace_days * 86_400);
                let detail = format!("{} more growth by the end of grace keeps {}", need - g, cfg.levels[cur].name);
                let from = Some(t.code.clone());
                self.tier_event(
                    TierEventKind::AtRisk,
                    from,
                    warn_at.max(t.since.unwrap_or(warn_at)),
                    g,
                    Some(need - g),
                    Some(deadline),
                    detail,
                );
            }
            return true;
        }
        if term_end <= now {
            let g = growth_in_window(self, program, term_end);
            if g >= need {
                let from = self.enter(program, cur, term_end);
                self.tier_event(
                    TierEventKind::Retained,
                    from,
                    term_end,
                    g,
                    None,
                    None,
                    format!("growth {g} met the retention threshold {need}"),
                );
            } else {
                self.tier.grace_until = Some(plus_secs(term_end, cfg.grace_days * 86_400));
                self.tier_dirty = true;
            }
            return true;
        }
        false
    }
}

/// The points multiplier an order gets, and the benefits that made it.
pub fn earn_multiplier(
    program: &Program,
    tier: &str,
    birthday: Option<Date>,
    plan: Option<&crate::membership::Plan>,
    paid_at: Timestamp,
) -> (Multiplier, Vec<String>) {
    let f = &program.file;
    let day = paid_at.to_zoned(program.tz.clone());
    let mut found: Vec<(Multiplier, String)> = Vec::new();
    if let Some(l) = f.tiers.levels.iter().find(|l| l.code == tier) {
        if l.points_multiplier != Multiplier::ONE {
            found.push((l.points_multiplier, format!("{}:{}", crate::usage::TIER_MULTIPLIER, l.code)));
        }
    }
    if is_member_day(program, tier, paid_at) && f.member_day.points_multiplier != Multiplier::ONE {
        found.push((f.member_day.points_multiplier, crate::usage::MEMBER_DAY_MULTIPLIER.into()));
    }
    if birthday.is_some_and(|b| b.month() == day.month()) && f.birthday.points_multiplier != Multiplier::ONE {
        found.push((f.birthday.points_multiplier, crate::usage::BIRTHDAY_MULTIPLIER.into()));
    }
    // A paid plan's multiplier is one more candidate: the largest applies (or all multiply).
    found.extend(plan.and_then(crate::membership::perks::multiplier));
    match f.tiers.multipliers {
        CombineRule::Max => match found.into_iter().max_by_key(|(m, _)| *m) {
            Some((m, why)) => (m, vec![why]),
            None => (Multiplier::ONE, Vec::new()),
        },
        CombineRule::Product => {
            let m = found.iter().fold(1000_i128, |acc, (m, _)| acc * i128::from(m.0) / 1000);
            (Multiplier(i64::try_from(m.min(1_000_000)).expect("bounded")), found.into_iter().map(|(_, w)| w).collect())
        }
    }
}

/// Is `at` the member day for this tier (in the programme's time zone)?
pub fn is_member_day(program: &Program, tier: &str, at: Timestamp) -> bool {
    let md = &program.file.member_day;
    md.day_of_month > 0
        && at.to_zoned(program.tz.clone()).day() == md.day_of_month
        && (md.tiers.is_empty() || md.tiers.iter().any(|t| t == tier))
}

/// Growth an order earns: ⌊paid units × spend% ⌋ + per order, capped.
pub fn order_growth(program: &Program, eligible_minor: i64) -> i64 {
    let g = &program.file.growth;
    let spend = i128::from(eligible_minor) * i128::from(g.spend_percent) / (100 * i128::from(program.minor_per_unit));
    (i64::try_from(spend).expect("bounded") + g.per_order).min(g.max_per_order)
}
