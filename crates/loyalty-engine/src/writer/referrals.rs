//! The referral arms of a batch (邀请有礼): giving a member its code, an invitation recorded
//! by the `PUT` that creates the invitee, the invitee's first order and its refund, and paying
//! a due referral to both sides. Everything is decided on what the batch's transaction loaded
//! (the rows of every invitee it names, the codes it names, the referrers' rewards this month),
//! by the one writer: two creates of one invitee count once, and the cap counts every payment
//! before it, in this batch or an earlier one. Orders pay for this with one read per batch,
//! and only while `[referral]` is enabled.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::Channel;
use loyalty_core::engagement::referral::{self, Given, Invitation, Referral, ReferralCode, Side};
use loyalty_core::ids::{derived_id, CouponId, MemberId, TemplateId};
use loyalty_core::ledger::SourceKind;
use loyalty_core::tiers::GrowthKind;
use loyalty_core::{DomainError, Program};
use std::collections::{BTreeSet, HashMap};

/// What a batch loaded of referrals, and what it changed.
#[derive(Default)]
pub(crate) struct ReferralState {
    /// Holders of the codes the batch names (`referred_by`, and the candidates of members it
    /// gives codes to).
    codes: HashMap<String, MemberId>,
    /// Codes of the members the batch gives codes to.
    member_codes: HashMap<MemberId, String>,
    /// Every row of every invitee the batch names, refused attempts too.
    by_invitee: HashMap<MemberId, Vec<Referral>>,
    /// Inviter of each member up the chains the batch's invitations walk (live referrals).
    inviters: HashMap<MemberId, MemberId>,
    /// Invitees each referrer the batch pays had rewarded this local month.
    rewarded: HashMap<MemberId, i64>,
    month: i64,
    /// (invitee, referrer) of every row changed.
    dirty: BTreeSet<(MemberId, MemberId)>,
    new_codes: Vec<(MemberId, String)>,
}

impl ReferralState {
    fn live(&self, invitee: &MemberId) -> Option<&Referral> {
        self.by_invitee.get(invitee)?.iter().find(|r| r.state.is_live())
    }

    fn put(&mut self, r: Referral) {
        self.dirty.insert((r.invitee_id.clone(), r.referrer_id.clone()));
        let rows = self.by_invitee.entry(r.invitee_id.clone()).or_default();
        match rows.iter_mut().find(|x| x.referrer_id == r.referrer_id) {
            Some(x) => *x = r,
            None => rows.push(r),
        }
    }
}

/// What a referral command answered.
#[derive(Debug, Clone)]
pub enum ReferralOutcome {
    Code { member: MemberId, code: String, created: bool },
    Settled { referral: Option<Box<Referral>>, paid: bool },
}

fn referred_by(cmd: &Command) -> Option<(&MemberId, &str)> {
    match cmd {
        Command::UpsertMember { id, input } => input.referred_by.as_deref().map(|c| (id, c)),
        _ => None,
    }
}

