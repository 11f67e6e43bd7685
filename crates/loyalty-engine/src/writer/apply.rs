//! Each command's arm: what it does to the loaded accounts, orders and actions.

use super::*;
use jiff::Timestamp;
use loyalty_core::account::Account;
use loyalty_core::ids::{AdjustmentId, MemberId, OrderId};
use loyalty_core::ledger::MemberStatus;
use loyalty_core::member::{MemberInput, Profile};
use loyalty_core::order::{self, RefundInput, ValidOrder};
use loyalty_core::text::Reason;
use loyalty_core::tiers::{self, Action, ActionKind};
use loyalty_core::{DomainError, Program};
use loyalty_store::{Adjustment, AuditRecord, MemberRecord};

/// Brings a member up to `now`: due activations, expiries, hold time-outs and tier reviews.
pub(crate) fn catch_up(m: &mut MemberRecord, program: &Program, now: Timestamp) {
    m.account.advance(now);
    m.account.review_tier(program, now);
}

pub(crate) fn existing<'a>(l: &'a mut Loaded, id: &MemberId) -> Result<&'a mut MemberRecord, DomainError> {
    l.members.get_mut(id).ok_or_else(|| DomainError::MemberNotFound(id.to_string()))
}

/// Refuses a command that would write to an erased member. The scheduler's `Advance` still
/// runs (expiries and hold time-outs keep the ledger true), and erasing again is a no-op.
fn refuse_erased(l: &Loaded, cmd: &Command) -> Result<(), DomainError> {
    // A settlement pays nothing to an erased side itself (`referrals::pay_side`).
    if matches!(
        cmd,
        Command::Advance { .. }
            | Command::AdvanceMembership { .. }
            | Command::Erase { .. }
            | Command::SettleReferral { .. }
            | Command::NoticeExpiring { .. }
    ) {
        return Ok(());
    }
    let Some(id) = member_of(cmd, &l.orders) else { return Ok(()) };
    match l.members.get(&id).and_then(|m| m.profile.erased_at) {
        Some(at) => Err(DomainError::MemberErased { member: id.to_string(), erased_at: at.to_string() }),
        None => Ok(()),
    }
}

