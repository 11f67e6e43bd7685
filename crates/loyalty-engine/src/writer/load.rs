//! What a batch loads: only what its commands can touch (see docs/ARCHITECTURE.md, *What a
//! batch loads*).

use super::*;
use jiff::Timestamp;
use loyalty_core::calendar::plus_secs;
use loyalty_core::ids::{AdjustmentId, HoldId, MemberId, OrderId};
use loyalty_core::order::{Order, Refund};
use loyalty_core::tiers::{self, Action, ActionKind};
use loyalty_core::Program;
use loyalty_store::{MemberRecord, StoreError};
use std::collections::HashMap;

/// Growth entries older than this cannot matter to any qualification window (≤ 1 year, plus
/// a term's grace), so accounts are loaded without them.
pub const GROWTH_LOOKBACK_DAYS: i64 = 800;

/// The earliest growth entry an account loaded at `now` needs.
pub fn growth_since(now: Timestamp) -> Timestamp {
    plus_secs(now, -GROWTH_LOOKBACK_DAYS * 86_400)
}

pub(crate) async fn load_actions(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
    now: Timestamp,
) -> Result<HashMap<(MemberId, ActionKind), Vec<Action>>, StoreError> {
    let mut out: HashMap<(MemberId, ActionKind), Vec<Action>> = HashMap::new();
    for c in cmds {
        let (member, kind, id, since) = match c {
            Command::Activity { member, input } => {
                (member, ActionKind::Activity, input.id.as_str(), plus_secs(input.occurred_at, -32 * 86_400))
            }
            Command::ClaimSample { member, id } => {
                (member, ActionKind::Claim, id.as_str(), plus_secs(now, -32 * 86_400))
            }
            _ => continue,
        };
        let mut found = tx.load_actions(member, kind, since).await?;
        found.extend(tx.find_action(member, kind, id).await?);
        let list = out.entry((member.clone(), kind)).or_default();
        for a in found {
            if !list.iter().any(|x| x.action_id == a.action_id) {
                list.push(a);
            }
        }
    }
    Ok(out)
}

type CouponState = (
    HashMap<loyalty_core::ids::TemplateId, loyalty_core::coupons::Template>,
    HashMap<MemberId, Vec<loyalty_core::coupons::Coupon>>,
    HashMap<String, loyalty_core::coupons::code::OneTimeCode>,
);

/// The coupons the batch's members need and the templates of those coupons and of the
/// batch's issues. Loaded after the members, whose rows (held) guard their coupons; the
/// templates are held for update, in id order, until the batch commits.
async fn load_coupon_state(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
    orders: &HashMap<OrderId, Order>,
    members: &HashMap<MemberId, MemberRecord>,
    extra: Vec<(MemberId, loyalty_core::ids::TemplateId)>,
) -> Result<CouponState, StoreError> {
    let named: Vec<String> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::IssueCoupon { code: Some(code), .. } => Some(code.clone()),
            _ => None,
        })
        .collect();
    let codes = if named.is_empty() { HashMap::new() } else { tx.load_codes(&named).await? };
    let mut needs = coupon_needs(cmds, orders, &codes, members);
    for (member, template) in extra {
        needs.entry(member).or_default().templates.push(template);
    }
    let mut template_ids: Vec<_> = needs.values().flat_map(|w| w.templates.iter().cloned()).collect();
    // Members not loaded (unknown ones) hold no coupons the batch could change.
    let wanted: Vec<_> = needs.into_iter().filter(|(m, _)| members.contains_key(m)).collect();
    let coupons = if wanted.is_empty() { HashMap::new() } else { tx.load_coupons(&wanted).await? };
    template_ids.extend(coupons.values().flatten().map(|c| c.template_id.clone()));
    if template_ids.is_empty() {
        return Ok((HashMap::new(), coupons, codes));
    }
    template_ids.sort();
    template_ids.dedup();
    Ok((tx.load_templates(&template_ids).await?, coupons, codes))
}

/// Commands that may spend points (so need the spending order of every lot) or whose reply
/// shows the whole account. Orders, advances and today's check-in only add lots and apply what
/// is due (a make-up may spend its price, so it loads every lot).
pub(crate) fn needs_every_lot(cmd: &Command) -> bool {
    !matches!(
        cmd,
        Command::PlaceOrder { .. }
            | Command::Advance { .. }
            | Command::IssueCoupon { .. }
            | Command::AdvanceMembership { .. }
            | Command::Checkin { .. }
            | Command::Gift { .. }
            | Command::ReferralCode { .. }
            | Command::SettleReferral { .. }
    )
}

