//! Scheduled work: activating pending points, expiring lots, timing out holds, reviewing
//! tiers and paid memberships, gifts (`gifts`), referral settlement (`referrals`), purging old
//! idempotency records, and `loyalty verify` over the whole store.

use crate::clock::SharedClock;
use crate::writer::{apply_batch, apply_batches, Command, Outcome, Writer};
use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_core::verify::{verify_member, Violation};
use loyalty_core::Program;
use loyalty_store::{Store, StoreError};
use std::sync::Arc;

mod events;
mod gifts;
mod referrals;
pub use events::{notice_expiring, send_expiry_notices};
use gifts::gifts_due;
pub use gifts::{give_gifts, send_gifts, GiftReport};
pub use referrals::{send_referral_settlements, settle_referrals};

/// Members each due source yields per batch. A member can be due from all four sources, so
/// one batch holds at most four times this: the engine's bound.
pub(crate) const JOB_BATCH: i64 = (crate::writer::MAX_BATCH * 2) as i64;
/// Bound on rounds of one run, so a bug can never spin forever.
pub(crate) const MAX_ROUNDS: usize = 100_000;

#[derive(Debug, Default, Clone, Copy)]
pub struct JobReport {
    pub members: usize,
    pub entries: usize,
    pub memberships: usize,
    pub gifts: GiftReport,
    /// Due referrals settled (paid, or refused for the monthly cap).
    pub referrals: usize,
    /// Members told of points about to expire (`points.expiring`).
    pub expiring: usize,
    pub idempotency_purged: u64,
}

/// Runs everything due at `now` directly against the store (the CLI's `jobs run`). Kept
/// Idempotency-Key responses are purged by the system clock, not by `now`: their age is real
/// time (they are stamped by the serving process's clock), and `jobs run --now <a later
/// instant>` advances the ledger to that instant without making the keys sent minutes ago old.
pub async fn run_due(store: &dyn Store, program: &Program, now: Timestamp) -> Result<JobReport, StoreError> {
    let mut report = advance_members(store, program, now).await?;
    report.memberships = advance_memberships(store, program, now).await?;
    report.gifts = give_gifts(store, program, now).await?;
    report.referrals = settle_referrals(store, program, now).await?;
    report.expiring = notice_expiring(store, program, now).await?;
    report.idempotency_purged = purge(store, Timestamp::now()).await?;
    Ok(report)
}

/// What time brought to the ledger: pending points activated, lots expired, holds timed out,
/// tiers reviewed. The members advanced and the entries written.
pub async fn advance_members(store: &dyn Store, program: &Program, now: Timestamp) -> Result<JobReport, StoreError> {
    let mut report = JobReport::default();
    let mut previous: Vec<MemberId> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let ids = store.due_members(now, JOB_BATCH).await?;
        if ids.is_empty() {
            break;
        }
        // Advancing a member takes it out of the due sets; the same set twice is a bug.
        assert!(ids != previous, "members stay due after advancing: {:?}", &ids[..ids.len().min(5)]);
        let cmds: Vec<Command> = ids.iter().map(|m| Command::Advance { member: m.clone() }).collect();
        for r in apply_batch(store, program, &cmds, now).await? {
            if let Ok(Outcome::Advanced { entries }) = r {
                report.entries += entries;
            }
        }
        report.members += ids.len();
        previous = ids;
    }
    Ok(report)
}

/// What time brought to memberships: renewal notices, grace, lapses and the monthly coupon
/// packs. The memberships advanced. Due memberships are read `PIPELINE` batches at a time and
/// applied with [`apply_batches`], so that one batch is loaded while the one before is written.
pub async fn advance_memberships(store: &dyn Store, program: &Program, now: Timestamp) -> Result<usize, StoreError> {
    const PIPELINE: i64 = 16;
    let program = Arc::new(program.clone());
    let clock = crate::clock::ManualClock::at(now);
    let mut advanced = 0;
    let mut previous: Vec<MemberId> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let ids = store.due_memberships(now, JOB_BATCH * PIPELINE).await?;
        if ids.is_empty() {
            break;
        }
        assert!(ids != previous, "memberships stay due after advancing: {:?}", &ids[..ids.len().min(5)]);
        let batches = ids.chunks(JOB_BATCH as usize).map(|chunk| {
            ((), chunk.iter().map(|m| Command::AdvanceMembership { member: m.clone() }).collect::<Vec<_>>())
        });
        apply_batches(store, &program, clock.as_ref(), batches, |(), replies| {
            for r in replies {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "a membership could not be advanced");
                }
            }
        })
        .await?;
        advanced += ids.len();
        previous = ids;
    }
    Ok(advanced)
}

