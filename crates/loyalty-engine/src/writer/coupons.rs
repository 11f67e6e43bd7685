//! The coupon arms of a batch: issuing a coupon, using an order's coupons and giving them back
//! when the order is refunded in full. Stock and per-member limits are decided here, on the
//! template and coupons the batch's transaction holds, so they hold under any concurrency.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::{self, Channel, Coupon, Holder, Template};
use loyalty_core::ids::{CouponId, MemberId, OrderId, TemplateId};
use loyalty_core::ledger::{HoldStatus, MemberStatus};
use loyalty_core::order::Order;
use loyalty_core::{DomainError, Program};
use std::collections::HashMap;

/// Issues (or replays) coupon `coupon` of `template` to `member`.
pub(crate) fn issue_coupon(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    (member, template, coupon, channel): (&MemberId, Option<&TemplateId>, &CouponId, Channel),
    code: Option<&str>,
    now: Timestamp,
) -> Reply {
    let template = match (template, code) {
        (Some(t), None) => t.clone(),
        (None, Some(code)) => {
            let row = l.codes.get(code).ok_or_else(|| DomainError::CouponCodeNotFound(code.to_owned()))?;
            match &row.redeemed {
                Some((m, c, _)) if m == member && c == coupon => {}
                Some(_) => return Err(DomainError::CouponCodeUsed(code.to_owned())),
                None => {}
            }
            row.template_id.clone()
        }
        _ => unreachable!("an issue names a template or a code, not both"),
    };
    let template = &template;
    let held = l.coupons.entry(member.clone()).or_default();
    if let Some(c) = held.iter().find(|c| &c.coupon_id == coupon) {
        let mut differences = Vec::new();
        if &c.template_id != template {
            differences.push("template".to_owned());
        }
        if c.source != channel {
            differences.push("source".to_owned());
        }
        if differences.is_empty() {
            return Ok(Outcome::Coupon { coupon: c.clone(), replayed: true });
        }
        return Err(DomainError::Conflict { what: "coupon".into(), id: coupon.to_string(), differences });
    }
    let Some(tpl) = l.templates.get_mut(template) else {
        return Err(DomainError::TemplateNotFound(template.to_string()));
    };
    let m = l.members.get_mut(member).ok_or_else(|| DomainError::MemberNotFound(member.to_string()))?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    let holder = Holder {
        tier: &m.account.tier().code,
        active: m.account.status() == MemberStatus::Active,
        insight: l.insight.get(member),
        paid: m.plan.as_ref().is_some_and(|c| c.applies_at(now)),
    };
    let mine: Vec<Coupon> = held.iter().filter(|c| &c.template_id == template).cloned().collect();
    let (issued, entry) = coupons::issue(program, tpl, &mine, &holder, (member, coupon, channel), now)?;
    if let Some(row) = code.and_then(|c| l.codes.get_mut(c)) {
        row.redeemed = Some((member.clone(), coupon.clone(), now));
        t.changes.codes_redeemed.push(row.clone());
    }
    t.changes.coupon_entries.push(entry);
    t.issued.push(template.clone());
    held.push(issued.clone());
    Ok(Outcome::Coupon { coupon: issued, replayed: false })
}

/// The member's coupons an order names with their templates, in the order's order, as the
/// order sees them at `now` (one reserved for it is its to use).
pub(crate) fn order_offers(
    l: &Loaded,
    member: &MemberId,
    (order, ids): (&OrderId, &[CouponId]),
    now: Timestamp,
) -> Result<Vec<(Coupon, Template)>, DomainError> {
    let held = l.coupons.get(member).map(Vec::as_slice).unwrap_or_default();
    ids.iter()
        .map(|id| {
            let c =
                held.iter().find(|c| &c.coupon_id == id).ok_or_else(|| DomainError::CouponNotFound(id.to_string()))?;
            let tpl = l
                .templates
                .get(&c.template_id)
                .ok_or_else(|| DomainError::TemplateNotFound(c.template_id.to_string()))?;
            Ok((c.as_seen_by(order, now), tpl.clone()))
        })
        .collect()
}

/// Marks the coupons of a placed order used by it.
pub(crate) fn use_coupons(l: &mut Loaded, t: &mut Touched, order: &Order, now: Timestamp) {
    let held = l.coupons.entry(order.order.member_id.clone()).or_default();
    for id in &order.order.coupons {
        let c = held.iter_mut().find(|c| &c.coupon_id == id).expect("the order's coupons were checked");
        t.changes.coupon_entries.push(c.use_for(&order.order.id, now));
    }
}

