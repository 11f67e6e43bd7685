//! What the server's writer does when applying a batch panics: a broken invariant, or a rule
//! that let through what it should have refused. A panic must cost the command that caused
//! it, not every write the process makes from then on.
//!
//! Nothing of a panicking batch is written: the panic unwinds before the commit, and the
//! transaction rolls back as it is dropped. The batch is then split in halves and each half
//! applied again in a transaction of its own, in order, down to the one command that panics
//! alone. That command is refused with [`WriteError::Internal`] (a 500 `internal`) and logged
//! with its member; every other command gets the answer it would have had, as the halves run
//! one after another on what the ones before wrote. Halving rather than one command at a
//! time: a batch of 2,048 commands with one bad command takes about 2 × 11 transactions
//! instead of 2,048 commits. The rules are deterministic, so the command that panicked in the
//! batch panics alone.
//!
//! Only the part before the commit is guarded. A panic after it, or anywhere else in the
//! writer's task, ends the task: `loyalty serve` then exits non-zero for a supervisor to
//! restart it, rather than serve on with writes that can only fail.

use crate::cache::MemberCache;
use crate::writer::{member_of, prepare_batch, Command, Durability, Outcome, WriteError};
use futures_util::FutureExt;
use jiff::Timestamp;
use loyalty_core::Program;
use loyalty_store::Store;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;

pub(crate) type Answer = Result<Outcome, WriteError>;

/// Applies `cmds` at `now` as `apply_batch_cached` does, one answer per command, containing
/// panics as the module says. The commits are deferred (`Durability::Deferred`): the caller
/// syncs the log before it hands out an answer. A storage failure fails every command of the batch (or of the
/// half that met it), with nothing of it written.
pub(crate) async fn apply_contained(
    store: &dyn Store,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
    cache: Option<&MemberCache>,
) -> Vec<Answer> {
    let failed = match AssertUnwindSafe(prepare_batch(store, program, cmds, now)).catch_unwind().await {
        Ok(Ok(prepared)) => match prepared.commit(cache, Durability::Deferred).await {
            Ok(replies) => return replies.into_iter().map(|r| r.map_err(WriteError::from)).collect(),
            Err(e) => e,
        },
        Ok(Err(e)) => e,
        Err(panic) => return apart(store, program, cmds, now, cache, &panic_message(panic.as_ref())).await,
    };
    tracing::error!(error = %failed, commands = cmds.len(), "batch failed; nothing written");
    let e = WriteError::from_store(&failed);
    cmds.iter().map(|_| Err(e.clone())).collect()
}

/// After `cmds` panicked together: refuses the one command, or applies the halves apart.
async fn apart(
    store: &dyn Store,
    program: &Program,
    cmds: &[Command],
    now: Timestamp,
    cache: Option<&MemberCache>,
    panic: &str,
) -> Vec<Answer> {
    if let [cmd] = cmds {
        let what = describe(cmd);
        tracing::error!(command = %what, panic, "applying a command panicked; it is refused and nothing of it was written");
        metrics::counter!("loyalty_commands_refused_internal_total").increment(1);
        return vec![Err(WriteError::Internal { what })];
    }
    tracing::warn!(
        commands = cmds.len(),
        panic,
        "a batch panicked, nothing of it was written; applying its halves apart"
    );
    let (first, second) = cmds.split_at(cmds.len() / 2);
    let mut answers = Box::pin(apply_contained(store, program, first, now, cache)).await;
    answers.extend(Box::pin(apply_contained(store, program, second, now, cache)).await);
    answers
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_owned(),
    }
}

/// What a command is and whom it concerns, for the log and the client's 500.
fn describe(cmd: &Command) -> String {
    let kind = match cmd {
        Command::UpsertMember { .. } => "member update",
        Command::PlaceOrder { .. } => "order",
        Command::Refund { order_id, input } => return format!("refund {} of order {order_id}", input.id),
        Command::Hold { .. } => "hold",
        Command::Capture { .. } => "capture",
        Command::Release { .. } => "release",
        Command::Adjust { .. } => "adjustment",
        Command::Advance { .. } => "advance",
        Command::Activity { .. } => "activity",
        Command::ClaimSample { .. } => "free-sample claim",
        Command::AssignTier { .. } => "tier assignment",
        Command::Erase { .. } => "erasure",
        Command::IssueCoupon { .. } => "coupon issue",
        Command::Redeem { .. } => "redemption",
        Command::MoveRedemption { .. } => "redemption move",
        Command::Draw { .. } => "lottery draw",
        Command::Subscribe { .. } => "membership payment",
        Command::Upgrade { .. } => "membership upgrade",
        Command::CancelMembership { .. } => "membership cancellation",
        Command::ResumeMembership { .. } => "membership resumption",
        Command::RefundMembership { .. } => "membership refund",
        Command::InviteToPlan { .. } => "plan invitation",
        Command::AdvanceMembership { .. } => "membership advance",
        Command::Checkin { .. } => "check-in",
        Command::Makeup { .. } => "make-up check-in",
        Command::Gift { .. } => "gift",
        Command::ReferralCode { .. } => "referral code",
        Command::SettleReferral { .. } => "referral settlement",
        Command::NoticeExpiring { .. } => "expiring-points notice",
        Command::Remember(_) => return "Idempotency-Key record".to_owned(),
        Command::Audit(_) => return "audit record".to_owned(),
    };
    match member_of(cmd, &HashMap::new()) {
        Some(m) => format!("{kind} for member {m}"),
        None => kind.to_owned(),
    }
}
