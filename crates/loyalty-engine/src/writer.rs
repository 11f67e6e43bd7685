//! The write path. Commands from HTTP handlers, the importer and the scheduler are applied in
//! batches: one transaction loads every member a batch touches, runs the domain rules on them
//! in order, and writes everything that changed at once. The [`Writer`] is the single task
//! that does this for a server, so commands on one member are serialised without row locks
//! and many requests share one commit (group commit).

use crate::cache::MemberCache;
use crate::clock::{Clock, SharedClock};
use jiff::Timestamp;
use loyalty_core::account::Account;
use loyalty_core::calendar::plus_secs;
use loyalty_core::ids::{AdjustmentId, HoldId, MemberId, OrderId};
use loyalty_core::ledger::{Buckets, Hold, HoldStatus, MemberStatus};
use loyalty_core::member::{MemberInput, Profile};
use loyalty_core::order::{self, Order, Refund, RefundInput, ValidOrder};
use loyalty_core::tiers::{self, Action, ActionKind};
use loyalty_core::{DomainError, Program};
use loyalty_store::{Adjustment, AuditRecord, Changes, IdemRecord, MemberRecord, Store, StoreError};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most commands the server's writer gathers into one batch (one transaction).
pub const MAX_BATCH: usize = 2_048;
/// Most commands any batch carries: an import's transaction (see `import::DEFAULT_BATCH`),
/// which is also the bound that keeps one batch's memory in check (about 1.3 GB at 1,000,000
/// orders imported 65,536 to a transaction).
pub const MAX_COMMANDS: usize = MAX_BATCH * 32;
/// Longest a hold may last before it is released on its own.
pub const MAX_HOLD_TTL_SECS: i64 = 86_400;

#[derive(Debug, Clone)]
pub enum Command {
    UpsertMember {
        id: MemberId,
        input: MemberInput,
    },
    /// `create_member`: an import creates members it has not seen; HTTP does not.
    PlaceOrder {
        order: ValidOrder,
        create_member: bool,
    },
    Refund {
        order_id: OrderId,
        input: RefundInput,
    },
    Hold {
        member: MemberId,
        order_id: String,
        points: i64,
        order_amount_minor: i64,
        ttl_seconds: i64,
    },
    Capture {
        member: MemberId,
        hold: HoldId,
    },
    Release {
        member: MemberId,
        hold: HoldId,
    },
    Adjust {
        member: MemberId,
        id: AdjustmentId,
        points: i64,
        reason: String,
        actor: String,
    },
    /// Applies what is due (activations, expiries, hold timeouts, tier reviews): the scheduler's job.
    Advance {
        member: MemberId,
    },
    Activity {
        member: MemberId,
        id: String,
        kind: String,
        occurred_at: Timestamp,
        reference: Option<String>,
    },
    ClaimSample {
        member: MemberId,
        id: String,
    },
    AssignTier {
        member: MemberId,
        tier: String,
        reason: String,
        until: Option<Timestamp>,
        actor: String,
    },
    /// Keeps a response for retries with the same Idempotency-Key. It rides in the next batch,
    /// so remembering a response costs no commit of its own (one per request, before).
    Remember(IdemRecord),
    /// Erases the member's personal data (name, phone, email, birthday) and closes it, with an
    /// audit record in the same transaction; the ledger, orders and aggregates stay. Once
    /// erased, the member's other commands are refused (`member_erased`); erasing again
    /// changes nothing (`Outcome::Erased` with `replayed`).
    Erase {
        member: MemberId,
        reason: String,
        actor: String,
    },
    /// Records an audit record (an export of a member's data), in the next batch.
    Audit(AuditRecord),
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Member { record: MemberRecord, created: bool },
    Order { order: Order, replayed: bool },
    Refund { order: Order, replayed: bool },
    Hold { hold: Hold, balances: Buckets, replayed: bool },
    Adjusted { adjustment: Adjustment, balances: Buckets, replayed: bool },
    Advanced { entries: usize },
    Action { action: Action, replayed: bool },
    Tier { record: MemberRecord },
    Remembered,
    Erased { record: MemberRecord, replayed: bool },
    Audited,
}

