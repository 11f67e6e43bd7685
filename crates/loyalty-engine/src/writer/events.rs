//! Which events a batch makes (the outbox, issue 18 §1): derived once, at the end of
//! `run_loaded`, from what the batch writes (`Changes`) and, where the rows do not say it,
//! from its commands' replies. Import, HTTP and the scheduler all write through `run_loaded`,
//! so they emit events the same way, and the events go into the batch's transaction with the
//! changes they record. This module also holds the `NoticeExpiring` command's arm.
//!
//! Cost is the rule here: an order is one event (`order.placed`, carrying the points it
//! earned and their state), not one for the order and one for its points; activations and
//! expiries are summed per member and batch; payloads hold ids and integers.

use super::*;
use jiff::Timestamp;
use loyalty_core::events::*;
use loyalty_core::ids::{CouponId, MemberId};
use loyalty_core::ledger::{EntryKind, Lot, LotStatus, SourceKind};
use loyalty_core::tiers::TierEventKind;
use loyalty_core::Program;
use loyalty_store::Changes;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The events of a batch that wrote `changes`: `cmds` and their `replies` in order, `created`
/// the members it created.
pub(crate) fn derive(
    changes: &Changes,
    (cmds, replies): (&[Command], &[Reply]),
    created: &[MemberId],
    program: &Program,
    now: Timestamp,
) -> Vec<Event> {
    let mut out = Vec::with_capacity(changes.new_order_keys.len() + changes.entries.len() / 2);
    let lots: Lots = changes.lots.iter().map(|(m, l)| ((m, l.lot_no), l)).collect();
    members(&mut out, changes, (cmds, replies), created, now);
    orders(&mut out, changes, &lots);
    ledger(&mut out, changes, &lots);
    tiers(&mut out, changes, program);
    coupons(&mut out, changes);
    engagement(&mut out, changes, (cmds, replies), now);
    for (m, _) in &changes.memberships {
        for e in &m.new_events {
            let payload = MembershipChanged {
                v: V1,
                history_seq: e.seq,
                plan: e.plan.clone(),
                term_id: e.term_id.clone(),
                amount_minor: e.amount_minor,
            };
            let kind = EventType::of_membership(e.kind);
            out.push(Event::new(kind, m.member_id.clone(), e.at, Payload::MembershipChanged(payload)));
        }
    }
    // A member's events in the order they happened (all of a batch commit together, so any
    // order is commit order; this one reads as the member's story).
    out.sort_by(|a, b| (&a.member_id, a.occurred_at).cmp(&(&b.member_id, b.occurred_at)));
    out
}

fn members(
    out: &mut Vec<Event>,
    changes: &Changes,
    (cmds, replies): (&[Command], &[Reply]),
    created: &[MemberId],
    now: Timestamp,
) {
    if !created.is_empty() {
        let records: HashMap<&MemberId, &loyalty_store::MemberRecord> =
            changes.members.iter().map(|m| (m.account.member_id(), m)).collect();
        for id in created {
            let at = records.get(id).map_or(now, |m| m.profile.registered_at);
            out.push(Event::new(
                EventType::MemberCreated,
                id.clone(),
                at,
                Payload::MemberCreated(MemberCreated { v: V1 }),
            ));
        }
    }
    // One `member.updated` per member and batch, with every field the batch's requests set.
    let mut updated: BTreeMap<&MemberId, MemberUpdated> = BTreeMap::new();
    for (cmd, reply) in cmds.iter().zip(replies) {
        let (id, fields, status, erased): (&MemberId, Vec<&str>, _, bool) = match (cmd, reply) {
            (Command::UpsertMember { id, input }, Ok(Outcome::Member { record, created: false, .. })) => {
                (id, sent_fields(input), record.account.status(), false)
            }
            (Command::Erase { member, .. }, Ok(Outcome::Erased { record, replayed: false })) => {
                (member, loyalty_core::member::PERSONAL_FIELDS.to_vec(), record.account.status(), true)
            }
            _ => continue,
        };
        let u = updated.entry(id).or_insert_with(|| MemberUpdated {
            v: V1,
            fields: Vec::new(),
            status: String::new(),
            erased: false,
        });
        for f in fields {
            if !u.fields.iter().any(|x| x == f) {
                u.fields.push(f.to_owned());
            }
        }
        u.status = status.as_str().to_owned();
        u.erased |= erased;
    }
    for (id, u) in updated {
        out.push(Event::new(EventType::MemberUpdated, id.clone(), now, Payload::MemberUpdated(u)));
    }
}

