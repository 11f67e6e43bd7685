//! The task arms of a batch: after an order, refund, activity, check-in or profile change is
//! recorded for the first time, its member's progress moves (`engagement::progress`), and a
//! period it completes pays its reward in the same transaction. Replays return before they
//! reach here, so retries never move progress twice; the completions table's key refuses a
//! second completion of a period if a bug ever let one through.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::{Channel, Holder};
use loyalty_core::engagement::progress::{Completed, Event, Member};
use loyalty_core::engagement::{GoalKind, Task, TaskState};
use loyalty_core::ids::{derived_id, CouponId, MemberId, TemplateId};
use loyalty_core::ledger::{MemberStatus, SourceKind};
use loyalty_core::tiers::{ActionKind, GrowthKind};
use loyalty_core::Program;
use loyalty_store::tasks::Completion;
use std::collections::{HashMap, HashSet};

/// What a batch's task arms decide on.
#[derive(Default)]
pub(crate) struct TaskLoad {
    /// Every active task; empty when no command of the batch can move one.
    pub(crate) tasks: Vec<Task>,
    pub(crate) states: HashMap<MemberId, TaskState>,
    /// Members with an order on record (loaded only when a first-order goal is active).
    pub(crate) ordered: HashSet<MemberId>,
    pub(crate) dirty: HashSet<MemberId>,
}

/// The goal kinds a command may move, and its member.
fn moved_by(cmd: &Command) -> Option<(&'static [GoalKind], Option<&MemberId>)> {
    const ORDERS: &[GoalKind] = &[GoalKind::Orders, GoalKind::Spend, GoalKind::FirstOrder];
    Some(match cmd {
        Command::PlaceOrder { order, .. } => (ORDERS, Some(&order.member_id)),
        // A refund's member is known through its order, after the load.
        Command::Refund { .. } => (ORDERS, None),
        Command::Activity { member, .. } => (&[GoalKind::Activity], Some(member)),
        Command::Checkin { member, .. } | Command::Makeup { member, .. } => (&[GoalKind::Checkins], Some(member)),
        Command::UpsertMember { id, .. } => (&[GoalKind::Profile], Some(id)),
        _ => return None,
    })
}

/// The active tasks, and the progress of every member whose command can move one, when the
/// batch has such a command; (member, template) for each reward coupon they could be given;
/// and the members gated audiences need insight facts of.
pub(crate) async fn load_task_state(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
    orders: &HashMap<loyalty_core::ids::OrderId, loyalty_core::order::Order>,
) -> Result<(TaskLoad, Vec<(MemberId, TemplateId)>, Vec<MemberId>), loyalty_store::StoreError> {
    if !cmds.iter().any(|c| moved_by(c).is_some()) {
        return Ok((TaskLoad::default(), Vec::new(), Vec::new()));
    }
    let tasks = tx.load_tasks().await?;
    let mut ids: Vec<MemberId> = Vec::new();
    let mut extra = Vec::new();
    for c in cmds {
        let Some((kinds, member)) = moved_by(c) else { continue };
        if !loyalty_core::engagement::progress::moves(&tasks, kinds) {
            continue;
        }
        let member = match (member, c) {
            (Some(m), _) => m.clone(),
            (None, Command::Refund { order_id, .. }) => match orders.get(order_id) {
                Some(o) if !o.tasks.is_empty() => o.order.member_id.clone(),
                _ => continue,
            },
            _ => continue,
        };
        for t in tasks.iter().filter(|t| kinds.contains(&t.terms.goal.kind)) {
            if let Some(tpl) = t.coupon() {
                extra.push((member.clone(), tpl));
            }
        }
        ids.push(member);
    }
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok((TaskLoad::default(), Vec::new(), Vec::new()));
    }
    let states = tx.load_task_states(&ids).await?;
    let first = tasks.iter().any(|t| t.terms.goal.kind == GoalKind::FirstOrder);
    let ordered = if first { tx.members_with_orders(&ids).await? } else { HashSet::new() };
    let gated = tasks.iter().any(|t| t.terms.audience.needs_insight());
    let insight = if gated { ids.clone() } else { Vec::new() };
    Ok((TaskLoad { tasks, states, ordered, dirty: HashSet::new() }, extra, insight))
}