pub type Reply = Result<Outcome, DomainError>;

/// Everything a batch needs, loaded in a handful of queries.
struct Loaded {
    members: HashMap<MemberId, MemberRecord>,
    orders: HashMap<OrderId, Order>,
    refunds: HashMap<OrderId, Vec<Refund>>,
    adjustments: HashMap<(MemberId, AdjustmentId), Adjustment>,
    /// Activities and claims the batch's commands need, by member and kind.
    actions: HashMap<(MemberId, ActionKind), Vec<Action>>,
}

/// What a batch changed, besides the accounts themselves.
#[derive(Default)]
struct Touched {
    members: HashSet<MemberId>,
    orders: Vec<OrderId>,
    changes: Changes,
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
    assert!(cmds.len() <= MAX_COMMANDS, "batches are bounded");
    let started = std::time::Instant::now();
    let mut tx = store.begin().await?;
    let begun_at = started.elapsed();
    let loaded = load(tx.as_mut(), program, cmds, now).await?;
    let loaded_at = started.elapsed();
    let (replies, changes) = run_loaded(loaded, program, cmds, now);
    let applied_at = started.elapsed();
    tx.write(&changes, now).await?;
    let written_at = started.elapsed();
    tx.commit().await?;
    // Where a batch's time goes (LOYALTY_LOG=loyalty=debug): the figures BENCHMARKS.md uses.
    tracing::debug!(
        commands = cmds.len(),
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
    }
    Ok(replies)
}

/// Runs `cmds` in order on the accounts `loaded` holds, with no I/O: each command's reply,
/// and everything to write.
fn run_loaded(mut loaded: Loaded, program: &Program, cmds: &[Command], now: Timestamp) -> (Vec<Reply>, Changes) {
    let mut t = Touched::default();
    let mut replies = Vec::with_capacity(cmds.len());
    for cmd in cmds {
        let reply = apply_one(&mut loaded, &mut t, program, cmd, now);
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
        m.account.tier_review_at = m.account.next_tier_review(program);
        t.changes.take_from(m);
    }
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
    (replies, t.changes)
}