/// The profile fields a `PUT` sets (never their values).
fn sent_fields(input: &loyalty_core::member::MemberInput) -> Vec<&'static str> {
    let i = input;
    [
        ("name", i.name.is_some()),
        ("phone", i.phone.is_some()),
        ("email", i.email.is_some()),
        ("birthday", i.birthday.is_some()),
        ("channel", i.channel.is_some()),
        ("registered_at", i.registered_at.is_some()),
        ("status", i.status.is_some()),
    ]
    .into_iter()
    .filter_map(|(f, sent)| sent.then_some(f))
    .collect()
}

type Lots<'a> = HashMap<(&'a MemberId, i64), &'a Lot>;

/// Where a lot's points stand at the end of the batch, and when pending ones activate.
fn lot_state(lot: Option<&Lot>) -> (String, Option<Timestamp>) {
    match lot {
        None => ("none".into(), None),
        Some(l) if l.status == LotStatus::Pending => (l.status.as_str().into(), Some(l.activates_at)),
        Some(l) => (l.status.as_str().into(), None),
    }
}

fn orders(out: &mut Vec<Event>, changes: &Changes, lots: &Lots) {
    if !changes.new_order_keys.is_empty() {
        let new: HashSet<(&MemberId, &loyalty_core::ids::OrderId)> =
            changes.new_order_keys.iter().map(|(o, m)| (m, o)).collect();
        for o in changes.orders.iter().filter(|o| new.contains(&(&o.order.member_id, &o.order.id))) {
            let m = &o.order.member_id;
            let lot = o.lot_no.and_then(|no| lots.get(&(m, no)).copied());
            let (points_status, activates_at) =
                if o.earned_points.is_positive() { lot_state(lot) } else { ("none".into(), None) };
            let payload = OrderPlaced {
                v: V1,
                order_id: o.order.id.as_str().to_owned(),
                points: o.earned_points.get(),
                points_status,
                activates_at,
            };
            out.push(Event::new(EventType::OrderPlaced, m.clone(), o.order.paid_at, Payload::OrderPlaced(payload)));
        }
    }
    for (m, r) in &changes.refunds {
        let payload = OrderRefunded {
            v: V1,
            order_id: r.order_id.as_str().to_owned(),
            refund_id: r.refund_id.as_str().to_owned(),
            amount_minor: r.amount_minor.get(),
            points_clawed_back: r.clawback_points.get(),
        };
        out.push(Event::new(EventType::OrderRefunded, m.clone(), r.refunded_at, Payload::OrderRefunded(payload)));
    }
}

/// Activations or expiries of one member in the batch, summed.
struct Sum {
    first: i64,
    points: i64,
    lots: i64,
    at: Timestamp,
}

impl Sum {
    fn add(sums: &mut BTreeMap<MemberId, Sum>, m: &MemberId, e: &loyalty_core::ledger::Entry) {
        let s = sums.entry(m.clone()).or_insert(Sum { first: e.seq, points: 0, lots: 0, at: e.at });
        s.points += e.points.get().abs();
        s.lots += 1;
        s.at = s.at.max(e.at);
    }

    fn into_events(sums: BTreeMap<MemberId, Sum>, kind: EventType, out: &mut Vec<Event>) {
        for (m, s) in sums {
            let payload = PointsTotal { v: V1, first_entry_seq: s.first, points: s.points, lots: s.lots };
            out.push(Event::new(kind, m, s.at, Payload::PointsTotal(payload)));
        }
    }
}

/// What the ledger entries of the batch say a member would want to hear: points earned (not
/// an order's: `order.placed` carries those), spent, deducted, given back, and what time did
/// (activations, expiries: summed per member). An activation or expiry of a lot earned in this
/// very batch (an old order imported) is part of that earning: its status says so.
fn ledger(out: &mut Vec<Event>, changes: &Changes, lots: &Lots) {
    let earned_here: HashSet<(&MemberId, i64)> = changes
        .entries
        .iter()
        .filter(|(_, e)| matches!(e.kind, EntryKind::Earn | EntryKind::Adjust))
        .filter_map(|(m, e)| e.lot_no.map(|no| (m, no)))
        .collect();
    let (mut activated, mut expired) = (BTreeMap::new(), BTreeMap::new());
    for (m, e) in &changes.entries {
        let moved = |kind: EventType| {
            let payload = PointsMoved {
                v: V1,
                entry_seq: e.seq,
                source: e.source_kind.as_str().to_owned(),
                source_id: e.source_id.clone(),
                points: e.points.get().abs(),
            };
            Event::new(kind, m.clone(), e.at, Payload::PointsMoved(payload))
        };
        let event = match e.kind {
            EntryKind::Earn if e.source_kind == SourceKind::Order => None,
            EntryKind::Earn => Some(earned(m, e, lots)),
            EntryKind::Adjust if e.points.is_positive() => Some(earned(m, e, lots)),
            EntryKind::Adjust => Some(moved(EventType::PointsDeducted)),
            EntryKind::Capture | EntryKind::Spend => Some(moved(EventType::PointsRedeemed)),
            EntryKind::Restore => Some(moved(EventType::PointsRestored)),
            EntryKind::Activate => {
                if !e.lot_no.is_some_and(|no| earned_here.contains(&(m, no))) {
                    Sum::add(&mut activated, m, e);
                }
                None
            }
            EntryKind::Expire => {
                if !e.lot_no.is_some_and(|no| earned_here.contains(&(m, no))) {
                    Sum::add(&mut expired, m, e);
                }
                None
            }
            EntryKind::Hold | EntryKind::Release | EntryKind::Clawback | EntryKind::DebtSettle => None,
        };
        out.extend(event);
    }
    Sum::into_events(activated, EventType::PointsActivated, out);
    Sum::into_events(expired, EventType::PointsExpired, out);
}

