//! The daily `points.expiring` notice: who may be due one (members with active points that
//! expire within `[events] expiring_days`, not yet told today), told in the jobs run or through
//! the server's writer by the scheduler. The writer decides again on each member's lots and
//! last notice day (`writer::notice_expiring`), so a second run the same day, a run after a
//! restart, or two at once tell nobody twice.

use super::{send_due, JOB_BATCH, MAX_ROUNDS};
use crate::writer::{apply_batches, Command, Outcome, Writer};
use jiff::Timestamp;
use loyalty_core::ids::MemberId;
use loyalty_core::Program;
use loyalty_store::{Store, StoreError};
use std::sync::Arc;

/// Members who may be due a notice at `now`: at most `limit`, by id.
async fn due(store: &dyn Store, program: &Program, now: Timestamp, limit: i64) -> Result<Vec<MemberId>, StoreError> {
    let until = loyalty_core::calendar::plus_secs(now, program.file.events.expiring_days * 86_400);
    let today = loyalty_core::engagement::local_day(program, now);
    store.expiring_members(now, until, today, limit).await
}

/// Tells every member due a notice at `now` (`jobs run`): how many were told. Due members are
/// read `PIPELINE` batches a page and applied with [`apply_batches`]; each is marked for the
/// day as it is decided, so the next page starts after them.
pub async fn notice_expiring(store: &dyn Store, program: &Program, now: Timestamp) -> Result<usize, StoreError> {
    const PIPELINE: i64 = 16;
    let program = Arc::new(program.clone());
    let clock = crate::clock::ManualClock::at(now);
    let (mut told, mut previous) = (0, Vec::new());
    for _ in 0..MAX_ROUNDS {
        let ids = due(store, &program, now, JOB_BATCH * PIPELINE).await?;
        if ids.is_empty() {
            break;
        }
        assert!(ids != previous, "members stay due a notice after it: {:?}", &ids[..ids.len().min(5)]);
        let batches = ids
            .chunks(JOB_BATCH as usize)
            .map(|chunk| ((), chunk.iter().map(|m| Command::NoticeExpiring { member: m.clone() }).collect::<Vec<_>>()));
        apply_batches(store, &program, clock.as_ref(), batches, |(), replies| {
            for r in replies {
                match r {
                    Ok(Outcome::ExpiryNoticed(Some(_))) => told += 1,
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "a member could not be told of expiring points"),
                }
            }
        })
        .await?;
        previous = ids;
    }
    Ok(told)
}

/// Sends every notice due at `now` through the writer (the scheduler's); how many members
/// were decided.
pub async fn send_expiry_notices(store: &dyn Store, writer: &Writer, program: &Program, now: Timestamp) -> usize {
    send_due(
        writer,
        "expiring points",
        || due(store, program, now, JOB_BATCH),
        |member| Command::NoticeExpiring { member },
    )
    .await
}
