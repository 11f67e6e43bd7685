//! Birthday gifts and member-day packs: who is due today, given in the jobs run or sent
//! through the server's writer by the scheduler.

use super::{JOB_BATCH, MAX_ROUNDS};
use crate::writer::{apply_batches, Command, Outcome, Writer};
use jiff::Timestamp;
use loyalty_core::engagement::gifts::GiftKind;
use loyalty_core::ids::MemberId;
use loyalty_core::Program;
use loyalty_store::{GiftDue, Store, StoreError};
use std::sync::Arc;

/// What a gift run recorded: rows that gave coupons, rows that could give none.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GiftReport {
    pub given: usize,
    pub not_given: usize,
}

/// Who may be due a gift at `now`, one read each: a birthday range per birthday month whose
/// window holds today, and the member day's tiers once the month's member day has come.
fn gift_dues(program: &Program, now: Timestamp) -> Vec<(GiftKind, GiftDue)> {
    use loyalty_core::engagement::gifts::{birthday_ranges, member_day_period};
    let today = loyalty_core::engagement::local_day(program, now);
    let f = &program.file;
    let mut out: Vec<(GiftKind, GiftDue)> = birthday_ranges(&f.birthday, today)
        .into_iter()
        .map(|(from, to, period)| (GiftKind::Birthday, GiftDue::Birthday { from, to, period }))
        .collect();
    if let Some(period) = member_day_period(&f.member_day, today) {
        out.push((GiftKind::MemberDay, GiftDue::MemberDay { tiers: f.member_day.tiers.clone(), period }));
    }
    out
}

/// Birthday gifts and member-day packs due at `now` (`jobs run`, the bench). Due members are
/// read in id order, `PIPELINE` batches a page, and applied with [`apply_batches`], so one
/// batch is loaded while the one before is written; each command decides again in the writer
/// whether its gift is still due, so a run stopped midway and run again gives nobody two.
pub async fn give_gifts(store: &dyn Store, program: &Program, now: Timestamp) -> Result<GiftReport, StoreError> {
    const PIPELINE: i64 = 16;
    let dues = gift_dues(program, now);
    if dues.is_empty() {
        return Ok(GiftReport::default());
    }
    let program = Arc::new(program.clone());
    let clock = crate::clock::ManualClock::at(now);
    let mut report = GiftReport::default();
    for (kind, due) in dues {
        let mut after: Option<MemberId> = None;
        for _ in 0..MAX_ROUNDS {
            let ids = store.due_gifts(&due, after.as_ref(), JOB_BATCH * PIPELINE).await?;
            let Some(last) = ids.last() else { break };
            after = Some(last.clone());
            let batches = ids
                .chunks(JOB_BATCH as usize)
                .map(|chunk| ((), chunk.iter().map(|m| Command::Gift { member: m.clone(), kind }).collect::<Vec<_>>()));
            apply_batches(store, &program, clock.as_ref(), batches, |(), replies| {
                for r in replies {
                    count_gift(&mut report, r);
                }
            })
            .await?;
        }
    }
    Ok(report)
}

fn count_gift(report: &mut GiftReport, r: crate::writer::Reply) {
    match r {
        Ok(Outcome::Gift(Some(g))) if g.coupons.is_empty() => report.not_given += 1,
        Ok(Outcome::Gift(Some(_))) => report.given += 1,
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "a gift could not be given"),
    }
}

/// How often the scheduler looks for gifts within a local day. The read walks every birthday
/// in the open windows (a twelfth or two of the members), given or not, so it runs at the
/// first tick of each local day (a member day's packs come at once) and then every ten
/// minutes (a birthday set during the day is given within them), not every tick.
pub(super) const GIFTS_EVERY_SECS: i64 = 600;

pub(super) fn gifts_due(program: &Program, last: Option<Timestamp>, now: Timestamp) -> bool {
    let day = |t| loyalty_core::engagement::local_day(program, t);
    last.is_none_or(|t| day(t) != day(now) || now >= loyalty_core::calendar::plus_secs(t, GIFTS_EVERY_SECS))
}

/// Sends every gift due by `now` through the writer (the scheduler's); what it recorded.
pub async fn send_gifts(store: &dyn Store, writer: &Writer, program: &Program, now: Timestamp) -> GiftReport {
    let mut report = GiftReport::default();
    for (kind, due) in gift_dues(program, now) {
        let mut after: Option<MemberId> = None;
        for _ in 0..MAX_ROUNDS {
            let ids = match store.due_gifts(&due, after.as_ref(), JOB_BATCH).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler could not list members due a gift");
                    return report;
                }
            };
            let Some(last) = ids.last() else { break };
            after = Some(last.clone());
            let futs = ids.into_iter().map(|member| writer.submit(Command::Gift { member, kind }));
            for r in futures_util::future::join_all(futs).await {
                match r {
                    Ok(o) => count_gift(&mut report, Ok(o)),
                    Err(e) => {
                        // Nothing of a failed batch was written: the next tick finds it due.
                        tracing::warn!(error = %e, "a gift could not be given; retrying next tick");
                        return report;
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduler looks for gifts at its first tick, at the first tick of each local day,
    /// and every ten minutes in between.
    #[test]
    fn gifts_are_looked_for_each_local_day_and_every_ten_minutes() {
        let program = Program::default_program();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let last = Some(at("2026-12-01T23:55:00+08:00"));
        assert!(gifts_due(&program, None, at("2026-12-01T23:55:00+08:00")));
        assert!(!gifts_due(&program, last, at("2026-12-01T23:59:59+08:00")));
        assert!(gifts_due(&program, last, at("2026-12-02T00:00:00+08:00")), "a new local day");
        let noon = Some(at("2026-12-02T12:00:00+08:00"));
        assert!(!gifts_due(&program, noon, at("2026-12-02T12:09:59+08:00")));
        assert!(gifts_due(&program, noon, at("2026-12-02T12:10:00+08:00")));
    }
}
