//! `loyalty insight` and the daily run: read every member's order activity with one aggregate
//! query per page of members, analyse, and store the results in batches.

use crate::analysis::{analyse, Analysis, RunSummary};
use crate::config::InsightConfig;
use jiff::{SignedDuration, Timestamp};
use loyalty_store::analytics::{ActivityQuery, ActivityRange, InsightRun, MemberActivity, RunResult};
use loyalty_store::{Store, StoreError};
use std::time::Instant;

/// Members per activity range (two statements each; see `Analytics::member_activity`).
pub const READ_PAGE: i64 = 20_000;
/// Member rows per write transaction: small enough that the order writer never waits long.
pub const WRITE_BATCH: usize = 5_000;
/// A running run whose heartbeat is this old is taken to have died (a crash, a kill).
const STALE_MINUTES: i64 = 15;

/// How a run went.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: InsightRun,
    pub members: usize,
    pub buyers: usize,
    pub summary: RunSummary,
}

/// The start of the RFM window ending at `at`.
pub fn window_start(at: Timestamp, window_days: u32) -> anyhow::Result<Timestamp> {
    at.checked_sub(SignedDuration::from_hours(24 * i64::from(window_days)))
        .map_err(|e| anyhow::anyhow!("--at minus the window is out of range: {e}"))
}

/// Member-id ranges read at once: SQLite readers and PostgreSQL backends work in parallel.
const READERS: usize = 2;

/// Every member's activity as of `at`, amounts as they stood at `at` (refunds made later are
/// not counted): member-id ranges of about `READ_PAGE` members, each read with two statements,
/// `READERS` ranges at a time.
pub async fn read_activity(store: &dyn Store, at: Timestamp, window_days: u32) -> anyhow::Result<Vec<MemberActivity>> {
    read_activity_in_pages(store, at, window_days, READ_PAGE).await
}

/// As [`read_activity`], with ranges of `page` members.
pub async fn read_activity_in_pages(
    store: &dyn Store,
    at: Timestamp,
    window_days: u32,
    page: i64,
) -> anyhow::Result<Vec<MemberActivity>> {
    let start = window_start(at, window_days)?;
    let mut ranges: Vec<Vec<MemberActivity>> = Vec::new();
    let read = |r: ActivityRange| {
        read_range(
            store,
            ActivityQuery { at, window_start: start, after: r.after, through: r.through, registered: r.registered },
        )
    };
    for_each_range(store, at, page, read, |range| {
        ranges.push(range);
        Ok::<_, anyhow::Error>(())
    })
    .await?;
    // One copy into room reserved exactly (joining ranges as they arrived measured the same).
    let mut all = Vec::with_capacity(ranges.iter().map(Vec::len).sum());
    ranges.into_iter().for_each(|r| all.extend(r));
    Ok(all)
}

