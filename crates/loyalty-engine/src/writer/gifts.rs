//! The gift arm of a batch: a birthday gift or a member-day pack, sent by the scheduler.
//! Decided again here on the member's row and gift keys the batch's transaction holds — the
//! gift must still be due today and not yet recorded for its period — so a job run twice, or
//! stopped midway and run again, gives nobody two. The row is written in the transaction that
//! issues its coupons, each with an id derived from member, kind, period and place.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::Channel;
use loyalty_core::engagement::gifts::{birthday_due, member_day_due, Gift, GiftKind};
use loyalty_core::engagement::local_day;
use loyalty_core::ids::{derived_id, CouponId, MemberId, TemplateId};
use loyalty_core::ledger::MemberStatus;
use loyalty_core::Program;
use std::collections::HashMap;

/// How far back a batch loads a member's gift keys: farther than any key a gift due now or
/// in the next birthday window can share (a window starts at most 60 days before its year).
const GIFT_LOOKBACK_DAYS: i64 = 800;

/// The gift keys of every member the batch may give to.
pub(crate) type GiftKeys = HashMap<MemberId, Vec<(GiftKind, String)>>;

/// The templates a gift of `kind` issues, each with how many coupons of it.
fn items(program: &Program, kind: GiftKind) -> Vec<(String, i64)> {
    match kind {
        GiftKind::Birthday => program.file.birthday.gift.iter().map(|t| (t.clone(), 1)).collect(),
        GiftKind::MemberDay => program.file.member_day.pack.iter().map(|p| (p.template.clone(), p.count)).collect(),
    }
}

/// The gift keys of the batch's gift members, and (member, template) for every coupon they
/// could be given.
pub(crate) async fn load_gift_state(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<(GiftKeys, Vec<(MemberId, TemplateId)>), loyalty_store::StoreError> {
    let mut wanted: Vec<(MemberId, GiftKind)> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Gift { member, kind } => Some((member.clone(), *kind)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok((HashMap::new(), Vec::new()));
    }
    wanted.sort();
    wanted.dedup();
    let mut ids: Vec<MemberId> = wanted.iter().map(|(m, _)| m.clone()).collect();
    ids.dedup();
    let since = loyalty_core::calendar::plus_secs(now, -GIFT_LOOKBACK_DAYS * 86_400);
    let mut keys = tx.load_gifts(&ids, since).await?;
    let mut extra = Vec::new();
    for (member, kind) in wanted {
        for (t, _) in items(program, kind) {
            extra.extend(TemplateId::parse(&t).ok().map(|t| (member.clone(), t)));
        }
    }
    for id in ids {
        keys.entry(id).or_default();
    }
    Ok((keys, extra))
}

/// Gives the member the gift of `kind` due today, if it still is and was not given for its
/// period: `Outcome::Gift(None)` when nothing is due (not in the window, given already, a
/// member not active). A coupon a template cannot give is named in the row's `not_given`;
/// the row stands either way, so a refused coupon is not tried again and again.
pub(crate) fn apply_gift(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    (member, kind): (&MemberId, GiftKind),
    now: Timestamp,
) -> Reply {
    let rec = existing(l, member)?;
    let before = rec.account.appended();
    // The tier a member-day pack is decided on is the one the member holds now.
    catch_up(rec, program, now);
    let acc = &rec.account;
    if acc.has_dirty_rows() || acc.appended() > before {
        t.members.insert(member.clone());
    }
    if acc.status() != MemberStatus::Active {
        return Ok(Outcome::Gift(None));
    }
    let today = local_day(program, now);
    let period = match kind {
        GiftKind::Birthday => rec.profile.birthday.and_then(|b| birthday_due(&program.file.birthday, b, today)),
        GiftKind::MemberDay => member_day_due(&program.file.member_day, &acc.tier().code, today),
    };
    let paid = rec.plan.as_ref().is_some_and(|c| c.applies_at(now));
    let Some(period) = period else { return Ok(Outcome::Gift(None)) };
    let keys = l.gifts.get(member).expect("the gift keys of every member given to are loaded");
    if keys.iter().any(|(k, p)| *k == kind && *p == period) {
        return Ok(Outcome::Gift(None));
    }
    let (mut coupons, mut not_given) = (Vec::new(), Vec::new());
    for (template, count) in items(program, kind) {
        for i in 0..count {
            let parts = ["gift", kind.as_str(), &period, member.as_str(), &template, &i.to_string()];
            let (Ok(tpl), Ok(id)) = (TemplateId::parse(&template), CouponId::parse(&derived_id(&parts))) else {
                not_given.push(format!("{template}: not a template id"));
                continue;
            };
            match issue_derived(l, t, program, member, (&tpl, &id, Channel::Engagement), paid, now) {
                Ok(c) => coupons.push(c.coupon_id),
                Err(e) => not_given.push(format!("{template}: {e}")),
            }
        }
    }
    let gift = Gift { member_id: member.clone(), kind, period: period.clone(), at: now, coupons, not_given };
    l.gifts.get_mut(member).expect("loaded above").push((kind, period));
    t.changes.gifts.push(gift.clone());
    Ok(Outcome::Gift(Some(Box::new(gift))))
}
