//! The write path. Commands from HTTP handlers, the importer and the scheduler are applied in
//! batches: one transaction loads every member a batch touches, runs the domain rules on them
//! in order, and writes everything that changed at once. The [`Writer`] is the single task
//! that does this for a server, so commands on one member are serialised without row locks
//! and many requests share one commit (group commit).
//!
//! `batch` runs a batch (load, rules, write, commit) and overlaps an import's batches; `load`
//! reads what a batch's commands can touch; `apply` holds each command's arm; this module holds
//! the commands, their answers and the writer task.

mod apply;
mod batch;
mod checkins;
mod coupons;
mod events;
mod gifts;
mod load;
mod memberships;
mod referrals;
mod rewards;
mod tasks;

pub(crate) use apply::*;
pub(crate) use batch::*;
pub use batch::{apply_batch, apply_batch_cached, apply_batches};
pub use checkins::CheckinOutcome;
pub(crate) use checkins::*;
pub(crate) use coupons::*;
pub(crate) use events::*;
pub(crate) use gifts::*;
pub(crate) use load::*;
pub use load::{growth_since, GROWTH_LOOKBACK_DAYS};
pub use referrals::ReferralOutcome;
pub(crate) use referrals::*;
pub(crate) use rewards::*;
pub(crate) use tasks::*;