/// Splits the members registered by `at` into ranges of about `page` members, reads
/// `READERS` ranges at a time with `read`, and hands each range's answer to `each` in range
/// (so member id) order. Ranges come from one walk of the members where the store can
/// (`activity_ranges`), else from one keyset step per range (`activity_bound`); the producer
/// and the readers are polled together, so that the first ranges are read while the later
/// ones are found. Stops at the first error.
pub async fn for_each_range<T, E, Fut>(
    store: &dyn Store,
    at: Timestamp,
    page: i64,
    read: impl Fn(ActivityRange) -> Fut,
    mut each: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: From<StoreError>,
{
    use futures_util::{StreamExt, TryStreamExt};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bounds = async move {
        let started = Instant::now();
        let stepped = match store.activity_ranges(at, page, tx.clone()).await? {
            Some(sent) => sent,
            None => {
                let mut after: Option<String> = None;
                let mut stepped = 0_usize;
                loop {
                    let through = store.activity_bound(after.as_deref(), page).await?;
                    // The readers stop taking ranges only when one of them failed: nothing to add.
                    let _ = tx.send(ActivityRange { after: after.clone(), through: through.clone(), registered: None });
                    stepped += 1;
                    match through {
                        Some(b) => after = Some(b),
                        None => break,
                    }
                }
                stepped
            }
        };
        drop(tx);
        tracing::debug!(ms = started.elapsed().as_millis() as u64, ranges = stepped, "activity bounds");
        Ok::<_, E>(())
    };
    let ranges = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let reads = ranges.map(read).buffered(READERS).try_for_each(|answer| std::future::ready(each(answer)));
    futures_util::future::try_join(bounds, reads).await?;
    Ok(())
}

/// Members with ids in (`q.after`, `q.through`]: one range of about a page of members.
async fn read_range(store: &dyn Store, q: ActivityQuery) -> anyhow::Result<Vec<MemberActivity>> {
    let started = Instant::now();
    let page = store.member_activity(&q).await?;
    tracing::debug!(members = page.len(), ms = started.elapsed().as_millis() as u64, "activity range");
    Ok(page)
}

/// Computes and stores insight as of `at`. Fails without writing when another run is going.
pub async fn run(store: &dyn Store, config: &InsightConfig, at: Timestamp) -> anyhow::Result<RunOutcome> {
    config.validate()?;
    let now = Timestamp::now();
    let stale = now.checked_sub(SignedDuration::from_mins(STALE_MINUTES))?;
    let config_json = serde_json::to_string(config)?;
    let run =
        store.insight_start(at, i64::from(config.window_days), &config_json, now, stale).await.map_err(
            |e| match &e {
                StoreError::Db(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    anyhow::anyhow!("another insight run is in progress; try again when it has finished")
                }
                _ => anyhow::Error::from(e),
            },
        )?;
    match compute_and_store(store, config, &run).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let summary = RunSummary { error: Some(format!("{e:#}")), ..Default::default() };
            let text = serde_json::to_string(&summary)?;
            if let Err(fail) = store.insight_fail(&run, &text, Timestamp::now()).await {
                tracing::error!(error = %fail, run = run.run_id, "could not mark the insight run failed");
            }
            Err(e)
        }
    }
}

async fn compute_and_store(store: &dyn Store, config: &InsightConfig, run: &InsightRun) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let activity = read_activity(store, run.at, config.window_days).await?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    store.insight_heartbeat(run, Timestamp::now()).await?;
    let (cfg, at) = (config.clone(), run.at);
    let (activity, analysis) = tokio::task::spawn_blocking(move || {
        let analysis = analyse(&activity, at, &cfg);
        (activity, analysis)
    })
    .await?;
    let mut analysis: Analysis = analysis?;
    let started = Instant::now();
    write_rows(store, run, &analysis, &activity).await?;
    let t = &mut analysis.summary.timings_ms;
    t.insert("read".into(), read_ms);
    t.insert("write".into(), started.elapsed().as_secs_f64() * 1e3);
    let result = RunResult {
        members: activity.len() as i64,
        buyers: analysis.buyers() as i64,
        summary: serde_json::to_string(&analysis.summary)?,
        segments: analysis.segment_summaries(),
        models: analysis.models.clone(),
    };
    store.insight_finish(run, &result, Timestamp::now()).await?;
    tracing::info!(run = run.run_id, members = result.members, buyers = result.buyers, "member insight stored");
    Ok(RunOutcome {
        run: run.clone(),
        members: activity.len(),
        buyers: result.buyers as usize,
        summary: analysis.summary,
    })
}

async fn write_rows(
    store: &dyn Store,
    run: &InsightRun,
    analysis: &Analysis,
    activity: &[MemberActivity],
) -> Result<(), StoreError> {
    for from in (0..activity.len()).step_by(WRITE_BATCH) {
        let to = (from + WRITE_BATCH).min(activity.len());
        let rows: Vec<_> = (from..to).map(|i| analysis.row(i, &activity[i], run.run_id)).collect();
        store.insight_write(run, &rows).await?;
        store.insight_heartbeat(run, Timestamp::now()).await?;
    }
    Ok(())
}
