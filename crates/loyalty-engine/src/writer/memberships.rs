//! The paid-membership arms of a batch: a payment for a term (new, renewal, trial,
//! conversion), an upgrade, cancel and resume, a refund by the plan's policy, an invitation,
//! and what the scheduler brings (notices, grace, lapse, monthly coupon packs). Decided on the
//! membership rows the batch's transaction holds, so one trial per member and one payment per
//! period hold under any concurrency; the member record's benefits window moves with them.

use super::*;
use jiff::Timestamp;
use loyalty_core::coupons::Channel;
use loyalty_core::ids::{derived_id, CouponId, MemberId, TemplateId};
use loyalty_core::membership::{rules, Membership};
use loyalty_core::{DomainError, Program};
use std::collections::HashMap;

/// What a membership command needs besides the member: its membership (held), what the
/// member saved this term (refunds), and the templates of packs due (advances).
pub(crate) struct MembershipState {
    pub(crate) memberships: HashMap<MemberId, (Membership, Option<Timestamp>)>,
    pub(crate) savings: HashMap<MemberId, i64>,
}

pub(crate) fn member_of_membership(cmd: &Command) -> Option<&MemberId> {
    match cmd {
        Command::Subscribe { member, .. }
        | Command::Upgrade { member, .. }
        | Command::CancelMembership { member, .. }
        | Command::ResumeMembership { member }
        | Command::RefundMembership { member, .. }
        | Command::InviteToPlan { member, .. }
        | Command::AdvanceMembership { member } => Some(member),
        _ => None,
    }
}

/// Loads the memberships the batch's membership commands name, what refunding members saved
/// in their running term, and (member, template) for every pack due by `now`.
pub(crate) async fn load_membership_state(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<(MembershipState, Vec<(MemberId, TemplateId)>), loyalty_store::StoreError> {
    let mut ids: Vec<MemberId> = cmds.iter().filter_map(member_of_membership).cloned().collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        let empty = MembershipState { memberships: HashMap::new(), savings: HashMap::new() };
        return Ok((empty, Vec::new()));
    }
    let memberships = tx.load_memberships(&ids).await?;
    let mut refunding: Vec<(MemberId, Timestamp)> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::RefundMembership { member, .. } => {
                memberships.get(member).and_then(|(m, _)| m.term_at(now)).map(|t| (member.clone(), t.starts_at))
            }
            _ => None,
        })
        .collect();
    refunding.sort();
    refunding.dedup();
    let savings = if refunding.is_empty() { HashMap::new() } else { tx.load_plan_savings(&refunding).await? };
    let mut extra = Vec::new();
    for c in cmds {
        let Command::AdvanceMembership { member } = c else { continue };
        let Some((m, _)) = memberships.get(member) else { continue };
        for pack in rules::due_packs(m, program, now) {
            let Some(term) = m.terms.iter().find(|t| t.term_id == pack.term_id) else { continue };
            let Some(plan) = program.file.plans.iter().find(|p| p.code == term.plan) else { continue };
            for item in &plan.benefits.coupon_pack {
                if let Ok(t) = TemplateId::parse(&item.template) {
                    extra.push((member.clone(), t));
                }
            }
        }
    }
    Ok((MembershipState { memberships, savings }, extra))
}

/// The member's membership to change: the loaded one, or a new one for a first payment.
fn membership_of<'a>(l: &'a mut Loaded, member: &MemberId, now: Timestamp) -> &'a mut Membership {
    &mut l
        .memberships
        .memberships
        .entry(member.clone())
        .or_insert_with(|| (Membership::new(member.clone(), "", now), None))
        .0
}

fn existing_membership<'a>(l: &'a mut Loaded, member: &MemberId) -> Result<&'a mut Membership, DomainError> {
    match l.memberships.memberships.get_mut(member) {
        Some((m, _)) => Ok(m),
        None => Err(DomainError::Membership {
            code: "membership_not_found",
            reason: format!("member {member} has no membership"),
        }),
    }
}

