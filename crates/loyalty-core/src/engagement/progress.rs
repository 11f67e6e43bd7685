//! What events do to a member's task progress. Each event reaches these rules once: the
//! writer calls them only from the arm that records the event for the first time (a replayed
//! order, refund, activity or check-in returns before), so a retry never moves progress twice.
//! An order carries marks of what it added to each task's period, so that a refund takes back
//! exactly that before the task completes; a completed period never completes again.

use super::task::{Goal, GoalKind, Period, Task, TaskStatus};
use crate::coupons::Holder;
use crate::ids::TaskId;
use crate::order::{Refund, ValidOrder};
use crate::Program;
use jiff::{civil::Date, Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

/// How long after its period ends an entry is kept, for events that arrive late (an order
/// paid at 23:59 and sent after midnight still counts for its day).
const KEEP_AFTER_SECS: i64 = 86_400;

/// One task's progress in one of its periods. Written as an array in field order (`[task,
/// period, value, target, completed_at, until]`): a member's row holds one per task and open
/// period and is read and written with every order, and the names were most of its bytes.
/// Read from either form (serde's derive reads a struct from an array of its fields too), so
/// rows written with names still load.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Progress {
    pub task: TaskId,
    /// `once`, `window`, `2026-12-04`, `2026-W49` or `2026-12`.
    pub period: String,
    pub value: i64,
    pub target: i64,
    pub completed_at: Option<Timestamp>,
    /// When the period ends (none: never).
    pub until: Option<Timestamp>,
}

impl Serialize for Progress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.task, &self.period, self.value, self.target, self.completed_at, self.until).serialize(s)
    }
}

/// A member's progress on every task, by (task, period). Stored as one row per member, so an
/// order that moves twenty tasks writes one row.
///
/// Entries are kept sorted by (task, period), so an event finds each task's period by binary
/// search: within one import batch a member's state holds every period its orders opened
/// (twenty tasks, hundreds of days), and a scan per task per order grew with them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StoredState")]
pub struct TaskState {
    entries: Vec<Progress>,
}

/// `TaskState` as stored; sorted when read, whatever order a row kept.
#[derive(Deserialize)]
struct StoredState {
    entries: Vec<Progress>,
}

impl From<StoredState> for TaskState {
    fn from(s: StoredState) -> Self {
        TaskState::new(s.entries)
    }
}

/// What an order added to one task's period: what its refunds may take back. Stored on the
/// order row as `[task, period, amount]`: an order can mark every active task, and the named
/// form doubled what the marks add to the orders table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "(TaskId, String, i64)")]
pub struct TaskMark {
    pub task: TaskId,
    pub period: String,
    pub amount: i64,
}

impl From<(TaskId, String, i64)> for TaskMark {
    fn from((task, period, amount): (TaskId, String, i64)) -> Self {
        TaskMark { task, period, amount }
    }
}

// Written borrowed: `serde(into)` would clone each mark (two strings) to write it.
impl Serialize for TaskMark {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.task, &self.period, self.amount).serialize(s)
    }
}

/// A task's period completed by an event: the writer pays its reward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub task: TaskId,
    pub period: String,
}

/// An event the rules weigh.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `first`: the member had no order before it.
    Order {
        order: &'a ValidOrder,
        first: bool,
    },
    Activity {
        kind: &'a str,
    },
    Checkin,
    Profile {
        complete: bool,
    },
}

/// Who the member is when the event happens, for the audience.
pub struct Member<'a> {
    pub holder: Holder<'a>,
    pub registered_at: Timestamp,
}

/// The period of `task` an event at `at` falls in: its key and when it ends.
pub fn period_of(task: &Task, program: &Program, at: Timestamp) -> (String, Option<Timestamp>) {
    Periods::new(program, at).of(task)
}

/// The periods of each kind an instant falls in, each worked out once however many tasks an
/// event weighs (the local date, the week and the month's bounds cost a zone conversion each).
pub struct Periods<'p> {
    program: &'p Program,
    day: Date,
    /// By `Period` (once, daily, weekly, monthly, window): its key and when it ends.
    known: [Option<(String, Option<Timestamp>)>; 5],
}

impl<'p> Periods<'p> {
    pub fn new(program: &'p Program, at: Timestamp) -> Self {
        let day = at.to_zoned(program.tz.clone()).date();
        Self { program, day, known: Default::default() }
    }