pub(crate) fn apply_one(l: &mut Loaded, t: &mut Touched, program: &Program, cmd: &Command, now: Timestamp) -> Reply {
    refuse_erased(l, cmd)?;
    match cmd {
        Command::UpsertMember { id, input } => upsert_member(l, t, program, id, input, now),
        Command::PlaceOrder { order, create_member } => place_order(l, t, program, order, *create_member, now),
        Command::Refund { order_id, input } => refund(l, t, program, order_id, input, now),
        Command::Hold { member, order_id, points, order_amount_minor, ttl_seconds, coupons } => {
            if !(1..=MAX_HOLD_TTL_SECS).contains(ttl_seconds) {
                return Err(DomainError::unprocessable(
                    "ttl_seconds",
                    format!("{ttl_seconds} must be between 1 and {MAX_HOLD_TTL_SECS}"),
                ));
            }
            let order = OrderId::parse(order_id).map_err(|e| DomainError::unprocessable("order_id", e.0))?;
            let reserved = coupons_of_order(l, member, &order);
            let m = existing(l, member)?;
            catch_up(m, program, now);
            t.members.insert(member.clone());
            let acc = &m.account;
            let latest = acc.holds().iter().filter(|h| &h.order_id == order_id).max_by_key(|h| h.created_at);
            // The same hold asked again is replayed; other terms for the order are a conflict
            // until that hold is released.
            if let Some(h) = latest.filter(|h| live_hold_of(h, order_id)) {
                let differences = h.differences(*points, *order_amount_minor, coupons, &reserved);
                if differences.is_empty() {
                    return Ok(Outcome::Hold { hold: h.clone(), balances: acc.buckets(), replayed: true });
                }
                return Err(DomainError::Conflict { what: "hold for order".into(), id: order_id.clone(), differences });
            }
            reservable(l, member, coupons, &order, now)?;
            let acc = &mut existing(l, member)?.account;
            let id = acc.hold(program, order_id, *points, *order_amount_minor, *ttl_seconds, now)?;
            let hold = acc.holds().iter().find(|h| h.hold_id == id).expect("just created").clone();
            let balances = acc.buckets();
            reserve_coupons(l, t, member, (coupons, &order, hold.expires_at), now);
            Ok(Outcome::Hold { hold, balances, replayed: false })
        }
        Command::Capture { member, hold } | Command::Release { member, hold } => {
            let m = existing(l, member)?;
            catch_up(m, program, now);
            t.members.insert(member.clone());
            if matches!(cmd, Command::Capture { .. }) {
                m.account.capture(hold, now)?;
            } else {
                m.account.release(hold, now)?;
            }
            let h = m.account.holds().iter().find(|h| &h.hold_id == hold).expect("found by the rule").clone();
            let balances = m.account.buckets();
            settle_reserved(l, t, member, &h.order_id, matches!(cmd, Command::Capture { .. }), now);
            Ok(Outcome::Hold { hold: h, balances, replayed: false })
        }
        Command::Adjust { member, id, points, reason, actor, audited } => {
            let done = adjust(l, t, program, member, id, *points, reason, actor, now)?;
            if let (true, Outcome::Adjusted { adjustment, replayed: false, .. }) = (*audited, &done) {
                t.changes.audit.push(adjustment_audit(adjustment));
            }
            Ok(done)
        }
        Command::Activity { member, input } => {
            let same = |a: &Action| a.differences(input);
            action(l, t, program, (member, ActionKind::Activity, input.id.as_str()), same, now, |acc, prior| {
                tiers::record_activity(acc, program, input, prior, now)
            })
        }
        Command::ClaimSample { member, id } => {
            // A claim carries nothing but its id: sent again, it is the same claim.
            let same = |_: &Action| Vec::new();
            action(l, t, program, (member, ActionKind::Claim, id.as_str()), same, now, |acc, prior| {
                tiers::claim_free_sample(acc, program, id, prior, now)
            })
        }
        Command::AssignTier { member, tier, reason, until, actor } => {
            let m = existing(l, member)?;
            catch_up(m, program, now);
            m.account.assign_tier(program, tier, reason, actor, *until, now)?;
            t.members.insert(member.clone());
            Ok(Outcome::Tier { record: m.clone() })
        }
        Command::Remember(rec) => {
            t.changes.idempotency.push(rec.clone());
            Ok(Outcome::Remembered)
        }
        Command::Audit(rec) => {
            t.changes.audit.push(rec.clone());
            Ok(Outcome::Audited)
        }
        Command::Erase { member, reason, actor } => erase(l, t, program, member, reason, actor, now),
        Command::IssueCoupon { member, template, coupon, channel, code } => {
            issue_coupon(l, t, program, (member, template.as_ref(), coupon, *channel), code.as_deref(), now)
        }
        Command::Redeem { member, request } => redeem(l, t, program, member, request, now),
        Command::MoveRedemption { member, redemption, mv } => {
            move_redemption(l, t, program, member, redemption, mv, now)
        }
        Command::Draw { member, lottery, draw: id } => draw(l, t, program, (member, lottery, id), now),
        Command::Subscribe { .. }
        | Command::Upgrade { .. }
        | Command::CancelMembership { .. }
        | Command::ResumeMembership { .. }
        | Command::RefundMembership { .. }
        | Command::InviteToPlan { .. }
        | Command::AdvanceMembership { .. } => super::memberships::apply_membership(l, t, program, cmd, now),
        Command::Checkin { .. } | Command::Makeup { .. } => apply_checkin(l, t, program, cmd, now),
        Command::Gift { member, kind } => apply_gift(l, t, program, (member, *kind), now),
        Command::ReferralCode { member } => give_code(l, program, member),
        Command::SettleReferral { invitee } => settle(l, t, program, invitee, now),
        Command::NoticeExpiring { member } => notice_expiring(l, t, program, member, now),
        Command::Advance { member } => {
            let Some(m) = l.members.get_mut(member) else { return Ok(Outcome::Advanced { entries: 0 }) };
            let before = m.account.appended();
            catch_up(m, program, now);
            let n = m.account.appended() - before;
            let acc = &m.account;
            if n > 0 || acc.has_dirty_rows() || acc.tier_review_at() != acc.next_tier_review(program) {
                t.members.insert(member.clone());
            }
            Ok(Outcome::Advanced { entries: n })
        }
    }
}