/// Loads what the batch's referral work needs, before its members: the codes it names, the
/// rows of every invitee it names (registrations, settlements, and — while referral is on —
/// every member ordering or refunding, in one read), and the extra members to load (each
/// referrer named) with the coupons each may be given.
pub(crate) async fn preload_referrals(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    order_members: Vec<MemberId>,
    now: Timestamp,
) -> Result<(ReferralState, Vec<MemberId>, Vec<(MemberId, TemplateId)>), loyalty_store::StoreError> {
    let s = &program.file.referral;
    let mut st = ReferralState { month: referral::local_month(program, now), ..Default::default() };
    let mut codes: Vec<String> = Vec::new();
    let mut givers: Vec<MemberId> = Vec::new();
    let mut invitees: Vec<MemberId> = if s.enabled { order_members } else { Vec::new() };
    for c in cmds {
        match c {
            Command::ReferralCode { member } => {
                givers.push(member.clone());
                codes.extend(referral::candidates(member, &s.code_salt).iter().map(|c| c.to_string()));
            }
            Command::SettleReferral { invitee } => invitees.push(invitee.clone()),
            _ => {}
        }
        if let Some((id, raw)) = referred_by(c) {
            invitees.push(id.clone());
            codes.extend(ReferralCode::parse("referred_by", raw).ok().map(|c| c.to_string()));
        }
    }
    if codes.is_empty() && invitees.is_empty() {
        return Ok((st, Vec::new(), Vec::new()));
    }
    for v in [&mut invitees, &mut givers] {
        v.sort();
        v.dedup();
    }
    codes.sort();
    codes.dedup();
    if !codes.is_empty() {
        st.codes = tx.load_referral_codes(&codes).await?;
    }
    if !givers.is_empty() {
        st.member_codes = tx.load_member_codes(&givers).await?;
    }
    if !invitees.is_empty() {
        for r in tx.load_referrals(&invitees).await? {
            st.by_invitee.entry(r.invitee_id.clone()).or_default().push(r);
        }
    }
    let mut extra: Vec<MemberId> = cmds
        .iter()
        .filter_map(referred_by)
        .filter_map(|(_, raw)| ReferralCode::parse("referred_by", raw).ok())
        .filter_map(|c| st.codes.get(c.as_str()).cloned())
        .collect();
    let mut coupons = Vec::new();
    let mut payers = Vec::new();
    for c in cmds {
        let Command::SettleReferral { invitee } = c else { continue };
        let Some(r) = st.live(invitee) else { continue };
        payers.push(r.referrer_id.clone());
        for (m, side) in [(&r.referrer_id, &s.referrer), (invitee, &s.invitee)] {
            coupons.extend(side.coupon.as_deref().and_then(|t| TemplateId::parse(t).ok()).map(|t| (m.clone(), t)));
        }
    }
    payers.sort();
    payers.dedup();
    if !payers.is_empty() {
        st.rewarded = tx.load_referrer_month(&payers, st.month).await?;
    }
    extra.extend(payers);
    Ok((st, extra, coupons))
}

/// Walks up the inviters of every referrer an existing member is invited by, one read a
/// level for the batch, at most `MAX_CHAIN` levels: what tells a `loop` from a plain
/// `invitee_existed`. New invitees cannot close a loop and walk nothing.
pub(crate) async fn walk_chains(
    tx: &mut dyn loyalty_store::Tx,
    st: &mut ReferralState,
    cmds: &[Command],
    members: &HashMap<MemberId, loyalty_store::MemberRecord>,
) -> Result<(), loyalty_store::StoreError> {
    let mut next: Vec<MemberId> = cmds
        .iter()
        .filter_map(referred_by)
        .filter(|(id, _)| members.contains_key(*id))
        .filter_map(|(_, raw)| ReferralCode::parse("referred_by", raw).ok())
        .filter_map(|c| st.codes.get(c.as_str()).cloned())
        .collect();
    for _ in 0..referral::MAX_CHAIN {
        next.retain(|m| !st.inviters.contains_key(m));
        next.sort();
        next.dedup();
        if next.is_empty() {
            break;
        }
        let rows = tx.load_referrals(&next).await?;
        next = Vec::new();
        for r in rows.into_iter().filter(|r| r.state.is_live()) {
            next.push(r.referrer_id.clone());
            st.inviters.insert(r.invitee_id, r.referrer_id);
        }
    }
    Ok(())
}

/// The referrer a `referred_by` names, checked before the `PUT` changes anything: referral
/// on, a code that parses and that a member holds; else a 422 naming `referred_by`.
pub(crate) fn referrer_of(l: &Loaded, program: &Program, raw: &str) -> Result<(ReferralCode, MemberId), DomainError> {
    if !program.file.referral.enabled {
        return Err(DomainError::unprocessable("referred_by", "referral is not enabled in this programme"));
    }
    let code = ReferralCode::parse("referred_by", raw)?;
    let referrer = l.referrals.codes.get(code.as_str()).cloned();
    let referrer = referrer
        .filter(|m| l.members.contains_key(m))
        .ok_or_else(|| DomainError::unprocessable("referred_by", format!("no member has the referral code {code}")))?;
    Ok((code, referrer))
}