    /// `task`'s period: its key, and when it ends (its period's end or the task's, whichever
    /// comes first).
    pub fn of(&mut self, task: &Task) -> (String, Option<Timestamp>) {
        let slot = match task.terms.period {
            Period::Once => 0,
            Period::Daily => 1,
            Period::Weekly => 2,
            Period::Monthly => 3,
            Period::Window => 4,
        };
        let (key, until) = match &self.known[slot] {
            Some(k) => k.clone(),
            None => {
                let k = self.compute(task.terms.period);
                self.known[slot] = Some(k.clone());
                k
            }
        };
        let until = match (until, task.terms.ends_at) {
            (Some(u), Some(e)) => Some(u.min(e)),
            (u, e) => u.or(e),
        };
        (key, until)
    }

    fn compute(&self, period: Period) -> (String, Option<Timestamp>) {
        let day = self.day;
        let start_of = |d: Date| d.to_zoned(self.program.tz.clone()).map(|z| z.timestamp()).ok();
        match period {
            Period::Once => ("once".to_owned(), None),
            Period::Window => ("window".to_owned(), None),
            Period::Daily => (day.to_string(), day.tomorrow().ok().and_then(start_of)),
            Period::Weekly => {
                let w = day.iso_week_date();
                let monday = day.checked_sub((w.weekday().to_monday_zero_offset() as i64).days()).unwrap_or(day);
                (format!("{}-W{:02}", w.year(), w.week()), monday.checked_add(7.days()).ok().and_then(start_of))
            }
            Period::Monthly => {
                let first = day.first_of_month();
                (format!("{:04}-{:02}", day.year(), day.month()), first.checked_add(1.month()).ok().and_then(start_of))
            }
        }
    }
}

/// What paying for the goal's lines of `order` adds up to, after `refunds`.
pub fn matching_net(goal: &Goal, order: &ValidOrder, refunds: &[Refund]) -> i64 {
    let matches = |category: &Option<String>, brand: &Option<String>| {
        goal.category.as_ref().is_none_or(|c| category.as_ref() == Some(c))
            && goal.brand.as_ref().is_none_or(|b| brand.as_ref() == Some(b))
    };
    let total: i64 = order.lines.iter().map(|l| l.paid_minor).sum();
    let matching: i64 = order.lines.iter().filter(|l| matches(&l.category, &l.brand)).map(|l| l.paid_minor).sum();
    let mut refunded = 0i64;
    for r in refunds {
        if r.by_lines {
            for rl in &r.lines {
                let hit = order.lines.iter().find(|l| l.sku == rl.sku).is_some_and(|l| matches(&l.category, &l.brand));
                refunded += if hit { rl.amount_minor.get() } else { 0 };
            }
        } else if total > 0 {
            // An amount refund is spread over the lines by what was paid for them.
            refunded += (r.amount_minor.get().min(total) as i128 * matching as i128 / total as i128) as i64;
        }
    }
    (matching - refunded).clamp(0, matching)
}

/// What `event` adds to `goal`'s progress.
fn contribution(goal: &Goal, event: &Event<'_>) -> i64 {
    match (goal.kind, event) {
        (GoalKind::Orders, Event::Order { order, .. }) => {
            i64::from(matching_net(goal, order, &[]) > 0 || no_filter(goal))
        }
        (GoalKind::Spend, Event::Order { order, .. }) => matching_net(goal, order, &[]),
        (GoalKind::FirstOrder, Event::Order { first, .. }) => i64::from(*first),
        (GoalKind::Activity, Event::Activity { kind }) => i64::from(goal.activity.as_deref() == Some(*kind)),
        (GoalKind::Checkins, Event::Checkin) => 1,
        (GoalKind::Profile, Event::Profile { complete }) => i64::from(*complete),
        _ => 0,
    }
}

fn no_filter(goal: &Goal) -> bool {
    goal.category.is_none() && goal.brand.is_none()
}

/// Whether the task's audience holds the member at `at`.
fn admits(task: &Task, program: &Program, member: &Member<'_>, at: Timestamp) -> bool {
    if let Some(days) = task.terms.new_members_days {
        if crate::calendar::plus_secs(member.registered_at, days * 86_400) < at {
            return false;
        }
    }
    task.terms.audience.admits(program, &member.holder).is_ok()
}

/// Whether any of `tasks` could move on an event of this kind (the writer loads progress only
/// for such batches).
pub fn moves(tasks: &[Task], kinds: &[GoalKind]) -> bool {
    tasks.iter().any(|t| t.status == TaskStatus::Active && kinds.contains(&t.terms.goal.kind))
}