/// Creates or updates a member. With `referred_by`, the invitation is checked before anything
/// changes (an unknown code writes nothing) and recorded with the profile as this `PUT` leaves
/// it: pending when it creates the member, refused with its reason otherwise.
pub(crate) fn upsert_member(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    id: &MemberId,
    input: &MemberInput,
    now: Timestamp,
) -> Reply {
    let created = !l.members.contains_key(id);
    let mut record = match l.members.get(id) {
        Some(m) => m.clone(),
        None => MemberRecord { profile: Profile::new(now, now), account: Account::new(id.clone()), plan: None },
    };
    record.account.advance(now);
    let status = input.apply(&mut record.profile, now)?;
    let referrer = input.referred_by.as_deref().map(|raw| referrer_of(l, program, raw)).transpose()?;
    if let Some(status) = status {
        record.account.set_status(status);
    }
    let referral = referrer.map(|(code, by)| Box::new(invite(l, id, (&code, &by), !created, &record.profile, now)));
    l.members.insert(id.clone(), record.clone());
    t.members.insert(id.clone());
    if created {
        t.created.push(id.clone());
    }
    Ok(Outcome::Member { record, created, referral })
}

pub(crate) fn place_order(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    order: &ValidOrder,
    create: bool,
    now: Timestamp,
) -> Reply {
    if let Some(stored) = l.orders.get(&order.id) {
        let differences = stored.order.differences(order);
        if differences.is_empty() {
            return Ok(Outcome::Order { order: stored.clone(), replayed: true });
        }
        return Err(DomainError::OrderConflict { order: order.id.to_string(), differences });
    }
    let created = create && !l.members.contains_key(&order.member_id);
    if created {
        let record = MemberRecord {
            profile: Profile::new(order.paid_at, now),
            account: Account::new(order.member_id.clone()),
            plan: None,
        };
        l.members.insert(order.member_id.clone(), record);
    }
    let offers = if order.coupons.is_empty() {
        Ok(Vec::new())
    } else {
        order_offers(l, &order.member_id, (&order.id, &order.coupons), now)
    };
    let m = existing(l, &order.member_id)?;
    catch_up(m, program, now);
    let placed = offers.and_then(|offers| {
        let offers: Vec<_> = offers.iter().map(|(c, t)| (c, t)).collect();
        // The plan's benefits apply to an order paid inside the member's benefits window.
        let plan = m
            .plan
            .as_ref()
            .filter(|c| c.applies_at(order.paid_at))
            .and_then(|c| program.file.plans.iter().find(|p| p.code == c.plan));
        order::place_order_with_coupons(
            &mut m.account,
            program,
            order.clone(),
            (m.profile.birthday, plan),
            &offers,
            now,
        )
    });
    let placed = match placed {
        Ok(placed) => placed,
        Err(e) => {
            // A member the refused order would have created does not exist for the rest of the batch.
            if created {
                l.members.remove(&order.member_id);
            }
            return Err(e);
        }
    };
    catch_up(m, program, now);
    t.members.insert(order.member_id.clone());
    if created {
        t.created.push(order.member_id.clone());
    }
    t.orders.push(order.id.clone());
    t.changes.new_order_keys.push((order.id.clone(), order.member_id.clone()));
    use_coupons(l, t, &placed, now);
    on_order(l, program, &placed);
    l.orders.insert(order.id.clone(), placed.clone());
    Ok(Outcome::Order { order: placed, replayed: false })
}