/// Deletes the Idempotency-Key responses kept longer than `KEEP_HOURS` before `real_now`, an
/// instant of the clock that stamped them (never a simulated one).
async fn purge(store: &dyn Store, real_now: Timestamp) -> Result<u64, StoreError> {
    let cutoff = loyalty_core::calendar::plus_secs(real_now, -loyalty_core::idempotency::KEEP_HOURS * 3600);
    store.idem_purge(cutoff).await
}

/// The scheduler inside `loyalty serve`: every `period`, sends what is due through the
/// server's writer, so it is serialised with requests. `program` says which gifts are due.
pub async fn scheduler(
    store: Arc<dyn Store>,
    (writer, program): (Writer, Arc<Program>),
    clock: SharedClock,
    period: std::time::Duration,
) {
    let mut tick = tokio::time::interval(period);
    let mut gifts_at: Option<Timestamp> = None;
    loop {
        tick.tick().await;
        let now = clock.now();
        let mut done = 0usize;
        let mut previous: Vec<MemberId> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let ids = match store.due_members(now, JOB_BATCH).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not list due members");
                    break;
                }
            };
            let n = ids.len();
            if n == 0 {
                break;
            }
            if ids == previous {
                tracing::error!(members = ?&ids[..n.min(5)], "members stay due after advancing; stopping this tick");
                break;
            }
            previous = ids.clone();
            let futs = ids.into_iter().map(|member| writer.submit(Command::Advance { member }));
            let results = futures_util::future::join_all(futs).await;
            if results.iter().any(|r| r.is_err()) {
                tracing::warn!("scheduler batch failed; retrying next tick");
                break;
            }
            done += n;
        }
        done += send_membership_advances(store.as_ref(), &writer, now).await;
        if gifts_due(&program, gifts_at, now) {
            gifts_at = Some(now);
            let gifts = send_gifts(store.as_ref(), &writer, &program, now).await;
            if gifts != GiftReport::default() {
                tracing::info!(given = gifts.given, not_given = gifts.not_given, "scheduler recorded gifts");
            }
            // The same cadence: the first tick of each local day, then every ten minutes, so
            // a notice a failed round missed, or a lot entering the window, is told today.
            done += send_expiry_notices(store.as_ref(), &writer, &program, now).await;
        }
        if program.file.referral.enabled {
            done += send_referral_settlements(store.as_ref(), &writer, now).await;
        }
        // `now` is the clock that stamps kept responses (`AppState::clock`), so ages agree.
        if let Err(e) = purge(store.as_ref(), now).await {
            tracing::warn!(error = %e, "idempotency purge failed");
        }
        if done > 0 {
            tracing::info!(members = done, "scheduler applied due activations, expiries and hold timeouts");
        }
    }
}

/// Sends every membership due by `now` through the writer; how many it advanced.
async fn send_membership_advances(store: &dyn Store, writer: &Writer, now: Timestamp) -> usize {
    send_due(
        writer,
        "memberships",
        || store.due_memberships(now, JOB_BATCH),
        |member| Command::AdvanceMembership { member },
    )
    .await
}

/// The scheduler's round for one kind of due work: lists what is due (`list`, a page of at
/// most `JOB_BATCH`), sends each through the writer as `command`, and lists again until nothing
/// is due; how many were sent. A failed list or send ends the round (the next tick retries),
/// and a page that is still due after it was sent stops it too: the command would never make
/// them leave, and the round would spin.
pub(crate) async fn send_due<Fut>(
    writer: &Writer,
    what: &str,
    list: impl Fn() -> Fut,
    command: impl Fn(MemberId) -> Command,
) -> usize
where
    Fut: std::future::Future<Output = Result<Vec<MemberId>, StoreError>>,
{
    let (mut done, mut previous) = (0, Vec::new());
    for _ in 0..MAX_ROUNDS {
        let ids = match list().await {
            Ok(ids) if !ids.is_empty() => ids,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, what, "scheduler could not list what is due");
                break;
            }
        };
        if ids == previous {
            tracing::error!(what, members = ?&ids[..ids.len().min(5)], "still due after being sent; stopping this tick");
            break;
        }
        previous = ids.clone();
        done += ids.len();
        let futs = ids.into_iter().map(|member| writer.submit(command(member)));
        if futures_util::future::join_all(futs).await.iter().any(|r| r.is_err()) {
            tracing::warn!(what, "a command could not be applied; retrying next tick");
            break;
        }
    }
    done
}