/// Which growth of `m` a write at `now` loads: what its windows can count (see
/// `tiers::growth_need`), never earlier than the lookback. The ranges are rounded to whole
/// weeks so that most members of a batch share their queries: the individual range only
/// grows and the summed one only shrinks, which keeps every window's growth exact. Only
/// members loaded in part take a sum; a reply never shows their account.
pub(crate) fn growth_load(
    m: &MemberRecord,
    program: &Program,
    now: Timestamp,
    partial: bool,
) -> loyalty_store::GrowthLoad {
    const WEEK_MICROS: i64 = 7 * 86_400 * 1_000_000;
    let floor = |t: Timestamp| {
        let us = t.as_microsecond();
        Timestamp::from_microsecond(us - us.rem_euclid(WEEK_MICROS)).unwrap_or(t)
    };
    let ceil = |t: Timestamp| {
        let us = t.as_microsecond();
        let r = us.rem_euclid(WEEK_MICROS);
        if r == 0 {
            t
        } else {
            Timestamp::from_microsecond(us - r + WEEK_MICROS).unwrap_or(t)
        }
    };
    let lookback = growth_since(now);
    let need = tiers::growth_need(&m.account, program, now);
    let after = need.from.map_or(lookback, |f| floor(f.max(lookback)).max(lookback));
    let summed =
        need.summed.filter(|_| partial).map(|(a, b)| (ceil(a), floor(b))).filter(|(a, b)| *a >= after && a < b);
    loyalty_store::GrowthLoad { member: m.account.member_id().clone(), after, summed }
}

pub(crate) async fn load(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<Loaded, StoreError> {
    let mut order_ids: Vec<OrderId> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::PlaceOrder { order, .. } => Some(order.id.clone()),
            Command::Refund { order_id, .. } => Some(order_id.clone()),
            _ => None,
        })
        .collect();
    order_ids.sort();
    order_ids.dedup();
    let orders = tx.load_orders(&order_ids).await?;
    // A refund of an order placed earlier in the same batch names its member through that
    // order: the member must be loaded in full for the refund's clawback.
    let placed: HashMap<&OrderId, &MemberId> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::PlaceOrder { order, .. } => Some((&order.id, &order.member_id)),
            _ => None,
        })
        .collect();
    let member_to_load = |c: &Command| {
        member_of(c, &orders).or_else(|| match c {
            Command::Refund { order_id, .. } => placed.get(order_id).map(|m| (*m).clone()),
            _ => None,
        })
    };
    let mut full: Vec<MemberId> = cmds.iter().filter(|c| needs_every_lot(c)).filter_map(member_to_load).collect();
    full.sort();
    full.dedup();
    // Who orders or refunds: their referrals move with their first order (one read, and
    // only while referral is on).
    let ordering: Vec<MemberId> = cmds
        .iter()
        .filter(|c| matches!(c, Command::PlaceOrder { .. } | Command::Refund { .. }))
        .filter_map(member_to_load)
        .collect();
    let (mut referrals, referrers, referral_coupons) =
        super::referrals::preload_referrals(tx, program, cmds, ordering, now).await?;
    let mut partial: Vec<MemberId> =
        cmds.iter().filter_map(member_to_load).chain(referrers).filter(|id| full.binary_search(id).is_err()).collect();
    partial.sort();
    partial.dedup();
    let mut members = tx.load_members(&full, &partial, now).await?;
    super::referrals::walk_chains(tx, &mut referrals, cmds, &members).await?;
    let mut wanted: Vec<loyalty_store::GrowthLoad> = members
        .values()
        .map(|m| {
            let partial = partial.binary_search(m.account.member_id()).is_ok();
            growth_load(m, program, now, partial)
        })
        .collect();
    wanted.sort();
    let (entries, sums) = tx.load_growth(&wanted).await?;
    let not_loaded = |id: &MemberId| StoreError::Corrupt {
        table: "growth_entries",
        reason: format!("growth of a member not loaded: {id}"),
    };
    for (id, g) in entries {
        members.get_mut(&id).ok_or_else(|| not_loaded(&id))?.account.load_growth_entry(g);
    }
    let mut sums: HashMap<MemberId, i64> = sums.into_iter().collect();
    for w in &wanted {
        let acc = &mut members.get_mut(&w.member).ok_or_else(|| not_loaded(&w.member))?.account;
        let sum = w.summed.map(|(after, upto)| {
            let amount = sums.remove(&w.member).unwrap_or(0);
            tiers::GrowthSum { after, upto, amount }
        });
        acc.end_growth_load(sum);
    }
    assert!(sums.is_empty(), "every growth sum belongs to a member that asked for one");

    let mut refund_keys: Vec<(MemberId, OrderId)> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Refund { order_id, .. } => {
                orders.get(order_id).map(|o| (o.order.member_id.clone(), order_id.clone()))
            }
            _ => None,
        })
        .collect();
    refund_keys.sort();
    refund_keys.dedup();
    let mut refunds: HashMap<OrderId, Vec<Refund>> = HashMap::new();
    for r in tx.load_refunds(&refund_keys).await? {
        refunds.entry(r.order_id.clone()).or_default().push(r);
    }

    // Holds a command names (by id, or by order for a new hold) that are not open.
    let mut wanted: HashMap<MemberId, (Vec<HoldId>, Vec<String>)> = HashMap::new();
    for c in cmds {
        match c {
            Command::Hold { member, order_id, .. } => {
                wanted.entry(member.clone()).or_default().1.push(order_id.clone())
            }
            Command::Capture { member, hold } | Command::Release { member, hold } => {
                wanted.entry(member.clone()).or_default().0.push(hold.clone())
            }
            _ => {}
        }
    }
    for (member, (hold_ids, order_ids)) in wanted {
        let Some(m) = members.get_mut(&member) else { continue };
        for h in tx.load_holds(&member, &hold_ids, &order_ids).await? {
            m.account.load_hold(h);
        }
    }

    let adj_keys: Vec<(MemberId, AdjustmentId)> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Adjust { member, id, .. } => Some((member.clone(), id.clone())),
            _ => None,
        })
        .collect();
    let adjustments = tx
        .load_adjustments(&adj_keys)
        .await?
        .into_iter()
        .map(|a| ((a.member_id.clone(), a.adjustment_id.clone()), a))
        .collect();
    let actions = load_actions(tx, cmds, now).await?;
    let (state, mut extra) = load_reward_state(tx, program, cmds, &mut members, now).await?;
    let (memberships, packs) = super::memberships::load_membership_state(tx, program, cmds, now).await?;
    extra.extend(packs);
    let (checkins, milestone_coupons) = super::checkins::load_checkin_state(tx, program, cmds, now).await?;
    extra.extend(milestone_coupons);
    let (tasks, task_coupons, gated) = super::tasks::load_task_state(tx, cmds, &orders).await?;
    extra.extend(task_coupons);
    let (gifts, gift_coupons) = load_gift_state(tx, program, cmds, now).await?;
    extra.extend(gift_coupons);
    extra.extend(referral_coupons);
    let (templates, coupons, codes) = load_coupon_state(tx, cmds, &orders, &members, extra).await?;
    let insight = load_insight(tx, cmds, &templates, &state.rewards, gated).await?;
    let expiry_notices = super::events::load_notices(tx, cmds).await?;
    Ok(Loaded {
        members,
        orders,
        refunds,
        adjustments,
        actions,
        templates,
        coupons,
        codes,
        rewards: state.rewards,
        lotteries: state.lotteries,
        redemptions: state.redemptions,
        draws: state.draws,
        insight,
        memberships,
        checkins,
        tasks,
        gifts,
        referrals,
        expiry_notices,
    })
}