/// Gives back the coupons `order` used once it is refunded in full (each at most once: a
/// coupon given back is no longer the order's).
pub(crate) fn restore_coupons(l: &mut Loaded, t: &mut Touched, order: &Order, now: Timestamp) {
    if order.order.coupons.is_empty() || order.refunded_minor < order.order.total_minor() {
        return;
    }
    let Some(held) = l.coupons.get_mut(&order.order.member_id) else { return };
    for c in held.iter_mut().filter(|c| c.order_id.as_ref() == Some(&order.order.id)) {
        if let Some(tpl) = l.templates.get(&c.template_id) {
            if let Some(e) = c.restore(tpl, now) {
                t.changes.coupon_entries.push(e);
            }
        }
    }
}

/// Moves the batch's coupon changes into `changes`: every coupon that changed, and how many
/// coupons of each template were issued.
/// Issues coupon `id` of `template` to `member` through `channel`, with an id the caller derived
/// from what it is for (a pack's month, a check-in's day), through the coupon rules (stock,
/// audience, per-member limits): a batch run again finds the coupon and issues nothing more.
/// `paid` is whether the member counts as a paid member for the template's audience.
pub(crate) fn issue_derived(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    (template, id, channel): (&TemplateId, &CouponId, Channel),
    paid: bool,
    now: Timestamp,
) -> Result<Coupon, DomainError> {
    let held = l.coupons.entry(member.clone()).or_default();
    if let Some(c) = held.iter().find(|c| &c.coupon_id == id) {
        return Ok(c.clone());
    }
    let tpl = l.templates.get_mut(template).ok_or_else(|| DomainError::TemplateNotFound(template.to_string()))?;
    let rec = l.members.get(member).expect("loaded");
    let holder = Holder {
        tier: &rec.account.tier().code,
        active: rec.account.status() == MemberStatus::Active,
        insight: l.insight.get(member),
        paid,
    };
    let mine: Vec<Coupon> = held.iter().filter(|c| &c.template_id == template).cloned().collect();
    let (issued, entry) = coupons::issue(program, tpl, &mine, &holder, (member, id, channel), now)?;
    t.changes.coupon_entries.push(entry);
    t.issued.push(template.clone());
    held.push(issued.clone());
    Ok(issued)
}

pub(crate) fn take_coupon_changes(l: &mut Loaded, t: &mut Touched) {
    let mut ids: Vec<&MemberId> = l.coupons.keys().collect();
    ids.sort();
    for id in ids {
        for c in l.coupons.get(id).into_iter().flatten().filter(|c| c.dirty) {
            let mut c = c.clone();
            c.dirty = false;
            t.changes.coupons.push(c);
        }
    }
    t.issued.sort();
    for tpl in t.issued.drain(..) {
        match t.changes.coupons_issued.last_mut() {
            Some((last, n)) if *last == tpl => *n += 1,
            _ => t.changes.coupons_issued.push((tpl, 1)),
        }
    }
}