use crate::cache::MemberCache;
use crate::clock::SharedClock;
use jiff::Timestamp;
use loyalty_core::ids::{AdjustmentId, ClaimId, HoldId, MemberId, OrderId};
use loyalty_core::ledger::{Buckets, Hold};
use loyalty_core::member::MemberInput;
use loyalty_core::order::{Order, RefundInput, ValidOrder};
use loyalty_core::text::Reason;
use loyalty_core::tiers::{self, Action};
use loyalty_core::{DomainError, Program};
use loyalty_store::{Adjustment, IdemRecord, MemberRecord, Store, StoreError};
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
    /// With `coupons`, the member's coupons are reserved with the points for the same order:
    /// the capture keeps them for the order, the release (or the hold's time-out) frees them.
    Hold {
        member: MemberId,
        order_id: String,
        points: loyalty_core::Points,
        order_amount_minor: loyalty_core::Money,
        ttl_seconds: i64,
        coupons: Vec<loyalty_core::ids::CouponId>,
    },
    Capture {
        member: MemberId,
        hold: HoldId,
    },
    Release {
        member: MemberId,
        hold: HoldId,
    },
    /// With `audited`, the adjustment is also a row of the audit log (`adjust:{id}`), written
    /// in its transaction: the console's operators' corrections are (the API's keep their
    /// actor in the adjustment row, as before).
    Adjust {
        member: MemberId,
        id: AdjustmentId,
        points: loyalty_core::Points,
        reason: Reason,
        actor: String,
        audited: bool,
    },
    /// Applies what is due (activations, expiries, hold timeouts, tier reviews): the scheduler's job.
    Advance {
        member: MemberId,
    },
    Activity {
        member: MemberId,
        input: tiers::ActivityInput,
    },
    ClaimSample {
        member: MemberId,
        id: ClaimId,
    },
    AssignTier {
        member: MemberId,
        tier: String,
        reason: Reason,
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
    Audit(loyalty_store::AuditRecord),
    /// Issues coupon `coupon` of `template` to the member (idempotent by the coupon id):
    /// stock and per-member limits are decided on the rows the batch holds.
    /// With `code`, a one-time code is redeemed for it (the template is the code's; `template`
    /// is `None`): one member, once.
    IssueCoupon {
        member: MemberId,
        template: Option<loyalty_core::ids::TemplateId>,
        coupon: loyalty_core::ids::CouponId,
        channel: loyalty_core::coupons::Channel,
        code: Option<String>,
    },
    /// Redeems a reward of the points mall (idempotent by the redemption id): stock, the
    /// member's limits and the points are decided and spent on the rows the batch holds.
    Redeem {
        member: MemberId,
        request: loyalty_core::rewards::RedemptionRequest,
    },
    /// A move the store reports of a shipped redemption (shipped, delivered, cancelled, its
    /// address); a cancellation gives the points back to their lots.
    MoveRedemption {
        member: MemberId,
        redemption: loyalty_core::ids::RedemptionId,
        mv: loyalty_core::rewards::Move,
    },
    /// Draws once in a lottery (idempotent by the draw id).
    Draw {
        member: MemberId,
        lottery: loyalty_core::ids::LotteryId,
        draw: loyalty_core::ids::DrawId,
    },
    /// A payment the store took for a term of a paid plan (idempotent by its id): a new
    /// membership, a trial, a renewal or a trial's conversion.
    Subscribe {
        member: MemberId,
        payment: loyalty_core::membership::Payment,
    },
    /// A move to another plan, the unused part of the running term credited.
    Upgrade {
        member: MemberId,
        payment: loyalty_core::membership::Payment,
    },
    /// Auto-renew off: the benefits run to the term's end.
    CancelMembership {
        member: MemberId,
        reason: String,
    },
    ResumeMembership {
        member: MemberId,
    },
    /// A refund by the plan's policy (or of the amount given), which ends the membership.
    RefundMembership {
        member: MemberId,
        request: loyalty_core::membership::RefundRequest,
    },
    /// An invitation to an invitation-only plan.
    InviteToPlan {
        member: MemberId,
        plan: String,
    },
    /// What time brought to a membership: the renewal notice, grace, lapse, monthly packs.
    AdvanceMembership {
        member: MemberId,
    },
    /// Today's check-in, for the local day of `at` (the handler bounds it to the last minutes).
    Checkin {
        member: MemberId,
        at: Timestamp,
    },
    /// A make-up check-in (补签) of a missed `day`, paid with points or with a make-up card
    /// (a coupon of one of `[checkin.makeup].cards`).
    Makeup {
        member: MemberId,
        day: jiff::civil::Date,
        card: Option<loyalty_core::ids::CouponId>,
    },
    /// The birthday gift or member-day pack due to the member today, if it still is and was
    /// not given for its period (the scheduler's; a repeat gives nothing).
    Gift {
        member: MemberId,
        kind: loyalty_core::engagement::gifts::GiftKind,
    },
    /// Gives the member its referral code (the one it has, or a new one): idempotent.
    ReferralCode {
        member: MemberId,
    },
    /// Pays the invitee's referral if it is due (the scheduler's job): idempotent, a paid,
    /// cancelled or refused referral pays nothing.
    SettleReferral {
        invitee: MemberId,
    },
    /// Tells the member of points about to expire (`points.expiring`), once a local day: the
    /// scheduler's, idempotent for the day.
    NoticeExpiring {
        member: MemberId,
    },
}

#[derive(Debug, Clone)]
pub enum Outcome {
    Member {
        record: MemberRecord,
        created: bool,
        /// The invitation a `referred_by` recorded (pending or refused, with its reason).
        referral: Option<Box<loyalty_core::engagement::referral::Referral>>,
    },
    Order {
        order: Order,
        replayed: bool,
    },
    Refund {
        order: Order,
        replayed: bool,
    },
    Hold {
        hold: Hold,
        balances: Buckets,
        replayed: bool,
    },
    Adjusted {
        adjustment: Adjustment,
        balances: Buckets,
        replayed: bool,
    },
    Advanced {
        entries: usize,
    },
    Action {
        action: Action,
        replayed: bool,
    },
    Tier {
        record: MemberRecord,
    },
    Remembered,
    Erased {
        record: MemberRecord,
        replayed: bool,
    },
    Audited,
    Coupon {
        coupon: loyalty_core::coupons::Coupon,
        replayed: bool,
    },
    Redemption {
        redemption: loyalty_core::rewards::Redemption,
        balances: Buckets,
        replayed: bool,
    },
    Draw {
        draw: loyalty_core::rewards::Draw,
        balances: Buckets,
        replayed: bool,
    },
    Membership {
        membership: Box<loyalty_core::membership::Membership>,
        /// The term a payment recorded.
        term: Option<loyalty_core::membership::Term>,
        refund: Option<loyalty_core::membership::RefundFigures>,
        replayed: bool,
    },
    Checkin(Box<CheckinOutcome>),
    /// The gift recorded, or `None` when none was due.
    Gift(Option<Box<loyalty_core::engagement::gifts::Gift>>),
    Referral(ReferralOutcome),
    /// The `points.expiring` notice given, or `None` (told today already, or nothing expires).
    ExpiryNoticed(Option<Box<loyalty_core::events::PointsExpiring>>),
}