/// The insight facts an audience gated by segment or stage decides on, for every member the
/// batch issues a coupon to, redeems for or draws for — read only when a template or
/// catalogue item the batch loaded is so gated, in one statement for the batch (per 5,000
/// members), inside its transaction, so the facts a refusal names are those of the run that
/// was the latest when the batch was decided. A gated audience deciding for a member whose
/// facts are missing is a bug, not a member without a segment: `Audience::admits` asserts it.
async fn load_insight(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
    templates: &HashMap<loyalty_core::ids::TemplateId, loyalty_core::coupons::Template>,
    rewards: &HashMap<loyalty_core::ids::RewardId, loyalty_core::rewards::Reward>,
    for_tasks: Vec<MemberId>,
) -> Result<HashMap<MemberId, loyalty_core::coupons::InsightFacts>, StoreError> {
    let gated = templates.values().any(|t| t.terms.audience.needs_insight())
        || rewards.values().any(|r| r.terms.audience.needs_insight());
    // A paid term records the buyer's value segment (the report's comparison cell).
    let joining = |c: &Command| matches!(c, Command::Subscribe { .. } | Command::Upgrade { .. });
    if !gated && !cmds.iter().any(joining) && for_tasks.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<MemberId> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::IssueCoupon { member, .. }
            | Command::Redeem { member, .. }
            | Command::Draw { member, .. }
            | Command::AdvanceMembership { member }
            | Command::Gift { member, .. }
                if gated =>
            {
                Some(member.clone())
            }
            Command::Subscribe { member, .. } | Command::Upgrade { member, .. } => Some(member.clone()),
            _ => None,
        })
        .chain(for_tasks)
        .collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    tx.load_insight_facts(&ids).await
}