/// What the batch's coupon commands need loaded for `member`: templates it issues from, coupons
/// its orders name, orders whose refunds may give coupons back.
pub(crate) fn coupon_needs(
    cmds: &[Command],
    orders: &HashMap<OrderId, Order>,
    codes: &HashMap<String, loyalty_core::coupons::code::OneTimeCode>,
    members: &HashMap<MemberId, loyalty_store::MemberRecord>,
) -> HashMap<MemberId, loyalty_store::CouponLoad> {
    let mut out: HashMap<MemberId, loyalty_store::CouponLoad> = HashMap::new();
    for c in cmds {
        match c {
            Command::Hold { member, coupons, order_id, .. } => {
                // A hold asked again is compared with the coupons the first one reserved:
                // those of its order.
                let again =
                    members.get(member).is_some_and(|m| m.account.holds().iter().any(|h| live_hold_of(h, order_id)));
                if again || !coupons.is_empty() {
                    let need = out.entry(member.clone()).or_default();
                    need.coupons.extend(coupons.iter().cloned());
                    need.orders.extend(OrderId::parse(order_id).ok().filter(|_| again));
                }
            }
            // The coupons reserved with the hold: those of its order.
            Command::Capture { member, hold } | Command::Release { member, hold } => {
                let order = members
                    .get(member)
                    .and_then(|m| m.account.holds().iter().find(|h| &h.hold_id == hold))
                    .and_then(|h| OrderId::parse(&h.order_id).ok());
                out.entry(member.clone()).or_default().orders.extend(order)
            }
            Command::IssueCoupon { member, template, code, .. } => {
                let of_code = || code.as_ref().and_then(|c| codes.get(c)).map(|r| r.template_id.clone());
                out.entry(member.clone()).or_default().templates.extend(template.clone().or_else(of_code))
            }
            Command::PlaceOrder { order, .. } if !order.coupons.is_empty() => {
                out.entry(order.member_id.clone()).or_default().coupons.extend(order.coupons.iter().cloned())
            }
            Command::Makeup { member, card: Some(card), .. } => {
                out.entry(member.clone()).or_default().coupons.push(card.clone())
            }
            Command::Refund { order_id, .. } => {
                if let Some(o) = orders.get(order_id).filter(|o| !o.order.coupons.is_empty()) {
                    out.entry(o.order.member_id.clone()).or_default().orders.push(order_id.clone())
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `h` is a hold for `order` that a hold asked again for it replays: open or captured.
pub(crate) fn live_hold_of(h: &loyalty_core::ledger::Hold, order: &str) -> bool {
    h.order_id == order && matches!(h.status, HoldStatus::Open | HoldStatus::Captured)
}

/// The member's coupons that name `order`: reserved with its hold, or used by it since.
pub(crate) fn coupons_of_order(l: &Loaded, member: &MemberId, order: &OrderId) -> Vec<CouponId> {
    let held = l.coupons.get(member).map(Vec::as_slice).unwrap_or_default();
    held.iter().filter(|c| c.order_id.as_ref() == Some(order)).map(|c| c.coupon_id.clone()).collect()
}

/// Whether the member's coupons `ids` may be reserved for `order` at `now` (one reserved for
/// that order already may).
pub(crate) fn reservable(
    l: &Loaded,
    member: &MemberId,
    ids: &[CouponId],
    order: &OrderId,
    now: Timestamp,
) -> Result<(), DomainError> {
    let held = l.coupons.get(member).map(Vec::as_slice).unwrap_or_default();
    for id in ids {
        let c = held.iter().find(|c| &c.coupon_id == id).ok_or_else(|| DomainError::CouponNotFound(id.to_string()))?;
        if let Err(reason) = c.as_seen_by(order, now).usable_at(now) {
            if c.status == coupons::CouponStatus::Used {
                let by = c.order_id.as_ref().map_or_else(String::new, |o| o.to_string());
                return Err(DomainError::CouponUsed { coupon: id.to_string(), order: by });
            }
            let why_not = if reason.starts_with("reserved") { "reserved" } else { "not_usable" };
            return Err(DomainError::CouponNotApplicable { coupon: id.to_string(), why_not: why_not.into(), reason });
        }
    }
    Ok(())
}

/// Reserves the coupons `ids` (checked by [`reservable`]) for `order` until `until`.
pub(crate) fn reserve_coupons(
    l: &mut Loaded,
    t: &mut Touched,
    member: &MemberId,
    (ids, order, until): (&[CouponId], &OrderId, Timestamp),
    now: Timestamp,
) {
    let held = l.coupons.entry(member.clone()).or_default();
    for id in ids {
        let c = held.iter_mut().find(|c| &c.coupon_id == id).expect("checked by reservable");
        if c.usable_at(now).is_ok() {
            t.changes.coupon_entries.push(c.reserve(order, until, now));
        }
    }
}

/// Settles the coupons reserved for `order` with their hold: kept for the order when the hold
/// is captured, available again when it is released.
pub(crate) fn settle_reserved(
    l: &mut Loaded,
    t: &mut Touched,
    member: &MemberId,
    order: &str,
    captured: bool,
    now: Timestamp,
) {
    let Some(held) = l.coupons.get_mut(member) else { return };
    for c in held.iter_mut().filter(|c| c.order_id.as_ref().is_some_and(|o| o.as_str() == order)) {
        let e = if captured { c.keep_reserved(now) } else { c.release(now) };
        t.changes.coupon_entries.extend(e);
    }
}