fn earned(m: &MemberId, e: &loyalty_core::ledger::Entry, lots: &Lots) -> Event {
    let (points_status, activates_at) = lot_state(e.lot_no.and_then(|no| lots.get(&(m, no)).copied()));
    let payload = PointsEarned {
        v: V1,
        entry_seq: e.seq,
        source: e.source_kind.as_str().to_owned(),
        source_id: e.source_id.clone(),
        points: e.points.get(),
        points_status,
        activates_at,
    };
    Event::new(EventType::PointsEarned, m.clone(), e.at, Payload::PointsEarned(payload))
}

/// Tier moves: the programme's (upgraded, at risk, retained, downgraded) and an operator's
/// (an assignment, or its end), the latter as an upgrade or a downgrade by the tiers' order.
fn tiers(out: &mut Vec<Event>, changes: &Changes, program: &Program) {
    use loyalty_core::tiers::level_index;
    for (m, t) in &changes.tier_events {
        let by_rank = || {
            let from = t.from.as_deref().and_then(|f| level_index(program, f));
            match (from, level_index(program, &t.to)) {
                (Some(a), Some(b)) if b > a => Some(EventType::TierUpgraded),
                (Some(a), Some(b)) if b < a => Some(EventType::TierDowngraded),
                (None, Some(_)) => Some(EventType::TierUpgraded),
                _ => None,
            }
        };
        let (kind, cause) = match t.kind {
            TierEventKind::Upgraded => (Some(EventType::TierUpgraded), "growth"),
            TierEventKind::AtRisk => (Some(EventType::TierAtRisk), "growth"),
            TierEventKind::Retained => (Some(EventType::TierRetained), "growth"),
            TierEventKind::Downgraded => (Some(EventType::TierDowngraded), "growth"),
            TierEventKind::Assigned => (by_rank(), "assigned"),
            TierEventKind::AssignmentEnded => (by_rank(), "assignment_ended"),
            // The first tier comes with the member: `member.created` says it.
            TierEventKind::Joined => (None, "growth"),
        };
        let Some(kind) = kind else { continue };
        let payload = TierChanged {
            v: V1,
            tier_seq: t.seq,
            from: t.from.clone(),
            to: t.to.clone(),
            cause: cause.to_owned(),
            growth_in_window: t.growth_in_window,
            growth_needed: t.growth_needed,
            deadline: t.deadline,
        };
        out.push(Event::new(kind, m.clone(), t.at, Payload::TierChanged(payload)));
    }
}

fn coupons(out: &mut Vec<Event>, changes: &Changes) {
    if changes.coupon_entries.is_empty() {
        return;
    }
    let coupons: HashMap<(&MemberId, &CouponId), &loyalty_core::coupons::Coupon> =
        changes.coupons.iter().map(|c| ((&c.member_id, &c.coupon_id), c)).collect();
    for e in &changes.coupon_entries {
        let c = coupons.get(&(&e.member_id, &e.coupon_id)).expect("a coupon's new entry comes with the coupon");
        let payload = match e.event.as_str() {
            "issued" => Payload::CouponIssued(CouponIssued {
                v: V1,
                coupon_id: c.coupon_id.as_str().to_owned(),
                template_id: c.template_id.as_str().to_owned(),
                channel: c.source.as_str().to_owned(),
                valid_until: c.valid_until,
            }),
            "used" => Payload::CouponUsed(CouponUsed {
                v: V1,
                coupon_id: c.coupon_id.as_str().to_owned(),
                template_id: c.template_id.as_str().to_owned(),
                version: e.version,
                order_id: e.order_id.clone(),
            }),
            _ => continue,
        };
        let kind =
            if matches!(payload, Payload::CouponIssued(_)) { EventType::CouponIssued } else { EventType::CouponUsed };
        out.push(Event::new(kind, e.member_id.clone(), e.at, payload));
    }
}

