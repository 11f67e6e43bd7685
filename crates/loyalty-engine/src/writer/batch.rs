//! A batch: loaded, run on the rules, written and committed in one transaction; an import's
//! batches overlapped two at a time.

use super::*;
use crate::cache::MemberCache;
use crate::clock::Clock;
use jiff::Timestamp;
use loyalty_core::ids::{AdjustmentId, MemberId, OrderId};
use loyalty_core::order::{Order, Refund};
use loyalty_core::tiers::{Action, ActionKind};
use loyalty_core::Program;
use loyalty_store::{Adjustment, Changes, MemberRecord, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Everything a batch needs, loaded in a handful of queries.
pub(crate) struct Loaded {
    pub(crate) members: HashMap<MemberId, MemberRecord>,
    pub(crate) orders: HashMap<OrderId, Order>,
    pub(crate) refunds: HashMap<OrderId, Vec<Refund>>,
    pub(crate) adjustments: HashMap<(MemberId, AdjustmentId), Adjustment>,
    /// Activities and claims the batch's commands need, by member and kind.
    pub(crate) actions: HashMap<(MemberId, ActionKind), Vec<Action>>,
    /// Coupon templates the batch issues from or its coupons are of, held for update.
    pub(crate) templates: HashMap<loyalty_core::ids::TemplateId, loyalty_core::coupons::Template>,
    /// Each member's coupons the batch's commands need (see `coupon_needs`).
    pub(crate) coupons: HashMap<MemberId, Vec<loyalty_core::coupons::Coupon>>,
    /// One-time codes the batch redeems, held for update.
    pub(crate) codes: HashMap<String, loyalty_core::coupons::code::OneTimeCode>,
    /// Catalogue items and lotteries (held for update), and the members' redemptions and
    /// draws the batch's commands need.
    pub(crate) rewards: HashMap<loyalty_core::ids::RewardId, loyalty_core::rewards::Reward>,
    pub(crate) lotteries: HashMap<loyalty_core::ids::LotteryId, loyalty_core::rewards::Lottery>,
    pub(crate) redemptions: HashMap<MemberId, Vec<loyalty_core::rewards::Redemption>>,
    pub(crate) draws: HashMap<MemberId, Vec<loyalty_core::rewards::Draw>>,
    /// What the latest complete insight run says of the members a segment- or stage-gated
    /// audience may decide for; empty when the batch loaded no gated template or item.
    pub(crate) insight: HashMap<MemberId, loyalty_core::coupons::InsightFacts>,
    pub(crate) memberships: super::memberships::MembershipState,
    /// The recent days of every member the batch checks in.
    pub(crate) checkins: HashMap<MemberId, loyalty_core::engagement::Calendar>,
    /// The active tasks and the progress of the members whose commands can move them.
    pub(crate) tasks: super::tasks::TaskLoad,
    /// The recent gift keys of every member the batch may give a gift to.
    pub(crate) gifts: GiftKeys,
    /// Referral codes and rows the batch names (see `referrals::preload_referrals`).
    pub(crate) referrals: super::referrals::ReferralState,
    /// The last day each member the batch may tell of expiring points was told.
    pub(crate) expiry_notices: HashMap<MemberId, jiff::civil::Date>,
}

/// What a batch changed, besides the accounts themselves.
#[derive(Default)]
pub(crate) struct Touched {
    pub(crate) members: HashSet<MemberId>,
    pub(crate) orders: Vec<OrderId>,
    pub(crate) changes: Changes,
    /// One template id per coupon issued.
    pub(crate) issued: Vec<loyalty_core::ids::TemplateId>,
    /// Units each redemption or cancellation moved of a reward's stock.
    pub(crate) redeemed: Vec<(loyalty_core::ids::RewardId, i64)>,
    /// One (lottery, prize given, its cost) per draw.
    pub(crate) draws: Vec<(loyalty_core::ids::LotteryId, String, i64)>,
    /// Members whose membership changed.
    pub(crate) memberships: HashSet<MemberId>,
    /// Members the batch created (for `member.created`).
    pub(crate) created: Vec<MemberId>,
}

/// Applies `cmds` in one transaction at instant `now`. Each command gets its own result; a
/// refused command changes nothing. A storage error fails the whole batch (nothing written).
pub async fn apply_batch(
    store: &dyn Store,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<Vec<Reply>, StoreError> {
    apply_batch_cached(store, program, cmds, now, None).await
}

/// As [`apply_batch`], putting every committed member into `cache`.
pub async fn apply_batch_cached(
    store: &dyn Store,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
    cache: Option<&MemberCache>,
) -> Result<Vec<Reply>, StoreError> {
    prepare_batch(store, program, cmds, now).await?.commit(cache, Durability::Now).await
}

/// When a batch's commit must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// When the commit returns.
    Now,
    /// Later, at the caller's `Writes::sync_log`, before it answers anyone (the server's writer).
    Deferred,
}

/// A batch loaded, run and written in its transaction, not yet committed: everything up to
/// here rolls back if it fails or panics (see `contain`).
pub(crate) struct Prepared {
    pub(crate) tx: Box<dyn loyalty_store::Tx>,
    pub(crate) replies: Vec<Reply>,
    pub(crate) changes: Changes,
    pub(crate) commands: usize,
    pub(crate) started: std::time::Instant,
    /// When the transaction had begun, the load, the rules and the write ended.
    pub(crate) stages: [std::time::Duration; 4],
}

pub(crate) async fn prepare_batch(
    store: &dyn Store,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> Result<Prepared, StoreError> {
    assert!(cmds.len() <= MAX_COMMANDS, "batches are bounded");
    let started = std::time::Instant::now();
    let mut tx = store.begin().await?;
    let begun_at = started.elapsed();
    let loaded = load(tx.as_mut(), program, cmds, now).await?;
    let loaded_at = started.elapsed();
    let (replies, changes) = run_loaded(loaded, program, cmds, now);
    let applied_at = started.elapsed();
    tx.write(&changes, now).await?;
    let stages = [begun_at, loaded_at, applied_at, started.elapsed()];
    Ok(Prepared { tx, replies, changes, commands: cmds.len(), started, stages })
}

impl Prepared {
    pub(crate) async fn commit(
        self,
        cache: Option<&MemberCache>,
        durability: Durability,
    ) -> Result<Vec<Reply>, StoreError> {
        let Prepared { tx, replies, changes, commands, started, stages: [begun_at, loaded_at, applied_at, written_at] } =
            self;
        match durability {
            Durability::Now => tx.commit().await?,
            Durability::Deferred => tx.commit_deferred().await?,
        }
        // Where a batch's time goes (LOYALTY_LOG=loyalty=debug): the figures BENCHMARKS.md uses.
        tracing::debug!(
            commands,
            members = changes.members.len(),
            begin_ms = begun_at.as_secs_f64() * 1e3,
            load_ms = (loaded_at - begun_at).as_secs_f64() * 1e3,
            apply_ms = (applied_at - loaded_at).as_secs_f64() * 1e3,
            write_ms = (written_at - applied_at).as_secs_f64() * 1e3,
            commit_ms = (started.elapsed() - written_at).as_secs_f64() * 1e3,
            "batch"
        );
        if let Some(c) = cache {
            c.put_committed(&changes.members);
            c.checkout.coupons_changed(changes.coupons.iter().map(|c| &c.member_id));
        }
        Ok(replies)
    }
}

/// Runs `cmds` in order on the accounts `loaded` holds, with no I/O: each command's reply,
/// and everything to write.
pub(crate) fn run_loaded(
    mut loaded: Loaded,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
) -> (Vec<Reply>, Changes) {
    let mut t = Touched::default();
    let mut replies = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        let reply = apply_one(&mut loaded, &mut t, program, cmd, now);
        advance_tasks(&mut loaded, &mut t, program, cmd, &reply, now);
        if let Some(id) = member_of(cmd, &loaded.orders) {
            if let Some(m) = loaded.members.get(&id) {
                m.account.assert_invariants();
            }
        }
        replies.push(reply);
    }
    let mut ids: Vec<_> = t.members.iter().cloned().collect();
    ids.sort();
    for id in ids {
        let m = loaded.members.get_mut(&id).expect("touched members are loaded");
        m.account.refresh_tier_review(program);
        t.changes.take_from(m);
    }
    super::memberships::take_membership_changes(&mut loaded, &mut t, program);
    take_checkin_changes(&mut loaded, &mut t);
    take_task_changes(&mut loaded, &mut t, now);
    take_referral_changes(&mut loaded, &mut t);
    take_coupon_changes(&mut loaded, &mut t);
    take_reward_changes(&mut loaded, &mut t);
    // Each order once, as it ends the batch: moved out of what was loaded, not copied.
    for id in &t.orders {
        if let Some(order) = loaded.orders.remove(id) {
            t.changes.orders.push(order);
        }
    }
    // In key order, so that inserts walk each index from one end to the other instead of
    // jumping between pages (members, lots and entries already are: by member id).
    t.changes.orders.sort_by(|a, b| (&a.order.member_id, &a.order.id).cmp(&(&b.order.member_id, &b.order.id)));
    t.changes.new_order_keys.sort();
    t.changes.events = derive(&t.changes, (cmds, &replies), &t.created, program, now);
    (replies, t.changes)
}

/// Whether `next` can be loaded before `prev`'s changes are written, with the same result:
/// it names none of the members `prev` changed and none of its orders. A refund names its
/// member only through its order, which is not known before the load, so a batch with one is
/// never loaded early.
pub(crate) fn loads_apart(prev: &Changes, next: &[Command]) -> bool {
    // Every member whose rows `prev` changed: not only member rows (a pack's advance may write
    // a membership and coupons and leave the member row as it was).
    let members: HashSet<&MemberId> = prev
        .members
        .iter()
        .map(|m| m.account.member_id())
        .chain(prev.memberships.iter().map(|(m, _)| &m.member_id))
        .chain(prev.coupons.iter().map(|c| &c.member_id))
        .chain(prev.checkins.iter().map(|(m, _)| m))
        .chain(prev.task_states.iter().map(|(m, _)| m))
        .chain(prev.gifts.iter().map(|g| &g.member_id))
        .chain(prev.referrals.iter().flat_map(|r| [&r.invitee_id, &r.referrer_id]))
        .collect();
    let orders: HashSet<&OrderId> =
        prev.orders.iter().map(|o| &o.order.id).chain(prev.new_order_keys.iter().map(|(o, _)| o)).collect();
    next.iter().all(|c| match c {
        Command::Refund { .. } => false,
        Command::PlaceOrder { order, .. } => !members.contains(&order.member_id) && !orders.contains(&order.id),
        Command::Remember(_) | Command::Audit(_) => true,
        // Codes, the referrer's month and the referral rows are read in the load, and a
        // settlement pays a second member: never before the batch before has written.
        Command::ReferralCode { .. } | Command::SettleReferral { .. } => false,
        Command::UpsertMember { input, .. } if input.referred_by.is_some() => false,
        // A template's issued count is read in the load: never before the batch that issued
        // from it has written it.
        Command::IssueCoupon { member, template, code, .. } => {
            !members.contains(member)
                && code.is_none()
                && template.as_ref().is_some_and(|tpl| !prev.coupons_issued.iter().any(|(t, _)| t == tpl))
        }
        // Stock, budgets and templates' counts are read in the load: never before the batch
        // that moved any of them has written it.
        Command::Redeem { member, .. } | Command::Draw { member, .. } | Command::MoveRedemption { member, .. } => {
            !members.contains(member)
                && prev.rewards_redeemed.is_empty()
                && prev.lottery_counts.is_empty()
                && prev.coupons_issued.is_empty()
        }
        // Monthly packs and milestone coupons are issued from templates whose counts are read
        // in the load: an early load adds what `prev` issued to them (`add_issued`).
        Command::AdvanceMembership { member }
        | Command::Checkin { member, .. }
        | Command::Makeup { member, .. }
        | Command::Gift { member, .. } => !members.contains(member),
        other => member_of(other, &HashMap::new()).is_none_or(|m| !members.contains(&m)),
    })
}

/// Applies batches one after another, each in a transaction of its own with the results
/// [`apply_batch`] gives it, and hands each batch's replies with its tag to `done` once it is
/// committed (a storage error stops there: that batch and the ones after are not written).
///
/// Where the store has a commit mark (SQLite) and the next batch touches nothing the current
/// one changed ([`loads_apart`]), the next batch is loaded in the current transaction before
/// the write, and its rules run on another thread while the current batch is written and
/// committed: the two cores work at once. The next transaction then checks that no other
/// connection committed in between (`Tx::commit_mark`); if one did, what was run is thrown
/// away and the batch is loaded and run again. Either way each batch sees exactly the state
/// it would have seen alone.
///
/// PostgreSQL has no commit mark, and each batch is loaded and run in its own transaction: a
/// load on another connection would not see a member another node creates meanwhile, whose
/// insert would then fail the batch (BENCHMARKS.md, *The write path as measured*).
pub async fn apply_batches<T>(
    store: &dyn Store,
    program: &Arc<Program>,
    clock: &dyn Clock,
    batches: impl IntoIterator<Item = (T, Vec<Command>)>,
    mut done: impl FnMut(T, Vec<Reply>),
) -> Result<(), StoreError> {
    let mut batches = batches.into_iter();
    let Some((mut tag, first)) = batches.next() else { return Ok(()) };
    let mut tx = store.begin().await?;
    let mut mark = tx.commit_mark().await?;
    let mut cur = load_and_run(tx.as_mut(), program, first, clock.now()).await?;
    loop {
        let started = std::time::Instant::now();
        let next = batches.next();
        let early = mark.is_some() && matches!(&next, Some((_, cmds)) if loads_apart(&cur.changes, cmds));
        let next = match next {
            Some((next_tag, cmds)) if early => {
                let now = clock.now();
                let mut loaded = load(tx.as_mut(), program, &cmds, now).await?;
                add_issued(&mut loaded, &cur.changes.coupons_issued);
                let (written, ran) =
                    tokio::join!(write_and_commit(tx, &cur), run_elsewhere(program, loaded, cmds, now));
                written?;
                Some((next_tag, ran))
            }
            next => {
                write_and_commit(tx, &cur).await?;
                next.map(|(next_tag, cmds)| (next_tag, Ran::not_yet(cmds)))
            }
        };
        tracing::debug!(
            commands = cur.cmds.len(),
            members = cur.changes.members.len(),
            early,
            write_ms = started.elapsed().as_secs_f64() * 1e3,
            "batch written"
        );
        done(tag, std::mem::take(&mut cur.replies));
        let Some((next_tag, ran)) = next else { return Ok(()) };
        tag = next_tag;
        tx = store.begin().await?;
        let now_mark = tx.commit_mark().await?;
        let still = ran.run && now_mark.is_some() && now_mark == mark;
        mark = now_mark;
        if ran.run && !still {
            tracing::debug!(commands = ran.cmds.len(), "another connection committed meanwhile: the batch runs again");
        }
        cur = if still { ran } else { load_and_run(tx.as_mut(), program, ran.cmds, clock.now()).await? };
    }
}

/// Brings the templates a batch loaded before `issued` was written up to date with it: the
/// counts the write adds (`issued = issued + n`), added here to what the load read.
fn add_issued(loaded: &mut Loaded, issued: &[(loyalty_core::ids::TemplateId, i64)]) {
    for (template, n) in issued {
        if let Some(t) = loaded.templates.get_mut(template) {
            t.issued += n;
        }
    }
}

pub(crate) async fn write_and_commit(mut tx: Box<dyn loyalty_store::Tx>, ran: &Ran) -> Result<(), StoreError> {
    assert!(ran.run, "a batch is run before it is written");
    tx.write(&ran.changes, ran.now).await?;
    tx.commit().await
}

/// A batch's commands and what running them gave.
pub(crate) struct Ran {
    pub(crate) cmds: Vec<Command>,
    pub(crate) now: Timestamp,
    pub(crate) replies: Vec<Reply>,
    pub(crate) changes: Changes,
    /// False: not run yet (`replies` and `changes` empty).
    pub(crate) run: bool,
}

impl Ran {
    fn not_yet(cmds: Vec<Command>) -> Self {
        Self { cmds, now: Timestamp::UNIX_EPOCH, replies: Vec::new(), changes: Changes::default(), run: false }
    }
}

pub(crate) async fn load_and_run(
    tx: &mut dyn loyalty_store::Tx,
    program: &Program,
    cmds: Vec<Command>,
    now: Timestamp,
) -> Result<Ran, StoreError> {
    assert!(cmds.len() <= MAX_COMMANDS, "batches are bounded");
    let loaded = load(tx, program, &cmds, now).await?;
    let (replies, changes) = run_loaded(loaded, program, &cmds, now);
    Ok(Ran { cmds, now, replies, changes, run: true })
}

/// Runs a loaded batch's rules on a blocking thread. A panic (a broken invariant) is carried
/// back to the caller: an import stops there, nothing of that batch written, and the process
/// exits non-zero; only the server's writer contains panics (see `contain`).
pub(crate) async fn run_elsewhere(program: &Arc<Program>, loaded: Loaded, cmds: Vec<Command>, now: Timestamp) -> Ran {
    assert!(cmds.len() <= MAX_COMMANDS, "batches are bounded");
    let program = Arc::clone(program);
    let ran = tokio::task::spawn_blocking(move || {
        let (replies, changes) = run_loaded(loaded, &program, &cmds, now);
        Ran { cmds, now, replies, changes, run: true }
    })
    .await;
    ran.unwrap_or_else(|e| match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(e) => panic!("the rules' thread was cancelled: {e}"),
    })
}

