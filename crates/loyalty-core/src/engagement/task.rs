//! Tasks and challenges (任务): a goal over events the engine already records (orders, spend,
//! activities, check-ins, a complete profile, the first order) within a period, with a reward
//! and an audience. This module holds a task's terms and their validation; `progress` holds
//! what events do to a member's progress.

use crate::coupons::Audience;
use crate::error::DomainError;
use crate::ids::{TaskId, TemplateId};
use crate::limits::check_range;
use crate::Program;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Most tasks a store may define (each active one is weighed on every order of its kind).
pub const MAX_TASKS: usize = 200;
/// Largest count a goal may ask for, and largest reward.
pub const MAX_TARGET_COUNT: i64 = 10_000;
pub const MAX_REWARD: i64 = 1_000_000;
/// Longest a "new members" audience may reach back.
pub const MAX_NEW_MEMBER_DAYS: i64 = 3_660;

/// What a task counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GoalKind {
    /// Orders with at least one line in the filter (any order without one).
    Orders,
    /// What was paid for lines in the filter, in minor units.
    Spend,
    /// Activities of one type (`activity`: review, share, post, …).
    Activity,
    /// Days checked in (make-ups count for the day they mend).
    Checkins,
    /// Name, phone, email and birthday all set.
    Profile,
    /// The member's first order ever.
    FirstOrder,
}

/// The span a goal must be reached within; progress starts again in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Once per member, ever.
    Once,
    /// Each local calendar day, week (Monday first) or month, in the programme's zone.
    Daily,
    Weekly,
    Monthly,
    /// Once per member between `starts_at` and `ends_at` (a challenge).
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Goal {
    pub kind: GoalKind,
    /// How many (orders, activities, days) or how much (spend, minor units); 1 for `profile`
    /// and `first_order`.
    #[serde(default = "one")]
    pub target: i64,
    /// Orders and spend: only lines of this category and/or brand count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// Activity goals: the activity type (one of the programme's `[[activities]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskReward {
    #[serde(default)]
    pub points: i64,
    #[serde(default)]
    pub growth: i64,
    /// A coupon template issued on completion (channel `engagement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon: Option<String>,
}

/// A task as the API and the programme file (`[[tasks]]`) take it, and as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::id_field))]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::text))]
    pub name: String,
    pub goal: Goal,
    #[serde(default = "once")]
    pub period: Period,
    /// Events before it do not count (default: when the task is created). RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub starts_at: Option<Timestamp>,
    /// Events after it do not count; required for `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::instant_opt))]
    pub ends_at: Option<Timestamp>,
    pub reward: TaskReward,
    #[serde(default)]
    pub audience: Audience,
    /// Only members registered at most this many days before the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_members_days: Option<i64>,
}

fn once() -> Period {
    Period::Once
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Active,
    /// Events do not move progress while paused.
    Paused,
    /// For good.
    Ended,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Active, Self::Paused, Self::Ended].into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored task: its terms (with `starts_at` always set), status and dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: TaskId,
    pub terms: TaskInput,
    pub status: TaskStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Task {
    pub fn starts_at(&self) -> Timestamp {
        self.terms.starts_at.unwrap_or(self.created_at)
    }
    /// Whether an event at `at` falls inside the task's span.
    pub fn spans(&self, at: Timestamp) -> bool {
        at >= self.starts_at() && self.terms.ends_at.is_none_or(|e| at < e)
    }
    pub fn coupon(&self) -> Option<TemplateId> {
        self.terms.reward.coupon.as_deref().and_then(|t| TemplateId::parse(t).ok())
    }
}

impl crate::definitions::Patchable for TaskInput {
    const WHAT: &'static str = "task";
    const COUNTS: &'static [&'static str] = &[];
    fn id(&self) -> &str {
        &self.id
    }
}

fn text(field: &str, v: &str) -> Result<(), DomainError> {
    crate::text::check_text(field, v, 1..=crate::order::MAX_TEXT)
}