/// Sets the member record's benefits window from the membership, and marks both to write.
fn settle(l: &mut Loaded, t: &mut Touched, program: &Program, member: &MemberId, now: Timestamp) {
    let grace = program.file.memberships.grace_days;
    let (m, _) = l.memberships.memberships.get(member).expect("settled memberships are loaded");
    let cover = m.cover(grace);
    let rec = l.members.get_mut(member).expect("a membership's member is loaded");
    if rec.plan != cover {
        rec.plan = cover;
        // The member's version moves, so other nodes' caches reload it within their TTL.
        rec.profile.updated_at = now;
        t.members.insert(member.clone());
    }
    t.memberships.insert(member.clone());
}

fn outcome(l: &Loaded, member: &MemberId, term: Option<loyalty_core::membership::Term>, replayed: bool) -> Reply {
    let (m, _) = l.memberships.memberships.get(member).expect("loaded");
    Ok(Outcome::Membership { membership: Box::new(m.clone()), term, refund: None, replayed })
}

/// Runs one membership command on the loaded state. Every rule works on a copy first, so a
/// refusal leaves the membership as it was.
pub(crate) fn apply_membership(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    cmd: &Command,
    now: Timestamp,
) -> Reply {
    let member = member_of_membership(cmd).expect("a membership command");
    let rec = existing(l, member)?;
    catch_up(rec, program, now);
    // Brought up to date, the member is written with the batch, as every command's is; but an
    // advance that only issues a pack or records a notice leaves the member row as it was, and
    // writing a million unchanged rows is most of what a monthly pack job would write.
    if !matches!(cmd, Command::AdvanceMembership { .. }) || rec.account.has_unsaved_changes() {
        t.members.insert(member.clone());
    }
    let tier = rec.account.tier().code.clone();
    let segment = match l.insight.get(member) {
        Some(loyalty_core::coupons::InsightFacts::Member { value_segment, .. }) => Some(value_segment.clone()),
        _ => None,
    };
    let who = (tier.as_str(), segment.as_deref());
    match cmd {
        Command::Subscribe { payment, .. } | Command::Upgrade { payment, .. } => {
            let mut m = membership_of(l, member, now).clone();
            let (term, replayed) = if matches!(cmd, Command::Upgrade { .. }) {
                rules::upgrade(&mut m, program, payment, who, now)?
            } else {
                rules::subscribe(&mut m, program, payment, who, now)?
            };
            *membership_of(l, member, now) = m;
            if !replayed {
                settle(l, t, program, member, now);
            }
            outcome(l, member, Some(term), replayed)
        }
        Command::CancelMembership { reason, .. } => {
            let mut m = existing_membership(l, member)?.clone();
            let changed = rules::cancel(&mut m, program, reason, now)?;
            *existing_membership(l, member)? = m;
            if changed {
                settle(l, t, program, member, now);
            }
            outcome(l, member, None, !changed)
        }
        Command::ResumeMembership { .. } => {
            let mut m = existing_membership(l, member)?.clone();
            let changed = rules::resume(&mut m, program, now)?;
            *existing_membership(l, member)? = m;
            if changed {
                settle(l, t, program, member, now);
            }
            outcome(l, member, None, !changed)
        }
        Command::RefundMembership { request, .. } => {
            let saved = l.memberships.savings.get(member).copied().unwrap_or(0);
            let mut m = existing_membership(l, member)?.clone();
            let (figures, replayed) = rules::refund(&mut m, program, request, saved, now)?;
            *existing_membership(l, member)? = m;
            if !replayed {
                settle(l, t, program, member, now);
            }
            let (m, _) = l.memberships.memberships.get(member).expect("loaded");
            Ok(Outcome::Membership { membership: Box::new(m.clone()), term: None, refund: Some(figures), replayed })
        }
        Command::InviteToPlan { plan, .. } => {
            let changed = rules::invite(membership_of(l, member, now), program, plan, now)?;
            if changed {
                settle(l, t, program, member, now);
            }
            outcome(l, member, None, !changed)
        }
        Command::AdvanceMembership { .. } => {
            if !l.memberships.memberships.contains_key(member) {
                return outcome_none();
            }
            issue_packs(l, t, program, member, now);
            let (m, _) = l.memberships.memberships.get_mut(member).expect("checked");
            let before = m.new_events.len();
            rules::advance(m, program, now);
            let changed = m.new_events.len() > before || m.dirty;
            if changed {
                settle(l, t, program, member, now);
            } else {
                // Nothing happened, but its next due instant may have moved (a plan's terms
                // changed in the programme file): written so the scheduler does not come back.
                t.memberships.insert(member.clone());
            }
            outcome(l, member, None, false)
        }
        _ => unreachable!("only membership commands come here"),
    }
}

