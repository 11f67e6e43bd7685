//! Read-only analytics over the store (member insight, KPIs) and the tables that keep computed
//! insight, implemented for both backends from one body of SQL like the rest of the store.
//!
//! Every read that touches orders or entries is one aggregate statement: per-member activity
//! pages by member id (one index range scan per page), KPI figures scan a table once against a
//! small list of time windows. Nothing here issues a query per member.

use crate::Result;
use async_trait::async_trait;
use jiff::Timestamp;

/// Largest number of time windows one KPI statement may carry.
pub const MAX_WINDOWS: usize = 1_000;
/// Largest range of members read at once (and largest page of per-member rows).
pub const MAX_ACTIVITY_PAGE: i64 = 100_000;

/// The members of one id range: those with orders (`buyers`) and those registered by the
/// analysis instant (`registered`), each once; a registered member without orders gets an empty
/// activity. `buyers` come sorted by id byte-wise, as [`unpack_logs`] returns them; the result
/// is sorted the same way (Rust's order, not the database's collation, which is only
/// trusted to make the ranges).
pub fn merge_activity(buyers: Vec<MemberActivity>, mut registered: Vec<&str>) -> Vec<MemberActivity> {
    assert!(buyers.windows(2).all(|w| w[0].member_id < w[1].member_id), "buyers come sorted, one row each");
    registered.sort_unstable();
    let mut out = Vec::with_capacity(buyers.len().max(registered.len()));
    let mut ids = registered.into_iter().peekable();
    let none = |id: &str| MemberActivity { member_id: id.into(), ..Default::default() };
    for b in buyers {
        while let Some(id) = ids.next_if(|id| *id < &*b.member_id) {
            out.push(none(id));
        }
        ids.next_if(|id| *id == &*b.member_id);
        out.push(b);
    }
    out.extend(ids.map(none));
    out
}

mod activity;
mod monthly;
mod types;
pub use activity::*;
pub use monthly::*;
pub use types::*;

/// Aggregate reads for member insight and KPIs, and the writes of computed insight.
#[async_trait]
pub trait Analytics: Send + Sync {
    /// One page of members (ids ascending) with their order activity.
    async fn member_activity(&self, q: &ActivityQuery) -> Result<Vec<MemberActivity>>;
    /// The `page`-th member id after `after` (from the first member when `None`), if there are
    /// that many: one step of the boundaries that split the members into ranges of `page`
    /// members which can be read concurrently.
    async fn activity_bound(&self, after: Option<&str>, page: i64) -> Result<Option<String>>;
    /// Splits the members into ranges of `page` members registered by `at` in one walk of the
    /// members, sending each range, with its registered ids, to `out` as soon as it is known,
    /// so that reading starts at once and no range walks the members again. Returns how many
    /// ranges were sent, or `None` when this store does not split this way (the caller then
    /// steps [`Analytics::activity_bound`]). Stops early, without error, once `out` is closed.
    async fn activity_ranges(
        &self,
        at: Timestamp,
        page: i64,
        out: tokio::sync::mpsc::UnboundedSender<ActivityRange>,
    ) -> Result<Option<usize>>;
    /// Each member's recorded orders and refunds and their activity log, for the members in
    /// `ids` (at most [`MAX_ACTIVITY_PAGE`]): what `loyalty verify` checks the log against.
    async fn activity_audit(&self, ids: &[String]) -> Result<Vec<(RecordedActivity, String)>>;
    /// Rebuilds every member's activity log from the orders and refunds tables (migration
    /// 0007's fill), in one transaction that holds order writes off until it commits. Returns
    /// the rows written.
    async fn rebuild_activity(&self) -> Result<u64>;

    /// Starts a run: marks runs still `running` whose heartbeat is older than `stale_before` failed,
    /// then records a new one in the slot the last complete run does not use. Fails (unique
    /// violation) while another run is in progress.
    async fn insight_start(
        &self,
        at: Timestamp,
        window_days: i64,
        config: &str,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> Result<InsightRun>;
    /// Writes member rows of a run, in one transaction per call.
    async fn insight_write(&self, run: &InsightRun, rows: &[MemberInsight]) -> Result<()>;
    /// Records that a running run is still alive.
    async fn insight_heartbeat(&self, run: &InsightRun, now: Timestamp) -> Result<()>;
    /// Stores segments and models, drops rows of older runs from the slot and marks the run
    /// complete, in one transaction.
    async fn insight_finish(&self, run: &InsightRun, result: &RunResult, now: Timestamp) -> Result<()>;
    async fn insight_fail(&self, run: &InsightRun, summary: &str, now: Timestamp) -> Result<()>;
    /// Runs, newest first.
    async fn insight_runs(&self, limit: i64) -> Result<Vec<InsightRun>>;
    async fn latest_insight_run(&self) -> Result<Option<InsightRun>>;
    async fn member_insight(&self, run: &InsightRun, member_id: &str) -> Result<Option<MemberInsight>>;
    async fn segment_summaries(&self, run: &InsightRun, scheme: &str) -> Result<Vec<SegmentSummary>>;
    /// Members of a segment, ids ascending after `after`.
    async fn segment_members(
        &self,
        run: &InsightRun,
        column: SegmentColumn,
        segment: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MemberInsight>>;
    /// All member rows of a run, ids ascending after `after`.
    async fn insight_page(&self, run: &InsightRun, after: Option<&str>, limit: i64) -> Result<Vec<MemberInsight>>;
    async fn insight_models(&self, run: &InsightRun) -> Result<Vec<ModelFit>>;

    async fn order_windows(&self, windows: &[Window]) -> Result<Vec<OrderWindow>>;
    /// Per window `k ≥ 1`: members who bought in window `k − 1` and not in window `k`.
    async fn lapsed_buyers(&self, windows: &[Window]) -> Result<Vec<(usize, i64)>>;
    async fn entry_flows(&self, windows: &[Window]) -> Result<Vec<EntryFlow>>;
    async fn registrations(&self, windows: &[Window]) -> Result<Vec<Registrations>>;
    async fn refund_windows(&self, windows: &[Window]) -> Result<Vec<RefundWindow>>;
    async fn balance_totals(&self) -> Result<BalanceTotals>;
}

pub(crate) const INSIGHT_COLS: &str = "member_id, slot, run_id, recency_days, frequency, monetary_minor, first_order_age_days, orders_total, repeat_purchases, r_score, f_score, m_score, value_segment, score_segment, stage, p_alive, expected_purchases, expected_order_value_minor, clv_minor";
pub(crate) const RUN_COLS: &str =
    "run_id, slot, status, at, window_days, started_at, finished_at, members, buyers, config, summary";

/// Checks a window list before it becomes SQL.
pub(crate) fn check_windows(windows: &[Window]) -> Result<()> {
    if windows.len() > MAX_WINDOWS {
        return Err(crate::convert::corrupt("windows", format!("{} windows exceed {MAX_WINDOWS}", windows.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_lists_buyers_and_registered_members_once_each_in_id_order() {
        let buyer = |id: &str, orders| MemberActivity { member_id: id.into(), orders, ..Default::default() };
        let merged = merge_activity(vec![buyer("Z", 1), buyer("b", 2), buyer("d", 5)], vec!["a", "b", "c", "Z"]);
        let ids: Vec<(&str, i64)> = merged.iter().map(|m| (&*m.member_id, m.orders)).collect();
        assert_eq!(ids, [("Z", 1), ("a", 0), ("b", 2), ("c", 0), ("d", 5)]);
    }
}