pub(crate) fn refund(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    order_id: &OrderId,
    input: &RefundInput,
    now: Timestamp,
) -> Reply {
    let Some(order) = l.orders.get(order_id) else { return Err(DomainError::OrderNotFound(order_id.to_string())) };
    let prior = l.refunds.entry(order_id.clone()).or_default();
    if let Some(stored) = prior.iter().find(|r| r.refund_id.as_str() == input.id) {
        let differences = order::refund_differences(stored, input);
        if differences.is_empty() {
            return Ok(Outcome::Refund { order: order.clone(), replayed: true });
        }
        return Err(DomainError::RefundConflict { order: order_id.to_string(), refund: input.id.clone(), differences });
    }
    let mut order = order.clone();
    let m = l.members.get_mut(&order.order.member_id).expect("an order's member exists");
    catch_up(m, program, now);
    let refund = order::refund_order(&mut m.account, program, &mut order, prior, input, now)?;
    catch_up(m, program, now);
    prior.push(refund.clone());
    t.members.insert(order.order.member_id.clone());
    t.orders.push(order_id.clone());
    t.changes.refunds.push((order.order.member_id.clone(), refund.clone()));
    restore_coupons(l, t, &order, now);
    on_refund(l, program, &order, refund.refunded_at);
    l.orders.insert(order_id.clone(), order.clone());
    Ok(Outcome::Refund { order, replayed: false })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn adjust(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    id: &AdjustmentId,
    points: loyalty_core::Points,
    reason: &Reason,
    actor: &str,
    now: Timestamp,
) -> Reply {
    let key = (member.clone(), id.clone());
    if let Some(a) = l.adjustments.get(&key).cloned() {
        let balances = existing(l, member)?.account.buckets();
        if a.points == points && a.reason == reason.as_str() {
            return Ok(Outcome::Adjusted { adjustment: a, balances, replayed: true });
        }
        return Err(DomainError::Conflict {
            what: "adjustment".into(),
            id: id.to_string(),
            differences: vec!["points or reason".into()],
        });
    }
    let m = existing(l, member)?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    m.account.adjust(program, id.as_str(), points, format!("{reason} (by {actor})"), now)?;
    let adjustment = Adjustment {
        member_id: member.clone(),
        adjustment_id: id.clone(),
        points,
        reason: reason.to_string(),
        actor: actor.to_owned(),
        created_at: now,
    };
    let balances = m.account.buckets();
    l.adjustments.insert(key, adjustment.clone());
    t.changes.adjustments.push(adjustment.clone());
    Ok(Outcome::Adjusted { adjustment, balances, replayed: false })
}

/// The audit record of an operator's adjustment: written once, under the adjustment's id.
fn adjustment_audit(a: &Adjustment) -> AuditRecord {
    let detail =
        serde_json::json!({ "adjustment": a.adjustment_id.as_str(), "points": a.points.get(), "via": "console" });
    AuditRecord {
        member_id: a.member_id.clone(),
        audit_id: format!("adjust:{}", a.adjustment_id),
        action: "adjust".into(),
        actor: a.actor.clone(),
        reason: Some(a.reason.clone()),
        detail: detail.to_string(),
        at: a.created_at,
    }
}

/// Erases a member's personal data and closes it, with its audit record (see `Command::Erase`).
pub(crate) fn erase(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    reason: &str,
    actor: &str,
    now: Timestamp,
) -> Reply {
    let reason = loyalty_core::member::erase_reason(reason)?;
    let m = existing(l, member)?;
    if m.profile.erased_at.is_some() {
        return Ok(Outcome::Erased { record: m.clone(), replayed: true });
    }
    catch_up(m, program, now);
    let before = m.account.status();
    m.profile.erase(now);
    m.account.set_status(MemberStatus::Closed);
    t.members.insert(member.clone());
    let detail = serde_json::json!({
        "removed": loyalty_core::member::PERSONAL_FIELDS,
        "status_before": before.as_str(),
        "addresses": "the shipping address of every redemption in the points mall",
        "kept": "ledger, lots, holds, orders, refunds, adjustments, growth, tier history, activities, coupons, redemptions and draws",
    });
    t.changes.audit.push(AuditRecord {
        member_id: member.clone(),
        audit_id: "erase".into(),
        action: "erase".into(),
        actor: actor.to_owned(),
        reason: Some(reason),
        detail: detail.to_string(),
        at: now,
    });
    Ok(Outcome::Erased { record: m.clone(), replayed: false })
}

/// Records an activity or a claim once per id: a retry returns the recorded one, and one
/// that `differences` finds other is a conflict naming the fields.
pub(crate) fn action(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    (member, kind, id): (&MemberId, ActionKind, &str),
    differences: impl FnOnce(&Action) -> Vec<String>,
    now: Timestamp,
    rule: impl FnOnce(&mut Account, &[Action]) -> Result<Action, DomainError>,
) -> Reply {
    let key = (member.clone(), kind);
    if let Some(a) = l.actions.get(&key).and_then(|v| v.iter().find(|a| a.action_id == id)) {
        let differences = differences(a);
        if differences.is_empty() {
            return Ok(Outcome::Action { action: a.clone(), replayed: true });
        }
        let what = match kind {
            ActionKind::Activity => "activity",
            ActionKind::Claim => "free-sample claim",
        };
        return Err(DomainError::Conflict { what: what.into(), id: id.to_owned(), differences });
    }
    let prior = l.actions.remove(&key).unwrap_or_default();
    let m = existing(l, member)?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    let result = rule(&mut m.account, &prior);
    let mut prior = prior;
    if let Ok(a) = &result {
        prior.push(a.clone());
        t.changes.actions.push((member.clone(), a.clone()));
    }
    l.actions.insert(key, prior);
    result.map(|action| Outcome::Action { action, replayed: false })
}