fn outcome_none() -> Reply {
    Err(DomainError::Membership { code: "membership_not_found", reason: "the member has no membership".into() })
}

/// The coupon id of copy `copy` of pack item `item` of month `month` of a term.
fn pack_coupon_id(term: &str, month: i64, item: usize, copy: i64) -> Option<CouponId> {
    let id = derived_id(&["plan", term, &month.to_string(), &item.to_string(), &copy.to_string()]);
    CouponId::parse(&id).ok()
}

/// Issues every pack due by `now`, through the coupon rules (stock, audience and limits of
/// each template bind), and records each pack with what it gave and what it could not.
fn issue_packs(l: &mut Loaded, t: &mut Touched, program: &Program, member: &MemberId, now: Timestamp) {
    let (m, _) = l.memberships.memberships.get(member).expect("checked");
    let due = rules::due_packs(m, program, now);
    for pack in due {
        let (m, _) = l.memberships.memberships.get(member).expect("checked");
        let plan_code = m.terms.iter().find(|x| x.term_id == pack.term_id).map(|x| x.plan.clone()).unwrap_or_default();
        let Some(plan) = program.file.plans.iter().find(|p| p.code == plan_code) else { continue };
        let mut given = 0;
        let mut notes: Vec<String> = Vec::new();
        for (i, item) in plan.benefits.coupon_pack.iter().enumerate() {
            let Ok(template) = TemplateId::parse(&item.template) else { continue };
            for copy in 0..item.count {
                let Some(id) = pack_coupon_id(&pack.term_id, pack.month, i, copy) else { continue };
                // A pack is a paid term's: the member counts as paid whenever the job gets to it.
                match issue_derived(l, t, program, member, (&template, &id, Channel::Membership), true, now) {
                    Ok(_) => given += 1,
                    Err(e) => {
                        notes.push(format!("{template}: {e}"));
                        break;
                    }
                }
            }
        }
        let detail = if notes.is_empty() {
            format!("{given} coupons")
        } else {
            format!("{given} coupons; not given: {}", notes.join("; "))
        };
        let (m, _) = l.memberships.memberships.get_mut(member).expect("checked");
        rules::pack_issued(m, &pack, given, detail);
    }
}

/// Moves the batch's changed memberships into what is written, with their next due instant.
pub(crate) fn take_membership_changes(l: &mut Loaded, t: &mut Touched, program: &Program) {
    let mut ids: Vec<MemberId> = t.memberships.drain().collect();
    ids.sort();
    for id in ids {
        let Some((m, _)) = l.memberships.memberships.get_mut(&id) else { continue };
        m.assert_invariants();
        let due = rules::next_due(m, program);
        let mut out = m.clone();
        for term in &mut m.terms {
            term.dirty = false;
        }
        m.new_events.clear();
        m.dirty = false;
        out.dirty = false;
        t.changes.memberships.push((out, due));
    }
}