/// Every membership's terms, history and the member record's benefits window
/// (`membership::checks`), in pages of 1,000.
async fn check_memberships(store: &dyn Store, program: &Program) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.membership_page(after.as_deref(), 1_000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.membership.member_id.to_string());
        for a in &page {
            let stored = loyalty_core::membership::checks::Stored {
                cover: a.stored_cover.as_ref(),
                events: a.events,
                max_seq: a.max_seq,
                next_due_at: a.next_due_at,
            };
            out.extend(loyalty_core::membership::checks::problems(&a.membership, &stored, program));
        }
    }
    Ok(out)
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub members: usize,
    pub entries: usize,
    pub violations: Vec<Violation>,
}

/// Checks every member's ledger, lots and holds, their activity log against their orders, and
/// the coupon, mall and lottery tables; per-member limits by day, week and month are counted in
/// `program`'s time zone.
/// Streams members in pages.
pub async fn verify_all(
    store: &dyn Store,
    program: &Program,
    max_violations: usize,
) -> Result<VerifyReport, StoreError> {
    let mut report = VerifyReport::default();
    let mut after: Option<String> = None;
    loop {
        let ids = store.member_ids(after.as_deref(), 1_000).await?;
        if ids.is_empty() {
            break;
        }
        for h in store.histories(&ids).await? {
            report.members += 1;
            report.entries += h.entries.len();
            for v in verify_member(&h) {
                if report.violations.len() < max_violations {
                    report.violations.push(v);
                }
            }
        }
        // The activity log member insight reads must hold exactly the recorded orders and
        // refunds.
        for (recorded, log) in store.activity_audit(&ids).await? {
            if let Some(problem) = loyalty_store::analytics::audit_log(&recorded, &log) {
                if report.violations.len() < max_violations {
                    report.violations.push(Violation { member_id: recorded.member_id, entry_seq: None, problem });
                }
            }
        }
        after = ids.last().cloned();
    }
    // Coupons: stock, one use per coupon, entries for every change, per-member limits (see
    // `Coupons::check_coupons`); the mall and the lottery: stock, budgets, every spend in the
    // ledger, every draw re-derived, per-member limits (see `Rewards::check_rewards`).
    let mut problems = store.check_coupons(program).await?;
    problems.extend(store.check_rewards(program).await?);
    problems.extend(check_memberships(store, program).await?);
    // Check-ins: every streak one more than the day before's, and the points the days say
    // they earned what the ledger credited for check-ins.
    problems.extend(store.checkin_problems(max_violations as i64).await?);
    // Tasks: every completion's points in the ledger, every progress row by its own rules.
    problems.extend(store.task_problems(max_violations as i64).await?);
    // Gifts: every row's coupons are coupons of its member; one row per period is the key.
    problems.extend(store.gift_problems(max_violations as i64).await?);
    // Referrals: every reward in the ledger, no referrer over the monthly cap, one live
    // referral per invitee.
    problems.extend(store.referral_problems(program.file.referral.monthly_cap, max_violations as i64).await?);
    // The event log: positions without gaps and its counter, every row readable as its
    // type, one order.placed per order and one order.refunded per refund since it began.
    problems.extend(store.event_problems(max_violations as i64).await?);
    for problem in problems {
        if report.violations.len() < max_violations {
            let member_id = problem.split_once(' ').and_then(|(_, r)| r.split_once('/')).map(|(m, _)| m.to_owned());
            report.violations.push(Violation { member_id: member_id.unwrap_or_default(), entry_seq: None, problem });
        }
    }
    Ok(report)
}