pub type Reply = Result<Outcome, DomainError>;

/// Why a command sent to the writer got no answer from the rules.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A storage failure a retry may get past (a lost connection, a lock held too long).
    #[error("storage failed, nothing was written: {0}")]
    Store(String),
    /// The database refuses writes: no retry succeeds until an operator makes it writable.
    #[error("the database does not accept writes, nothing was written: {0}")]
    ReadOnly(String),
    /// Applying this command panicked, a bug: nothing of it was written, it is logged, and
    /// the writer went on with the other commands (see `contain`).
    #[error("an internal error stopped the {what}; nothing of it was written")]
    Internal { what: String },
    #[error("the writer stopped")]
    Stopped,
}

impl WriteError {
    /// A batch's storage failure, as each of its commands is told.
    pub fn from_store(e: &StoreError) -> Self {
        if e.is_read_only() {
            Self::ReadOnly(e.to_string())
        } else {
            Self::Store(e.to_string())
        }
    }
}

enum Job {
    /// Boxed: a queued command is a pointer, however large the biggest command grows.
    Apply { cmd: Box<Command>, reply: oneshot::Sender<Result<Outcome, WriteError>> },
    /// Answered when the writer reaches it in its queue: it is alive and draining it.
    Ping(oneshot::Sender<()>),
}

/// The single writer of a server process: gathers queued commands into batches.
///
/// A command whose rules panic is refused alone and the writer goes on (`contain`). If the
/// writer's task ends anyway, nothing can be written any more: [`Writer::stopped`] completes,
/// `loyalty serve` exits non-zero on it so that a supervisor starts a new process, and
/// `/healthz` reports it meanwhile.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    /// Accounts as this writer last committed them, for hot reads.
    pub cache: Arc<MemberCache>,
    task: tokio::task::AbortHandle,
}

impl Writer {
    pub fn spawn(store: Arc<dyn Store>, program: Arc<Program>, clock: SharedClock) -> Self {
        let (tx, rx) = mpsc::channel::<Job>(MAX_BATCH * 4);
        let cache = Arc::new(MemberCache::default());
        let task = tokio::spawn(run_writer(store, program, clock, rx, cache.clone())).abort_handle();
        Self { tx, cache, task }
    }

    pub async fn submit(&self, cmd: Command) -> Result<Outcome, WriteError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job::Apply { cmd: Box::new(cmd), reply }).await.map_err(|_| WriteError::Stopped)?;
        rx.await.map_err(|_| WriteError::Stopped)?
    }

    /// Whether the writer reaches a no-op sent now within `within`: `Ok(false)` when it is
    /// alive but has not (a long queue, a batch that does not end), `Err(Stopped)` when it
    /// is gone.
    pub async fn ping(&self, within: std::time::Duration) -> Result<bool, WriteError> {
        let (reply, rx) = oneshot::channel();
        let answered = tokio::time::timeout(within, async {
            self.tx.send(Job::Ping(reply)).await.map_err(|_| WriteError::Stopped)?;
            rx.await.map_err(|_| WriteError::Stopped)
        })
        .await;
        match answered {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(e),
            Err(_) if self.is_alive() => Ok(false),
            Err(_) => Err(WriteError::Stopped),
        }
    }

    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Completes when the writer's task has ended, whatever ended it.
    pub async fn stopped(&self) {
        self.tx.closed().await
    }

    /// Ends the writer's task as a crash would: queued and later commands get
    /// [`WriteError::Stopped`]. For tests of what a server does without its writer.
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// A committed batch's answers, handed to the syncer to send once the log is on disk.
struct Committed {
    replies: Vec<oneshot::Sender<Result<Outcome, WriteError>>>,
    answers: Vec<crate::contain::Answer>,
    pings: Vec<oneshot::Sender<()>>,
}