/// Check-in milestones, completed tasks, referral rewards (one event per side paid) and the
/// day's expiring-points notices.
fn engagement(out: &mut Vec<Event>, changes: &Changes, (cmds, replies): (&[Command], &[Reply]), now: Timestamp) {
    for (m, d) in changes.checkins.iter().filter(|(_, d)| !d.milestones.is_empty()) {
        let payload = CheckinMilestone {
            v: V1,
            day: d.day,
            streak: d.streak,
            milestones: d.milestones.clone(),
            points: d.points,
        };
        out.push(Event::new(EventType::CheckinMilestone, m.clone(), d.at, Payload::CheckinMilestone(payload)));
    }
    for c in &changes.task_completions {
        let payload = TaskCompleted {
            v: V1,
            task_id: c.task.as_str().to_owned(),
            period: c.period.clone(),
            points: c.points,
            growth: c.growth,
            coupon_id: c.coupon.as_ref().map(|c| c.as_str().to_owned()),
        };
        out.push(Event::new(
            EventType::TaskCompleted,
            c.member_id.clone(),
            c.completed_at,
            Payload::TaskCompleted(payload),
        ));
    }
    for (cmd, reply) in cmds.iter().zip(replies) {
        match (cmd, reply) {
            (
                Command::SettleReferral { .. },
                Ok(Outcome::Referral(ReferralOutcome::Settled { referral: Some(r), paid: true })),
            ) => {
                let at = r.settled_at.unwrap_or(now);
                for (role, member, given) in
                    [("referrer", &r.referrer_id, &r.referrer_given), ("invitee", &r.invitee_id, &r.invitee_given)]
                {
                    if given.points == 0 && given.growth == 0 && given.coupon.is_none() {
                        continue;
                    }
                    let payload = ReferralRewarded {
                        v: V1,
                        role: role.to_owned(),
                        referrer_id: r.referrer_id.as_str().to_owned(),
                        invitee_id: r.invitee_id.as_str().to_owned(),
                        points: given.points,
                        growth: given.growth,
                        coupon_id: given.coupon.clone(),
                    };
                    out.push(Event::new(
                        EventType::ReferralRewarded,
                        member.clone(),
                        at,
                        Payload::ReferralRewarded(payload),
                    ));
                }
            }
            (Command::NoticeExpiring { member }, Ok(Outcome::ExpiryNoticed(Some(notice)))) => {
                let payload = Payload::PointsExpiring((**notice).clone());
                out.push(Event::new(EventType::PointsExpiring, member.clone(), now, payload));
            }
            _ => {}
        }
    }
}

/// `NoticeExpiring`: tells the member of the points that expire within `[events]
/// expiring_days`, once a local day. The day is recorded whether or not anything expires (or
/// the member may hear: an erased, frozen or closed one does not), so that the scheduler,
/// which found the member by its lots, does not find it again today.
pub(crate) fn notice_expiring(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    now: Timestamp,
) -> Reply {
    let today = loyalty_core::engagement::local_day(program, now);
    let told = l.expiry_notices.get(member).copied();
    let Some(m) = l.members.get_mut(member) else { return Ok(Outcome::ExpiryNoticed(None)) };
    if told.is_some_and(|d| d >= today) {
        return Ok(Outcome::ExpiryNoticed(None));
    }
    catch_up(m, program, now);
    t.members.insert(member.clone());
    let hears = m.profile.erased_at.is_none() && m.account.can_transact().is_ok();
    let notice = if hears { expiring_notice(&m.account, program, now, told) } else { None };
    l.expiry_notices.insert(member.clone(), today);
    t.changes.expiry_notices.push((member.clone(), today));
    Ok(Outcome::ExpiryNoticed(notice.map(Box::new)))
}

/// The last notice day of every member the batch's `NoticeExpiring` commands name (nothing is
/// read for a batch without one).
pub(crate) async fn load_notices(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
) -> Result<HashMap<MemberId, jiff::civil::Date>, loyalty_store::StoreError> {
    let mut ids: Vec<MemberId> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::NoticeExpiring { member } => Some(member.clone()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort();
    ids.dedup();
    tx.load_expiry_notices(&ids).await
}
