//! Referral settlement: invitees whose first order has passed its return window, paid or
//! refused in the writer.

use super::{JOB_BATCH, MAX_ROUNDS};
use crate::writer::{apply_batch, Command, Writer};
use jiff::Timestamp;
use loyalty_core::Program;
use loyalty_store::{Store, StoreError};

/// Pays every referral due by `now` (the CLI's `jobs run`), a batch per `JOB_BATCH`
/// invitees; how many were settled. Settling is idempotent: a referral paid is no longer due.
pub async fn settle_referrals(store: &dyn Store, program: &Program, now: Timestamp) -> Result<usize, StoreError> {
    if !program.file.referral.enabled {
        return Ok(0);
    }
    let (mut done, mut previous) = (0, Vec::new());
    for _ in 0..MAX_ROUNDS {
        let ids = store.due_referrals(now, JOB_BATCH).await?;
        if ids.is_empty() {
            break;
        }
        assert!(ids != previous, "referrals stay due after settling: {:?}", &ids[..ids.len().min(5)]);
        let cmds: Vec<Command> = ids.iter().map(|m| Command::SettleReferral { invitee: m.clone() }).collect();
        for r in apply_batch(store, program, &cmds, now).await? {
            if let Err(e) = r {
                tracing::warn!(error = %e, "a referral could not be settled");
            }
        }
        done += ids.len();
        previous = ids;
    }
    Ok(done)
}

/// Sends every referral due by `now` through the writer (the scheduler's tick, and tests that
/// run the job at an instant): how many were sent. A referral sent twice pays once.
pub async fn send_referral_settlements(store: &dyn Store, writer: &Writer, now: Timestamp) -> usize {
    super::send_due(
        writer,
        "referrals",
        || store.due_referrals(now, JOB_BATCH),
        |invitee| Command::SettleReferral { invitee },
    )
    .await
}