impl TaskInput {
    /// Checks the terms (every refusal naming its field) and makes the stored task, created at
    /// `now`. That a reward's coupon template exists and allows the `engagement` channel is the
    /// definition's caller's to check (it needs the store).
    pub fn validate(&self, program: &Program, now: Timestamp) -> Result<Task, DomainError> {
        let id = TaskId::parse(&self.id).map_err(|e| DomainError::unprocessable("id", e.0))?;
        text("name", &self.name)?;
        self.check_goal(program)?;
        for (field, at) in [("starts_at", self.starts_at), ("ends_at", self.ends_at)] {
            if at.is_some_and(|t| t < crate::instant::EARLIEST || t >= crate::instant::END) {
                return Err(DomainError::unprocessable(field, "must be from 1970-01-01 to before 2200-01-01"));
            }
        }
        let mut terms = self.clone();
        let starts = self.starts_at.unwrap_or(now);
        terms.starts_at = Some(starts.round(jiff::Unit::Microsecond).unwrap_or(starts));
        match (self.period, self.ends_at) {
            (Period::Window, None) => {
                return Err(DomainError::unprocessable("ends_at", "a window task needs ends_at"));
            }
            (_, Some(e)) if e <= starts => {
                return Err(DomainError::unprocessable("ends_at", format!("{e} is not after starts_at ({starts})")));
            }
            _ => {}
        }
        let r = &self.reward;
        check_range("reward.points", r.points, 0, MAX_REWARD)?;
        check_range("reward.growth", r.growth, 0, MAX_REWARD)?;
        if let Some(t) = &r.coupon {
            TemplateId::parse(t).map_err(|e| DomainError::unprocessable("reward.coupon", e.0))?;
        }
        if r.points == 0 && r.growth == 0 && r.coupon.is_none() {
            return Err(DomainError::unprocessable("reward", "give points, growth or a coupon"));
        }
        crate::coupons::validate::check_audience(program, &self.audience)?;
        if let Some(d) = self.new_members_days {
            check_range("new_members_days", d, 1, MAX_NEW_MEMBER_DAYS)?;
        }
        let stamp = now.round(jiff::Unit::Microsecond).unwrap_or(now);
        Ok(Task { id, terms, status: TaskStatus::Active, created_at: stamp, updated_at: stamp })
    }

    fn check_goal(&self, program: &Program) -> Result<(), DomainError> {
        let g = &self.goal;
        let max = match g.kind {
            GoalKind::Spend => crate::order::MAX_AMOUNT_MINOR,
            GoalKind::Profile | GoalKind::FirstOrder => 1,
            _ => MAX_TARGET_COUNT,
        };
        check_range("goal.target", g.target, 1, max)?;
        let by_lines = matches!(g.kind, GoalKind::Orders | GoalKind::Spend);
        for (field, v) in [("goal.category", &g.category), ("goal.brand", &g.brand)] {
            match v {
                Some(_) if !by_lines => {
                    return Err(DomainError::unprocessable(field, "only orders and spend goals filter by line"));
                }
                Some(v) => text(field, v)?,
                None => {}
            }
        }
        match (&g.activity, g.kind) {
            (None, GoalKind::Activity) => {
                Err(DomainError::unprocessable("goal.activity", "an activity goal names its activity type"))
            }
            (Some(a), GoalKind::Activity) if !program.file.activities.iter().any(|x| &x.kind == a) => {
                let known: Vec<&str> = program.file.activities.iter().map(|x| x.kind.as_str()).collect();
                Err(DomainError::unprocessable(
                    "goal.activity",
                    format!("{a:?} is not an activity of the programme ({})", known.join(", ")),
                ))
            }
            (Some(_), k) if k != GoalKind::Activity => {
                Err(DomainError::unprocessable("goal.activity", "only activity goals name an activity"))
            }
            _ => Ok(()),
        }
    }
}