/// Batches committed but not yet synced that the writer may run ahead of the disk by: enough
/// to cover a sync's time at the batch rate, bounded so that a stalled disk stops the writer
/// instead of piling up answers.
const UNSYNCED_BATCHES: usize = 64;

async fn run_writer(
    store: Arc<dyn Store>,
    program: Arc<Program>,
    clock: SharedClock,
    mut rx: mpsc::Receiver<Job>,
    cache: Arc<MemberCache>,
) {
    // The writer commits each batch without waiting for the disk and goes on with the next;
    // the syncer makes every batch committed so far durable with one sync, then answers them.
    // So a batch's commit and the disk's sync of the ones before overlap, and one sync covers
    // as many batches as committed while the last one ran (group commit across batches).
    // If the syncer stops (a failed sync), the send below fails and the writer ends too.
    let (synced_tx, synced_rx) = mpsc::channel::<Committed>(UNSYNCED_BATCHES);
    let syncer = tokio::spawn(run_syncer(store.clone(), synced_rx));
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (mut cmds, mut replies, mut pings) = (Vec::with_capacity(jobs.len()), Vec::new(), Vec::new());
        for job in jobs.drain(..) {
            match job {
                Job::Apply { cmd, reply } => {
                    cmds.push(*cmd);
                    replies.push(reply);
                }
                Job::Ping(p) => pings.push(p),
            }
        }
        let mut answers = Vec::new();
        if !cmds.is_empty() {
            let started = std::time::Instant::now();
            // Stored instants keep microseconds; a batch's `now` is what it stores.
            let read = clock.now();
            let now = read.round(jiff::Unit::Microsecond).unwrap_or(read);
            answers = crate::contain::apply_contained(store.as_ref(), &program, &cmds, now, Some(&cache)).await;
            metrics::histogram!("loyalty_batch_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("loyalty_batch_commands").record(cmds.len() as f64);
        }
        if synced_tx.send(Committed { replies, answers, pings }).await.is_err() {
            break;
        }
    }
    drop(synced_tx);
    // What was committed is answered before the writer's task ends.
    let _ = syncer.await;
}

/// Syncs the log for every batch committed so far, then sends their answers, in order. A sync
/// that fails leaves the outcome of those batches unknown (committed, maybe not on disk): they
/// are answered with a storage error naming that, and the syncer ends, which ends the writer,
/// as PostgreSQL stops on a failed fsync rather than write on over it.
async fn run_syncer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Committed>) {
    let mut done: Vec<Committed> = Vec::with_capacity(UNSYNCED_BATCHES);
    while rx.recv_many(&mut done, UNSYNCED_BATCHES).await > 0 {
        let wrote = done.iter().any(|c| c.answers.iter().any(|a| a.is_ok()));
        let synced = if wrote { store.sync_log().await } else { Ok(()) };
        let failed = synced.as_ref().err().map(|e| {
            tracing::error!(error = %e, "syncing the log failed; the writer stops");
            WriteError::Store(format!("{e}; what this request wrote may or may not be on disk"))
        });
        for c in done.drain(..) {
            for (reply, answer) in c.replies.into_iter().zip(c.answers) {
                let answer = match (&failed, answer) {
                    (Some(e), Ok(_)) => Err(e.clone()),
                    (_, answer) => answer,
                };
                let _ = reply.send(answer);
            }
            for p in c.pings {
                let _ = p.send(());
            }
        }
        if failed.is_some() {
            return;
        }
    }
}