/// Records the invitation of `invitee` (profile as the `PUT` leaves it) by `referrer`: pending,
/// or refused with its reason. Sent again for the same pair, the row as it is.
pub(crate) fn invite(
    l: &mut Loaded,
    invitee: &MemberId,
    (code, referrer): (&ReferralCode, &MemberId),
    existed: bool,
    profile: &loyalty_core::member::Profile,
    now: Timestamp,
) -> Referral {
    let st = &mut l.referrals;
    let same = st.by_invitee.get(invitee).and_then(|v| v.iter().find(|r| &r.referrer_id == referrer));
    if let Some(r) = same {
        return r.clone();
    }
    let mut up = st.inviters.get(referrer);
    let mut up_chain = false;
    for _ in 0..referral::MAX_CHAIN {
        let Some(m) = up else { break };
        if m == invitee {
            up_chain = true;
            break;
        }
        up = st.inviters.get(m);
    }
    let rp = &l.members.get(referrer).expect("the referrer is loaded").profile;
    let contacts = |p: &loyalty_core::member::Profile| {
        (referral::phone_hash(p.phone.as_deref()), referral::email_hash(p.email.as_deref()))
    };
    let inv = Invitation {
        referrer,
        invitee,
        // A live referral of this invitee already (from another referrer, even in this
        // batch) is as good as having existed: one invitee counts once.
        invitee_existed: existed || st.live(invitee).is_some(),
        invitee_up_chain: up_chain,
        referrer_contacts: contacts(rp),
        invitee_contacts: contacts(profile),
    };
    let r = Referral::new(&inv, code, now);
    st.put(r.clone());
    r
}

/// The invitee's first order recorded: its pending referral starts qualifying.
pub(crate) fn on_order(l: &mut Loaded, program: &Program, order: &loyalty_core::order::Order) {
    let s = &program.file.referral;
    if !s.enabled {
        return;
    }
    let st = &mut l.referrals;
    let Some(mut r) = st.live(&order.order.member_id).cloned() else { return };
    if r.first_order(order.order.id.as_str(), order.order.paid_at, s.window_days(program.file.pending_days)) {
        st.put(r);
    }
}

/// A refund of the invitee's first order inside the window cancels its referral.
pub(crate) fn on_refund(l: &mut Loaded, program: &Program, order: &loyalty_core::order::Order, at: Timestamp) {
    if !program.file.referral.enabled {
        return;
    }
    let st = &mut l.referrals;
    let Some(mut r) = st.live(&order.order.member_id).cloned() else { return };
    if r.refunded(order.order.id.as_str(), at) {
        st.put(r);
    }
}

/// Gives the member its code: the one it has, or its first candidate no one holds.
pub(crate) fn give_code(l: &mut Loaded, program: &Program, member: &MemberId) -> Reply {
    existing(l, member)?;
    let st = &mut l.referrals;
    if let Some(code) = st.member_codes.get(member) {
        return Ok(Outcome::Referral(ReferralOutcome::Code {
            member: member.clone(),
            code: code.clone(),
            created: false,
        }));
    }
    let salt = &program.file.referral.code_salt;
    let code = referral::pick_code(member, salt, |c| st.codes.get(c.as_str()).cloned())
        .ok_or_else(|| DomainError::unprocessable("member_id", "every referral code candidate is taken"))?;
    st.codes.insert(code.to_string(), member.clone());
    st.member_codes.insert(member.clone(), code.to_string());
    st.new_codes.push((member.clone(), code.to_string()));
    Ok(Outcome::Referral(ReferralOutcome::Code { member: member.clone(), code: code.to_string(), created: true }))
}