/// Whether `next` can be loaded before `prev`'s changes are written, with the same result:
/// it names none of the members `prev` changed and none of its orders. A refund names its
/// member only through its order, which is not known before the load, so a batch with one is
/// never loaded early.
fn loads_apart(prev: &Changes, next: &[Command]) -> bool {
    let members: HashSet<&MemberId> = prev.members.iter().map(|m| &m.account.member_id).collect();
    let orders: HashSet<&OrderId> =
        prev.orders.iter().map(|o| &o.order.id).chain(prev.new_order_keys.iter().map(|(o, _)| o)).collect();
    next.iter().all(|c| match c {
        Command::Refund { .. } => false,
        Command::PlaceOrder { order, .. } => !members.contains(&order.member_id) && !orders.contains(&order.id),
        Command::Remember(_) | Command::Audit(_) => true,
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
/// PostgreSQL has no commit mark, and each batch is loaded and run in its own transaction.
/// (Loading the next batch in a transaction of its own, begun on another connection while the
/// current one is written, was tried: row locks keep loaded members as they were, but not a
/// member another node creates meanwhile, whose insert then fails the batch; and the import
/// gained 5%, 22,631 → 23,834 orders/s, as PostgreSQL's own work is most of its time.)
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
                let loaded = load(tx.as_mut(), program, &cmds, now).await?;
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

async fn write_and_commit(mut tx: Box<dyn loyalty_store::Tx>, ran: &Ran) -> Result<(), StoreError> {
    assert!(ran.run, "a batch is run before it is written");
    tx.write(&ran.changes, ran.now).await?;
    tx.commit().await
}

/// A batch's commands and what running them gave.
struct Ran {
    cmds: Vec<Command>,
    now: Timestamp,
    replies: Vec<Reply>,
    changes: Changes,
    /// False: not run yet (`replies` and `changes` empty).
    run: bool,
}

impl Ran {
    fn not_yet(cmds: Vec<Command>) -> Self {
        Self { cmds, now: Timestamp::UNIX_EPOCH, replies: Vec::new(), changes: Changes::default(), run: false }
    }
}

async fn load_and_run(
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

/// Runs a loaded batch's rules on a blocking thread. A broken invariant stops the world here
/// as it does in [`apply_batch`].
async fn run_elsewhere(program: &Arc<Program>, loaded: Loaded, cmds: Vec<Command>, now: Timestamp) -> Ran {
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

fn member_of(cmd: &Command, orders: &HashMap<OrderId, Order>) -> Option<MemberId> {
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
        | Command::Advance { member } => Some(member.clone()),
        Command::Remember(_) | Command::Audit(_) => None,
    }
}

/// Growth entries older than this cannot matter to any qualification window (≤ 1 year, plus
/// a term's grace), so accounts are loaded without them.
pub const GROWTH_LOOKBACK_DAYS: i64 = 800;

/// The earliest growth entry an account loaded at `now` needs.
pub fn growth_since(now: Timestamp) -> Timestamp {
    plus_secs(now, -GROWTH_LOOKBACK_DAYS * 86_400)
}

async fn load_actions(
    tx: &mut dyn loyalty_store::Tx,
    cmds: &[Command],
    now: Timestamp,
) -> Result<HashMap<(MemberId, ActionKind), Vec<Action>>, StoreError> {
    let mut out: HashMap<(MemberId, ActionKind), Vec<Action>> = HashMap::new();
    for c in cmds {
        let (member, kind, id, since) = match c {
            Command::Activity { member, id, occurred_at, .. } => {
                (member, ActionKind::Activity, id, plus_secs(*occurred_at, -32 * 86_400))
            }
            Command::ClaimSample { member, id } => (member, ActionKind::Claim, id, plus_secs(now, -32 * 86_400)),
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

/// Commands that may spend points (so need the spending order of every lot) or whose reply
/// shows the whole account. Orders and advances only add lots and apply what is due.
fn needs_every_lot(cmd: &Command) -> bool {
    !matches!(cmd, Command::PlaceOrder { .. } | Command::Advance { .. })
}

/// Which growth of `m` a write at `now` loads: what its windows can count (see
/// `tiers::growth_need`), never earlier than the lookback. The ranges are rounded to whole
/// weeks so that most members of a batch share their queries: the individual range only
/// grows and the summed one only shrinks, which keeps every window's growth exact. Only
/// members loaded in part take a sum; a reply never shows their account.
fn growth_load(m: &MemberRecord, program: &Program, now: Timestamp, partial: bool) -> loyalty_store::GrowthLoad {
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
    loyalty_store::GrowthLoad { member: m.account.member_id.clone(), after, summed }
}

async fn load(
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
    let mut partial: Vec<MemberId> =
        cmds.iter().filter_map(member_to_load).filter(|id| full.binary_search(id).is_err()).collect();
    partial.sort();
    partial.dedup();
    let mut members = tx.load_members(&full, &partial, now).await?;
    let mut wanted: Vec<loyalty_store::GrowthLoad> = members
        .values()
        .map(|m| {
            let partial = partial.binary_search(&m.account.member_id).is_ok();
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
        members.get_mut(&id).ok_or_else(|| not_loaded(&id))?.account.growth_entries.push(g);
    }
    let mut sums: HashMap<MemberId, i64> = sums.into_iter().collect();
    for w in &wanted {
        let acc = &mut members.get_mut(&w.member).ok_or_else(|| not_loaded(&w.member))?.account;
        acc.growth_entries.sort_by_key(|g| g.seq);
        if let Some((after, upto)) = w.summed {
            let amount = sums.remove(&w.member).unwrap_or(0);
            acc.growth_sum = Some(tiers::GrowthSum { after, upto, amount });
        }
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
            if !m.account.holds.iter().any(|x| x.hold_id == h.hold_id) {
                m.account.holds.push(h);
            }
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
    Ok(Loaded { members, orders, refunds, adjustments, actions })
}

/// Brings a member up to `now`: due activations, expiries, hold time-outs and tier reviews.
fn catch_up(m: &mut MemberRecord, program: &Program, now: Timestamp) {
    m.account.advance(now);
    m.account.review_tier(program, now);
}

fn existing<'a>(l: &'a mut Loaded, id: &MemberId) -> Result<&'a mut MemberRecord, DomainError> {
    l.members.get_mut(id).ok_or_else(|| DomainError::MemberNotFound(id.to_string()))
}

/// Refuses a command that would write to an erased member. The scheduler's `Advance` still
/// runs (expiries and hold time-outs keep the ledger true), and erasing again is a no-op.
fn refuse_erased(l: &Loaded, cmd: &Command) -> Result<(), DomainError> {
    if matches!(cmd, Command::Advance { .. } | Command::Erase { .. }) {
        return Ok(());
    }
    let Some(id) = member_of(cmd, &l.orders) else { return Ok(()) };
    match l.members.get(&id).and_then(|m| m.profile.erased_at) {
        Some(at) => Err(DomainError::MemberErased { member: id.to_string(), erased_at: at.to_string() }),
        None => Ok(()),
    }
}

fn apply_one(l: &mut Loaded, t: &mut Touched, program: &Program, cmd: &Command, now: Timestamp) -> Reply {
    refuse_erased(l, cmd)?;
    match cmd {
        Command::UpsertMember { id, input } => upsert_member(l, t, id, input, now),
        Command::PlaceOrder { order, create_member } => place_order(l, t, program, order, *create_member, now),
        Command::Refund { order_id, input } => refund(l, t, program, order_id, input, now),
        Command::Hold { member, order_id, points, order_amount_minor, ttl_seconds } => {
            if !(1..=MAX_HOLD_TTL_SECS).contains(ttl_seconds) {
                return Err(DomainError::unprocessable(
                    "ttl_seconds",
                    format!("{ttl_seconds} must be between 1 and {MAX_HOLD_TTL_SECS}"),
                ));
            }
            let m = existing(l, member)?;
            catch_up(m, program, now);
            t.members.insert(member.clone());
            let acc = &mut m.account;
            let latest = acc.holds.iter().filter(|h| &h.order_id == order_id).max_by_key(|h| h.created_at);
            if let Some(h) = latest.filter(|h| matches!(h.status, HoldStatus::Open | HoldStatus::Captured)) {
                if h.points == *points && h.order_amount_minor == *order_amount_minor {
                    return Ok(Outcome::Hold { hold: h.clone(), balances: acc.buckets, replayed: true });
                }
                return Err(DomainError::Conflict {
                    what: "hold for order".into(),
                    id: order_id.clone(),
                    differences: vec!["points or order_amount_minor (release the open hold first)".into()],
                });
            }
            let id = acc.hold(program, order_id, *points, *order_amount_minor, *ttl_seconds, now)?;
            let hold = acc.holds.iter().find(|h| h.hold_id == id).expect("just created").clone();
            Ok(Outcome::Hold { hold, balances: acc.buckets, replayed: false })
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
            let h = m.account.holds.iter().find(|h| &h.hold_id == hold).expect("found by the rule").clone();
            Ok(Outcome::Hold { hold: h, balances: m.account.buckets, replayed: false })
        }
        Command::Adjust { member, id, points, reason, actor } => {
            adjust(l, t, program, member, id, *points, reason, actor, now)
        }
        Command::Activity { member, id, kind, occurred_at, reference } => {
            action(l, t, program, member, ActionKind::Activity, id, now, |acc, prior| {
                let input = tiers::ActivityInput {
                    id: id.clone(),
                    kind: kind.clone(),
                    occurred_at: *occurred_at,
                    reference: reference.clone(),
                };
                tiers::record_activity(acc, program, &input, prior, now)
            })
        }
        Command::ClaimSample { member, id } => {
            action(l, t, program, member, ActionKind::Claim, id, now, |acc, prior| {
                tiers::claim_free_sample(acc, program, id, prior, now)
            })
        }
        Command::AssignTier { member, tier, reason, until, actor } => {
            let m = existing(l, member)?;
            catch_up(m, program, now);
            m.account.assign_tier(program, tier, &format!("{reason} (by {actor})"), *until, now)?;
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
        Command::Advance { member } => {
            let Some(m) = l.members.get_mut(member) else { return Ok(Outcome::Advanced { entries: 0 }) };
            let before = m.account.new_entries.len() + m.account.new_tier_events.len();
            catch_up(m, program, now);
            let n = m.account.new_entries.len() + m.account.new_tier_events.len() - before;
            let acc = &m.account;
            let dirty = acc.tier_dirty || acc.lots.iter().any(|x| x.dirty) || acc.holds.iter().any(|x| x.dirty);
            if n > 0 || dirty || acc.tier_review_at != acc.next_tier_review(program) {
                t.members.insert(member.clone());
            }
            Ok(Outcome::Advanced { entries: n })
        }
    }
}

fn upsert_member(l: &mut Loaded, t: &mut Touched, id: &MemberId, input: &MemberInput, now: Timestamp) -> Reply {
    let created = !l.members.contains_key(id);
    let mut record = match l.members.get(id) {
        Some(m) => m.clone(),
        None => MemberRecord { profile: Profile::new(now, now), account: Account::new(id.clone()) },
    };
    record.account.advance(now);
    if let Some(status) = input.apply(&mut record.profile, now)? {
        record.account.status = status;
    }
    l.members.insert(id.clone(), record.clone());
    t.members.insert(id.clone());
    Ok(Outcome::Member { record, created })
}

fn place_order(
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
    if create && !l.members.contains_key(&order.member_id) {
        let record =
            MemberRecord { profile: Profile::new(order.paid_at, now), account: Account::new(order.member_id.clone()) };
        l.members.insert(order.member_id.clone(), record);
    }
    let m = existing(l, &order.member_id)?;
    catch_up(m, program, now);
    let placed = order::place_order(&mut m.account, program, order.clone(), m.profile.birthday, now);
    catch_up(m, program, now);
    t.members.insert(order.member_id.clone());
    t.orders.push(order.id.clone());
    t.changes.new_order_keys.push((order.id.clone(), order.member_id.clone()));
    l.orders.insert(order.id.clone(), placed.clone());
    Ok(Outcome::Order { order: placed, replayed: false })
}

fn refund(
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
    l.orders.insert(order_id.clone(), order.clone());
    Ok(Outcome::Refund { order, replayed: false })
}

#[allow(clippy::too_many_arguments)]
fn adjust(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    id: &AdjustmentId,
    points: i64,
    reason: &str,
    actor: &str,
    now: Timestamp,
) -> Reply {
    let key = (member.clone(), id.clone());
    if let Some(a) = l.adjustments.get(&key).cloned() {
        let balances = existing(l, member)?.account.buckets;
        if a.points == points && a.reason == reason {
            return Ok(Outcome::Adjusted { adjustment: a, balances, replayed: true });
        }
        return Err(DomainError::Conflict {
            what: "adjustment".into(),
            id: id.to_string(),
            differences: vec!["points or reason".into()],
        });
    }
    if reason.trim().is_empty() || reason.chars().count() > 500 {
        return Err(DomainError::unprocessable("reason", "is required: 1 to 500 characters"));
    }
    let m = existing(l, member)?;
    catch_up(m, program, now);
    t.members.insert(member.clone());
    m.account.adjust(program, id.as_str(), points, format!("{reason} (by {actor})"), now)?;
    let adjustment = Adjustment {
        member_id: member.clone(),
        adjustment_id: id.clone(),
        points,
        reason: reason.to_owned(),
        actor: actor.to_owned(),
        created_at: now,
    };
    let balances = m.account.buckets;
    l.adjustments.insert(key, adjustment.clone());
    t.changes.adjustments.push(adjustment.clone());
    Ok(Outcome::Adjusted { adjustment, balances, replayed: false })
}

/// Erases a member's personal data and closes it, with its audit record (see `Command::Erase`).
fn erase(
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
    let before = m.account.status;
    m.profile.erase(now);
    m.account.status = MemberStatus::Closed;
    t.members.insert(member.clone());
    let detail = serde_json::json!({
        "removed": loyalty_core::member::PERSONAL_FIELDS,
        "status_before": before.as_str(),
        "kept": "ledger, lots, holds, orders, refunds, adjustments, growth, tier history, activities",
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

/// Records an activity or a claim once per id: a retry returns the recorded one.
#[allow(clippy::too_many_arguments)]
fn action(
    l: &mut Loaded,
    t: &mut Touched,
    program: &Program,
    member: &MemberId,
    kind: ActionKind,
    id: &str,
    now: Timestamp,
    rule: impl FnOnce(&mut Account, &[Action]) -> Result<Action, DomainError>,
) -> Reply {
    let key = (member.clone(), kind);
    if let Some(a) = l.actions.get(&key).and_then(|v| v.iter().find(|a| a.action_id == id)) {
        return Ok(Outcome::Action { action: a.clone(), replayed: true });
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

/// Why a command sent to the writer got no answer from the rules.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("storage failed, nothing was written: {0}")]
    Store(String),
    #[error("the writer stopped")]
    Stopped,
}

struct Job {
    cmd: Command,
    reply: oneshot::Sender<Result<Outcome, WriteError>>,
}

/// The single writer of a server process: gathers queued commands into batches.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    /// Accounts as this writer last committed them, for hot reads.
    pub cache: Arc<MemberCache>,
}

impl Writer {
    pub fn spawn(store: Arc<dyn Store>, program: Arc<Program>, clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
        let cache = Arc::new(MemberCache::default());
        tokio::spawn(run_writer(store, program, clock, rx, cache.clone()));
        Self { tx, cache }
    }

    pub async fn submit(&self, cmd: Command) -> Result<Outcome, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { cmd, reply }).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }
}

async fn run_writer(
    store: Arc<dyn Store>,
    program: Arc<Program>,
    clock: SharedClock,
    mut rx: mpsc::Receiver<Job>,
    cache: Arc<MemberCache>,
) {
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let cmds: Vec<Command> = jobs.iter().map(|j| j.cmd.clone()).collect();
        let started = std::time::Instant::now();
        // Stored instants keep microseconds; a batch's `now` is what it stores.
        let read = clock.now();
        let now = read.round(jiff::Unit::Microsecond).unwrap_or(read);
        let result = apply_batch_cached(store.as_ref(), &program, &cmds, now, Some(&cache)).await;
        metrics::histogram!("loyalty_batch_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("loyalty_batch_commands").record(cmds.len() as f64);
        match result {
            Ok(replies) => {
                for (job, r) in jobs.drain(..).zip(replies) {
                    let _ = job.reply.send(r.map_err(WriteError::from));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, commands = cmds.len(), "batch failed; nothing written");
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(WriteError::Store(e.to_string())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        };
        Command::PlaceOrder { order: input.validate(&Program::default_program(), now).unwrap(), create_member: true }
    }

    /// What a batch that placed order `o1` for member `a` changed.
    fn placed_o1_for_a(now: Timestamp) -> Changes {
        let a = MemberId::parse("a").unwrap();
        let mut changes = Changes::default();
        changes.members.push(MemberRecord { profile: Profile::new(now, now), account: Account::new(a.clone()) });
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
            points: 100,
            order_amount_minor: 100_000,
            ttl_seconds: 60,
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