/// Moves the member's progress for a command just recorded (`reply` is its success), and
/// pays each period it completes.
pub(crate) fn advance_tasks(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    cmd: &Command,
    reply: &Reply,
    now: Timestamp,
) {
    if l.tasks.tasks.is_empty() {
        return;
    }
    let Ok(outcome) = reply else { return };
    let (member, event, at) = match (cmd, outcome) {
        (Command::PlaceOrder { .. }, Outcome::Order { order, replayed: false }) => {
            let m = order.order.member_id.clone();
            let first = l.tasks.ordered.insert(m.clone());
            let o = &order.order;
            let (marks, done) = record(l, program, &m, (Event::Order { order: o, first }, o.paid_at), now);
            if let Some(stored) = l.orders.get_mut(&o.id) {
                stored.tasks = marks;
            }
            return pay(l, t, program, &m, done, now);
        }
        (Command::Refund { order_id, .. }, Outcome::Refund { order, replayed: false }) => {
            let m = order.order.member_id.clone();
            let (Some(state), Some(stored)) = (l.tasks.states.get_mut(&m), l.orders.get_mut(order_id)) else { return };
            let all = l.refunds.get(order_id).map(Vec::as_slice).unwrap_or_default();
            let before = &all[..all.len().saturating_sub(1)];
            state.take_back(&l.tasks.tasks, &stored.order, &mut stored.tasks, (before, all));
            l.tasks.dirty.insert(m);
            return;
        }
        (Command::Activity { member, input }, Outcome::Action { action, replayed: false })
            if action.kind == ActionKind::Activity =>
        {
            (member, Event::Activity { kind: input.kind.as_str() }, action.occurred_at)
        }
        (Command::Checkin { member, .. } | Command::Makeup { member, .. }, Outcome::Checkin(_)) => {
            (member, Event::Checkin, now)
        }
        (Command::UpsertMember { id, .. }, Outcome::Member { record, .. }) => {
            let p = &record.profile;
            let complete = p.name.is_some() && p.phone.is_some() && p.email.is_some() && p.birthday.is_some();
            (id, Event::Profile { complete }, now)
        }
        _ => return,
    };
    let member = member.clone();
    let (_, done) = record(l, program, &member, (event, at), now);
    pay(l, t, program, &member, done, now);
}

fn record(
    l: &mut Loaded,
    program: &Program,
    member: &MemberId,
    (event, at): (Event<'_>, Timestamp),
    now: Timestamp,
) -> (Vec<loyalty_core::engagement::TaskMark>, Vec<Completed>) {
    let Some(rec) = l.members.get(member) else { return (Vec::new(), Vec::new()) };
    let who = Member {
        holder: Holder {
            tier: &rec.account.tier().code,
            active: rec.account.status() == MemberStatus::Active,
            insight: l.insight.get(member),
            paid: rec.plan.as_ref().is_some_and(|c| c.applies_at(at)),
        },
        registered_at: rec.profile.registered_at,
    };
    let state = l.tasks.states.entry(member.clone()).or_default();
    let (marks, done) = state.record(&l.tasks.tasks, program, &who, (event, at), now);
    // `record` changes the state exactly when it marks or completes a period.
    if !marks.is_empty() || !done.is_empty() {
        l.tasks.dirty.insert(member.clone());
    }
    (marks, done)
}

/// Pays each completed period: points, growth and the coupon, recorded as a completion.
/// What cannot be given (a frozen member, a coupon out of stock) is noted, not retried: the
/// period is complete either way.
fn pay(l: &mut Loaded, t: &mut Touched, program: &Program, member: &MemberId, done: Vec<Completed>, now: Timestamp) {
    for c in done {
        let task = l.tasks.tasks.iter().find(|x| x.id == c.task).expect("a completed task is loaded").clone();
        let r = &task.terms.reward;
        let source = format!("task/{}/{}", c.task.as_str(), c.period);
        let mut notes = Vec::new();
        let rec = l.members.get_mut(member).expect("the member of a recorded event is loaded");
        let acc = &mut rec.account;
        let (mut points, mut growth) = (r.points, r.growth);
        if let Err(e) = acc
            .can_transact()
            .and_then(|_| acc.check_credit("points", loyalty_core::Points::new(points)))
            .and_then(|_| acc.check_growth("growth", growth))
        {
            notes.push(e.to_string());
            (points, growth) = (0, 0);
        }
        if growth > 0 {
            acc.add_growth(program, GrowthKind::Task, &source, growth, now, now);
        }
        if points > 0 {
            acc.earn_now(program, (SourceKind::Task, &source), loyalty_core::Points::new(points), now);
        }
        t.members.insert(member.clone());
        let mut coupon = None;
        if let Some(tpl) = task.coupon() {
            let paid = rec.plan.as_ref().is_some_and(|p| p.applies_at(now));
            let id = CouponId::parse(&derived_id(&["task", member.as_str(), c.task.as_str(), &c.period]))
                .expect("derived ids are ids");
            match issue_derived(l, t, program, member, (&tpl, &id, Channel::Engagement), paid, now) {
                Ok(given) => coupon = Some(given.coupon_id),
                Err(e) => notes.push(format!("{tpl}: {e}")),
            }
        }
        let note = (!notes.is_empty()).then(|| notes.join("; "));
        t.changes.task_completions.push(Completion {
            member_id: member.clone(),
            task: c.task,
            period: c.period,
            completed_at: now,
            points,
            growth,
            coupon,
            note,
        });
    }
}

/// Moves the progress rows the batch changed into what is written.
pub(crate) fn take_task_changes(l: &mut Loaded, t: &mut Touched, now: Timestamp) {
    let mut ids: Vec<MemberId> = l.tasks.dirty.drain().collect();
    ids.sort();
    for id in ids {
        let mut state = l.tasks.states.remove(&id).unwrap_or_default();
        state.prune(now);
        debug_assert!(state.check().is_ok(), "{:?}", state.check());
        t.changes.task_states.push((id, state));
    }
}