/// Pays a due referral to both sides, or refuses it for the referrer's monthly cap. A
/// referral not due (paid already, cancelled, not yet due) is answered as it is and pays
/// nothing, so a replayed job pays once.
pub(crate) fn settle(l: &mut Loaded, t: &mut Touched, program: &Program, invitee: &MemberId, now: Timestamp) -> Reply {
    let s = &program.file.referral;
    let Some(mut r) = l.referrals.live(invitee).cloned() else {
        return Ok(Outcome::Referral(ReferralOutcome::Settled { referral: None, paid: false }));
    };
    if !s.enabled || !r.is_due(now) {
        return Ok(Outcome::Referral(ReferralOutcome::Settled { referral: Some(Box::new(r)), paid: false }));
    }
    let count = l.referrals.rewarded.get(&r.referrer_id).copied().unwrap_or(0);
    let paid = r.settle(now, l.referrals.month, count, s.monthly_cap);
    if paid {
        *l.referrals.rewarded.entry(r.referrer_id.clone()).or_default() += 1;
        let source = format!("referral/{invitee}");
        let referrer = r.referrer_id.clone();
        r.referrer_given = pay_side(l, t, program, (&referrer, "referrer", &s.referrer), &source, now);
        r.invitee_given = pay_side(l, t, program, (invitee, "invitee", &s.invitee), &source, now);
    }
    l.referrals.put(r.clone());
    Ok(Outcome::Referral(ReferralOutcome::Settled { referral: Some(Box::new(r)), paid }))
}

/// Credits one side: points earned active at once, growth, and the coupon with an id derived
/// from the invitee and the side. A side that cannot be credited (erased, frozen or closed,
/// or at the balance bound) is given nothing, and the row records what it was given.
fn pay_side(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    (member, name, side): (&MemberId, &str, &Side),
    source: &str,
    now: Timestamp,
) -> Given {
    let Some(rec) = l.members.get_mut(member) else { return Given::default() };
    if rec.profile.erased_at.is_some() {
        return Given::default();
    }
    catch_up(rec, program, now);
    let acc = &mut rec.account;
    if acc.can_transact().is_err() || acc.check_credit("points", loyalty_core::Points::new(side.points)).is_err() {
        return Given::default();
    }
    let mut given = Given::default();
    if side.growth > 0 && acc.check_growth("growth", side.growth).is_ok() {
        acc.add_growth(program, GrowthKind::Referral, source, side.growth, now, now);
        given.growth = side.growth;
    }
    if side.points > 0 {
        acc.earn_now(program, (SourceKind::Referral, source), loyalty_core::Points::new(side.points), now);
        given.points = side.points;
    }
    t.members.insert(member.clone());
    let invitee = source.trim_start_matches("referral/");
    let tpl = side.coupon.as_deref().and_then(|t| TemplateId::parse(t).ok());
    if let (Some(tpl), Ok(id)) = (tpl, CouponId::parse(&derived_id(&["referral", invitee, name]))) {
        let paid = l.members.get(member).and_then(|m| m.plan.as_ref()).is_some_and(|c| c.applies_at(now));
        match issue_derived(l, t, program, member, (&tpl, &id, Channel::Engagement), paid, now) {
            Ok(c) => given.coupon = Some(c.coupon_id.to_string()),
            Err(e) => tracing::info!(member = %member, template = %tpl, error = %e, "referral coupon not given"),
        }
    }
    given
}

/// Moves the codes given and the referrals changed into what is written, one row each.
pub(crate) fn take_referral_changes(l: &mut Loaded, t: &mut Touched) {
    let st = &mut l.referrals;
    t.changes.referral_codes.append(&mut st.new_codes);
    for (invitee, referrer) in std::mem::take(&mut st.dirty) {
        let r = st.by_invitee[&invitee].iter().find(|r| r.referrer_id == referrer).expect("a changed row is held");
        debug_assert_eq!(r.check(), None);
        t.changes.referrals.push(r.clone());
    }
    let live = |i: &MemberId| st.by_invitee.get(i).map_or(0, |v| v.iter().filter(|r| r.state.is_live()).count());
    assert!(t.changes.referrals.iter().all(|r| live(&r.invitee_id) <= 1), "one live referral per invitee");
}