pub(crate) fn member_of(cmd: &Command, orders: &HashMap<OrderId, Order>) -> Option<MemberId> {
    match cmd {
        Command::UpsertMember { id, .. } => Some(id.clone()),
        Command::PlaceOrder { order, .. } => Some(order.member_id.clone()),
        Command::Refund { order_id, .. } => orders.get(order_id).map(|o| o.order.member_id.clone()),
        Command::Hold { member, .. }
        | Command::Capture { member, .. }
        | Command::Release { member, .. }
        | Command::Adjust { member, .. }
        | Command::Activity { member, .. }
        | Command::ClaimSample { member, .. }
        | Command::AssignTier { member, .. }
        | Command::Erase { member, .. }
        | Command::IssueCoupon { member, .. }
        | Command::Redeem { member, .. }
        | Command::MoveRedemption { member, .. }
        | Command::Draw { member, .. }
        | Command::Advance { member } => Some(member.clone()),
        Command::Subscribe { member, .. }
        | Command::Upgrade { member, .. }
        | Command::CancelMembership { member, .. }
        | Command::ResumeMembership { member }
        | Command::RefundMembership { member, .. }
        | Command::InviteToPlan { member, .. }
        | Command::AdvanceMembership { member } => Some(member.clone()),
        Command::Checkin { member, .. } | Command::Makeup { member, .. } => Some(member.clone()),
        Command::Gift { member, .. } => Some(member.clone()),
        Command::ReferralCode { member } | Command::SettleReferral { invitee: member } => Some(member.clone()),
        Command::NoticeExpiring { member } => Some(member.clone()),
        Command::Remember(_) | Command::Audit(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loyalty_core::account::Account;
    use loyalty_core::member::Profile;
    use loyalty_core::order::{LineInput, OrderInput};

    fn order(id: &str, member: &str, now: Timestamp) -> Command {
        let input = OrderInput {
            id: id.into(),
            member_id: member.into(),
            paid_at: now.to_string(),
            currency: None,
            lines: vec![LineInput::one_unit("S".into(), None, None, 10_000)],
            shipping_minor: 0,
            shipping_waived_minor: 0,
            coupons: Vec::new(),
        };
        Command::PlaceOrder { order: input.validate(&Program::default_program(), now).unwrap(), create_member: true }
    }

    /// What a batch that placed order `o1` for member `a` changed.
    fn placed_o1_for_a(now: Timestamp) -> Changes {
        let a = MemberId::parse("a").unwrap();
        let mut changes = Changes::default();
        changes.members.push(MemberRecord {
            profile: Profile::new(now, now),
            account: Account::new(a.clone()),
            plan: None,
        });
        changes.new_order_keys.push((OrderId::parse("o1").unwrap(), a));
        changes
    }

    /// The next batch runs early only when it names none of the members and orders the batch
    /// before changed, and never when it holds a refund (whose member the load finds).
    #[test]
    fn a_batch_loads_apart_only_from_what_the_one_before_changed() {
        let now = Timestamp::now();
        let prev = placed_o1_for_a(now);
        assert!(loads_apart(&prev, &[order("o2", "b", now), order("o3", "c", now)]));
        assert!(!loads_apart(&prev, &[order("o2", "b", now), order("o3", "a", now)]), "member a again");
        assert!(!loads_apart(&prev, &[order("o1", "b", now)]), "order o1 again, for another member");
        let hold = Command::Hold {
            member: MemberId::parse("a").unwrap(),
            order_id: "cart".into(),
            points: loyalty_core::Points::new(100),
            order_amount_minor: loyalty_core::Money::new(100_000),
            ttl_seconds: 60,
            coupons: Vec::new(),
        };
        assert!(!loads_apart(&prev, &[hold]), "a hold on member a");
        let refund = Command::Refund {
            order_id: OrderId::parse("o9").unwrap(),
            input: RefundInput { id: "r".into(), amount_minor: Some(1), lines: None, refunded_at: None },
        };
        assert!(!loads_apart(&prev, &[refund]), "a refund's member is not known before its load");
        assert!(loads_apart(&Changes::default(), &[order("o1", "a", now)]), "nothing changed before");
    }
}
