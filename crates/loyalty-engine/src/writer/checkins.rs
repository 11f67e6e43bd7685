//! The check-in arms of a batch: today's check-in and a make-up of a missed day. Decided on
//! the member's days the batch's transaction loaded, with the member's row held, so one
//! check-in per local day holds under any concurrency (and the table's key refuses a second
//! row if a bug ever let one through); the points and growth go to the account in the same
//! transaction, a milestone's coupon is issued through the coupon rules.

use super::*;
use jiff::civil::Date;
use jiff::Timestamp;
use loyalty_core::coupons::Channel;
use loyalty_core::engagement::{local_day, Calendar, Day, MakeupPay, Reward};
use loyalty_core::ids::{derived_id, CouponId, MemberId, TemplateId};
use loyalty_core::ledger::SourceKind;
use loyalty_core::tiers::GrowthKind;
use loyalty_core::{DomainError, Program};
use std::collections::HashMap;

pub(crate) fn member_of_checkin(cmd: &Command) -> Option<&MemberId> {
    match cmd {
        Command::Checkin { member, .. } | Command::Makeup { member, .. } => Some(member),
        _ => None,
    }
}

/// The days of every member the batch checks in, from the first day the rules may look at,
/// and (member, template) for each milestone coupon those members could be given.
pub(crate) async fn load_checkin_state(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<(HashMap<MemberId, Calendar>, Vec<(MemberId, TemplateId)>), loyalty_store::StoreError> {
    let mut ids: Vec<MemberId> = cmds.iter().filter_map(member_of_checkin).cloned().collect();
    if ids.is_empty() {
        return Ok((HashMap::new(), Vec::new()));
    }
    ids.sort();
    ids.dedup();
    let s = &program.file.checkin;
    // A check-in's day may be the day before `now`'s (sent just before midnight): the window
    // reaches a day further back than the rules need from `now`'s day.
    let today = local_day(program, now);
    let from = Calendar::load_from(s, today.yesterday().unwrap_or(today));
    let mut days = tx.load_checkins(&ids, from).await?;
    let templates: Vec<TemplateId> =
        s.milestones.iter().filter_map(|m| m.coupon.as_deref()).filter_map(|t| TemplateId::parse(t).ok()).collect();
    let mut extra = Vec::new();
    let mut calendars = HashMap::with_capacity(ids.len());
    for id in ids {
        extra.extend(templates.iter().map(|t| (id.clone(), t.clone())));
        let loaded = days.remove(&id).unwrap_or_default();
        calendars.insert(id.clone(), Calendar::new(id, from, loaded));
    }
    Ok((calendars, extra))
}

/// Runs a check-in or a make-up on the loaded state. The rules run on a copy of the member's
/// days, and every check on the account comes before any change, so a refusal changes nothing.
pub(crate) fn apply_checkin(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    cmd: &Command,
    now: Timestamp,
) -> Reply {
    let member = member_of_checkin(cmd).expect("a check-in command");
    let s = &program.file.checkin;
    let mut cal = l.checkins.get(member).expect("the days of every member checking in are loaded").clone();
    let rec = existing(l, member)?;
    catch_up(rec, program, now);
    rec.account.can_transact()?;
    let today = local_day(program, now);
    let (day, reward) = match cmd {
        Command::Checkin { at, .. } => {
            let day = local_day(program, *at);
            (day, cal.check_in(s, day, *at)?)
        }
        Command::Makeup { day, card, .. } => {
            let pay = card.as_ref().map_or(MakeupPay::Points, |c| MakeupPay::Card(c.to_string()));
            (*day, cal.make_up(s, (*day, today), &pay, now)?)
        }
        _ => unreachable!("only check-in commands come here"),
    };
    rec.account.check_growth("growth", reward.growth)?;
    rec.account.check_credit("points", loyalty_core::Points::new(reward.points))?;
    if let Command::Makeup { card: Some(card), .. } = cmd {
        use_card(l, t, program, member, card, now)?;
    }
    let acc = &mut existing(l, member)?.account;
    let source = format!("checkin/{day}");
    if reward.cost_points > 0 {
        acc.spend((SourceKind::Checkin, &format!("makeup/{day}")), loyalty_core::Points::new(reward.cost_points), now)?;
    }
    if reward.growth > 0 {
        acc.add_growth(program, GrowthKind::Checkin, &source, reward.growth, now, now);
    }
    if reward.points > 0 {
        acc.earn_now(program, (SourceKind::Checkin, &source), loyalty_core::Points::new(reward.points), now);
    }
    t.members.insert(member.clone());
    let (coupons, not_given) = issue_milestone_coupons(l, t, program, member, day, &reward, now);
    let streak = cal.current_streak(today.max(day));
    let makeups_left = cal.makeups_left(s, today);
    let recorded = cal.days.get(&day).expect("just recorded").clone();
    l.checkins.insert(member.clone(), cal);
    let balances = l.members.get(member).expect("loaded").account.buckets();
    Ok(Outcome::Checkin(Box::new(CheckinOutcome {
        day: recorded,
        streak,
        reward,
        coupons,
        not_given,
        makeups_left,
        balances,
    })))
}

/// Uses up a make-up card: the member's coupon `card`, of one of the card templates, usable
/// now. Checked before anything else changes, so a refusal changes nothing.
fn use_card(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    card: &CouponId,
    now: Timestamp,
) -> Result<(), DomainError> {
    let held = l.coupons.entry(member.clone()).or_default();
    let c =
        held.iter_mut().find(|c| &c.coupon_id == card).ok_or_else(|| DomainError::CouponNotFound(card.to_string()))?;
    let cards = &program.file.checkin.makeup.cards;
    if !cards.iter().any(|t| t == c.template_id.as_str()) {
        return Err(DomainError::unprocessable(
            "card",
            format!("coupon {card} is of template {}, not a make-up card ({})", c.template_id, cards.join(", ")),
        ));
    }
    c.usable_at(now).map_err(|why| DomainError::Checkin {
        code: "card_not_usable",
        reason: format!("make-up card {card} is {why}"),
    })?;
    t.changes.coupon_entries.push(c.use_as_makeup_card(now));
    Ok(())
}

/// What a check-in or make-up recorded and gave.
#[derive(Debug, Clone)]
pub struct CheckinOutcome {
    pub day: Day,
    /// The running streak after it.
    pub streak: i64,
    pub reward: Reward,
    pub coupons: Vec<loyalty_core::coupons::Coupon>,
    /// Milestone coupons that could not be issued (out of stock, a limit), each with why.
    pub not_given: Vec<String>,
    pub makeups_left: i64,
    pub balances: loyalty_core::ledger::Buckets,
}

/// Issues the milestone coupons of `reward`, each with an id derived from the member, the day
/// and its place, so a replayed batch issues the same coupons and no more. A coupon the
/// template cannot give (its stock, the member's limits) is noted, and the check-in stands.
fn issue_milestone_coupons(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    day: Date,
    reward: &Reward,
    now: Timestamp,
) -> (Vec<loyalty_core::coupons::Coupon>, Vec<String>) {
    let (mut given, mut notes) = (Vec::new(), Vec::new());
    for (i, template) in reward.coupons.iter().enumerate() {
        let (Ok(template), Ok(id)) = (
            TemplateId::parse(template),
            CouponId::parse(&derived_id(&["checkin", member.as_str(), &day.to_string(), &i.to_string()])),
        ) else {
            continue;
        };
        let paid = l.members.get(member).and_then(|m| m.plan.as_ref()).is_some_and(|c| c.applies_at(now));
        match issue_derived(l, t, program, member, (&template, &id, Channel::Engagement), paid, now) {
            Ok(c) => given.push(c),
            Err(e) => notes.push(format!("{template}: {e}")),
        }
    }
    (given, notes)
}

/// Moves the days the batch recorded or moved into what is written.
pub(crate) fn take_checkin_changes(l: &mut Loaded, t: &mut Touched) {
    let mut ids: Vec<&MemberId> = l.checkins.keys().collect();
    ids.sort();
    for id in ids {
        let cal = &l.checkins[id];
        debug_assert!(cal.check().is_empty(), "{:?}", cal.check());
        for d in &cal.added {
            t.changes.checkins.push((id.clone(), cal.days[d].clone()));
        }
        for d in &cal.moved {
            t.changes.checkin_streaks.push((id.clone(), *d, cal.days[d].streak));
        }
    }
}