impl TaskState {
    pub fn new(mut entries: Vec<Progress>) -> Self {
        entries.sort_by(|a, b| (&a.task, &a.period).cmp(&(&b.task, &b.period)));
        Self { entries }
    }

    /// Every entry, by task and period.
    pub fn entries(&self) -> &[Progress] {
        &self.entries
    }

    /// Where (task, period) is, or where it would go.
    fn find(&self, task: &TaskId, period: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|e| (&e.task, e.period.as_str()).cmp(&(task, period)))
    }

    pub fn entry(&self, task: &TaskId, period: &str) -> Option<&Progress> {
        self.find(task, period).ok().map(|i| &self.entries[i])
    }

    fn entry_mut(&mut self, task: &TaskId, period: &str) -> Option<&mut Progress> {
        self.find(task, period).ok().map(|i| &mut self.entries[i])
    }

    /// Moves progress by `event`, which happened at `at`: each active task whose span holds
    /// `at`, whose audience holds the member and whose goal the event counts for. Returns the
    /// marks to keep on an order and the periods this event completed (each completes once).
    pub fn record(
        &mut self,
        tasks: &[Task],
        program: &Program,
        member: &Member<'_>,
        (event, at): (Event<'_>, Timestamp),
        now: Timestamp,
    ) -> (Vec<TaskMark>, Vec<Completed>) {
        let (mut marks, mut done) = (Vec::new(), Vec::new());
        let mut periods: Option<Periods<'_>> = None;
        for task in tasks.iter().filter(|t| t.status == TaskStatus::Active && t.spans(at)) {
            let add = contribution(&task.terms.goal, &event);
            if add <= 0 || !admits(task, program, member, at) {
                continue;
            }
            let (period, until) = periods.get_or_insert_with(|| Periods::new(program, at)).of(task);
            let i = self.find(&task.id, &period).unwrap_or_else(|at| {
                let target = task.terms.goal.target;
                let p = Progress {
                    task: task.id.clone(),
                    period: period.clone(),
                    value: 0,
                    target,
                    completed_at: None,
                    until,
                };
                self.entries.insert(at, p);
                at
            });
            let e = &mut self.entries[i];
            if e.completed_at.is_some() {
                continue;
            }
            e.value = e.value.saturating_add(add);
            if e.value >= e.target {
                e.completed_at = Some(now);
                done.push(Completed { task: task.id.clone(), period });
            } else {
                marks.push(TaskMark { task: task.id.clone(), period, amount: add });
            }
        }
        (marks, done)
    }

    /// Takes back what a refund removed of an order's contributions (`marks`, updated), for
    /// periods not completed: spend by the goal's lines refunded, an order count when none of
    /// the goal's lines is left. `refunds` are the order's refunds before this one and `all`
    /// with it.
    pub fn take_back(
        &mut self,
        tasks: &[Task],
        order: &ValidOrder,
        marks: &mut [TaskMark],
        (before, all): (&[Refund], &[Refund]),
    ) {
        for mark in marks.iter_mut().filter(|m| m.amount > 0) {
            let Some(task) = tasks.iter().find(|t| t.id == mark.task) else { continue };
            let goal = &task.terms.goal;
            let left = matching_net(goal, order, all);
            let take = match goal.kind {
                GoalKind::Spend => (matching_net(goal, order, before) - left).clamp(0, mark.amount),
                _ if left == 0 => mark.amount,
                _ => 0,
            };
            let Some(e) = self.entry_mut(&mark.task, &mark.period) else { continue };
            if take == 0 || e.completed_at.is_some() {
                continue;
            }
            e.value = (e.value - take).max(0);
            mark.amount -= take;
        }
    }

    /// Drops the entries of periods that ended more than a day before `now`.
    pub fn prune(&mut self, now: Timestamp) {
        self.entries.retain(|e| e.until.is_none_or(|u| crate::calendar::plus_secs(u, KEEP_AFTER_SECS) > now));
    }

    /// Every entry at most its target, completed exactly when it reached it, and the entries
    /// in (task, period) order, each once.
    pub fn check(&self) -> Result<(), String> {
        if let Some(w) = self.entries.windows(2).find(|w| (&w[0].task, &w[0].period) >= (&w[1].task, &w[1].period)) {
            return Err(format!("task {} period {}: entries out of order or twice", w[1].task.as_str(), w[1].period));
        }
        for e in &self.entries {
            if e.value < 0 || (e.completed_at.is_some() != (e.value >= e.target)) {
                return Err(format!(
                    "task {} period {}: progress {} of {} completed {:?}",
                    e.task.as_str(),
                    e.period,
                    e.value,
                    e.target,
                    e.completed_at
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engagement::task::{Goal, TaskInput, TaskReward};
    use crate::order::LineInput;

    fn task(kind: GoalKind, period: Period, target: i64, category: Option<&str>) -> Task {
        let input = TaskInput {
            id: "t".into(),
            name: "t".into(),
            goal: Goal { kind, target, category: category.map(str::to_owned), brand: None, activity: None },
            period,
            starts_at: None,
            ends_at: None,
            reward: TaskReward { points: 1, growth: 0, coupon: None },
            audience: Default::default(),
            new_members_days: None,
        };
        input.validate(&Program::default_program(), "2026-01-01T00:00:00Z".parse().unwrap()).unwrap()
    }

    fn order(lines: &[(&str, &str, i64)]) -> ValidOrder {
        ValidOrder {
            id: crate::ids::OrderId::parse("o").unwrap(),
            member_id: crate::ids::MemberId::parse("m").unwrap(),
            paid_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            currency: "CNY".into(),
            lines: lines
                .iter()
                .map(|(sku, c, p)| LineInput::one_unit(sku.to_string(), Some(c.to_string()), None, *p))
                .collect(),
            shipping_minor: 0,
            shipping_waived_minor: 0,
            coupons: Vec::new(),
        }
    }

    fn refund(amount: i64, lines: &[(&str, i64)]) -> Refund {
        Refund {
            refund_id: crate::ids::RefundId::parse("r").unwrap(),
            order_id: crate::ids::OrderId::parse("o").unwrap(),
            amount_minor: crate::Money::new(amount),
            lines: lines
                .iter()
                .map(|(s, a)| crate::order::RefundLine {
                    sku: s.to_string(),
                    quantity: 1,
                    amount_minor: crate::Money::new(*a),
                })
                .collect(),
            clawback_points: crate::Points::ZERO,
            forgiven_points: crate::Points::ZERO,
            refunded_at: "2026-12-02T00:00:00Z".parse().unwrap(),
            created_at: "2026-12-02T00:00:00Z".parse().unwrap(),
            by_lines: !lines.is_empty(),
        }
    }

    /// Entries stay in (task, period) order whatever order tasks and days arrive in, so each
    /// event finds its own period again (binary search) and never opens it twice.
    #[test]
    fn events_out_of_order_keep_the_entries_sorted_and_found() {
        let p = Program::default_program();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let named = |id: &str| {
            let mut t = task(GoalKind::Orders, Period::Daily, 3, None);
            t.id = TaskId::parse(id).unwrap();
            t
        };
        let tasks = vec![named("zeta"), named("alpha"), named("mid")];
        let holder = Holder { tier: "base", active: true, insight: None, paid: false };
        let who = Member { holder, registered_at: at("2026-01-01T00:00:00Z") };
        let o = order(&[("a", "x", 1000)]);
        let mut st = TaskState::default();
        for day in ["2026-12-05T04:00:00Z", "2026-12-03T04:00:00Z", "2026-12-05T05:00:00Z", "2026-12-04T04:00:00Z"] {
            st.record(&tasks, &p, &who, (Event::Order { order: &o, first: false }, at(day)), at(day));
        }
        assert!(st.check().is_ok(), "{:?}", st.check());
        assert_eq!(st.entries().len(), 9, "three tasks × three days, each once");
        for t in ["alpha", "mid", "zeta"] {
            let e = st.entry(&TaskId::parse(t).unwrap(), "2026-12-05").unwrap();
            assert_eq!(e.value, 2, "{t}: both of the 5th's orders");
        }
    }

    #[test]
    fn progress_is_stored_as_an_array_and_read_from_either_form() {
        let at: Timestamp = "2026-12-04T16:00:00Z".parse().unwrap();
        let p = Progress {
            task: TaskId::parse("t1").unwrap(),
            period: "2026-12-04".into(),
            value: 2,
            target: 3,
            completed_at: None,
            until: Some(at),
        };
        let st = TaskState::new(vec![p]);
        let text = serde_json::to_string(&st).unwrap();
        assert_eq!(text, r#"{"entries":[["t1","2026-12-04",2,3,null,"2026-12-04T16:00:00Z"]]}"#);
        assert_eq!(serde_json::from_str::<TaskState>(&text).unwrap(), st);
        let named = r#"{"entries":[{"task":"t1","period":"2026-12-04","value":2,"target":3,"completed_at":null,"until":"2026-12-04T16:00:00Z"}]}"#;
        assert_eq!(serde_json::from_str::<TaskState>(named).unwrap(), st);
    }

    #[test]
    fn periods_follow_the_local_calendar() {
        let p = Program::default_program(); // Asia/Shanghai
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let daily = task(GoalKind::Orders, Period::Daily, 1, None);
        // 23:59:59 and 00:00:00 +08:00 are two days.
        assert_eq!(period_of(&daily, &p, at("2026-12-04T15:59:59Z")).0, "2026-12-04");
        assert_eq!(
            period_of(&daily, &p, at("2026-12-04T16:00:00Z")),
            ("2026-12-05".into(), Some(at("2026-12-05T16:00:00Z")))
        );
        let weekly = task(GoalKind::Orders, Period::Weekly, 1, None);
        // Sunday 2026-12-06 belongs to the week that began on Monday 2026-11-30.
        assert_eq!(
            period_of(&weekly, &p, at("2026-12-06T10:00:00Z")),
            ("2026-W49".into(), Some(at("2026-12-06T16:00:00Z")))
        );
        // ISO week years: 2027-01-01 (a Friday) is in 2026-W53.
        assert_eq!(period_of(&weekly, &p, at("2027-01-01T04:00:00Z")).0, "2026-W53");
        let monthly = task(GoalKind::Orders, Period::Monthly, 1, None);
        assert_eq!(
            period_of(&monthly, &p, at("2026-12-31T17:00:00Z")),
            ("2027-01".into(), Some(at("2027-01-31T16:00:00Z")))
        );
        assert_eq!(
            period_of(&task(GoalKind::Orders, Period::Once, 1, None), &p, at("2026-12-01T00:00:00Z")),
            ("once".into(), None)
        );
    }

    #[test]
    fn refunds_take_back_only_the_goals_lines() {
        let goal = task(GoalKind::Spend, Period::Once, 100, Some("beauty")).terms.goal;
        let o = order(&[("a", "beauty", 6000), ("b", "fresh", 4000)]);
        assert_eq!(matching_net(&goal, &o, &[]), 6000);
        assert_eq!(matching_net(&goal, &o, &[refund(4000, &[("b", 4000)])]), 6000);
        assert_eq!(matching_net(&goal, &o, &[refund(1000, &[("a", 1000)])]), 5000);
        // An amount is spread by what the lines were paid: 5,000 of 10,000 is half of each.
        assert_eq!(matching_net(&goal, &o, &[refund(5000, &[])]), 3000);
        assert_eq!(matching_net(&goal, &o, &[refund(10_000, &[]), refund(10_000, &[])]), 0);
    }

    #[test]
    fn progress_completes_once_and_refunds_take_back_before_it() {
        let p = Program::default_program();
        let now: Timestamp = "2026-12-01T00:00:00Z".parse().unwrap();
        let tasks = vec![task(GoalKind::Spend, Period::Once, 10_000, None)];
        let holder = Holder { tier: "base", active: true, insight: None, paid: false };
        let who = Member { holder, registered_at: now };
        let mut st = TaskState::default();
        let o = order(&[("a", "x", 6000)]);
        let (mut marks, done) = st.record(&tasks, &p, &who, (Event::Order { order: &o, first: true }, now), now);
        assert!(done.is_empty());
        assert_eq!(marks[0].amount, 6000);
        let r = [refund(2000, &[])];
        st.take_back(&tasks, &o, &mut marks, (&[], &r));
        assert_eq!((st.entries()[0].value, marks[0].amount), (4000, 4000));
        let (_, done) =
            st.record(&tasks, &p, &who, (Event::Order { order: &order(&[("b", "x", 7000)]), first: false }, now), now);
        assert_eq!(done.len(), 1);
        let (_, again) = st.record(&tasks, &p, &who, (Event::Order { order: &o, first: false }, now), now);
        assert!(again.is_empty(), "a completed period completes once");
        // After completion, a refund takes nothing back.
        let all = [refund(2000, &[]), refund(4000, &[])];
        st.take_back(&tasks, &o, &mut marks, (&r, &all));
        assert_eq!(st.entries()[0].value, 11_000);
        assert!(st.check().is_ok());
    }
}
