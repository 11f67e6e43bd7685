//! The daily insight run inside `loyalty serve`.

use crate::{compute, config};
use jiff::{SignedDuration, Timestamp};
use loyalty_core::Program;
use loyalty_store::Store;
use std::sync::Arc;

/// The daily insight run inside `loyalty serve`: at `daily_hour` in the programme's time zone,
/// and once at start-up when the last complete run is more than a day old.
pub async fn daily(store: Arc<dyn Store>, program: Arc<Program>) {
    let config = match config::InsightConfig::from_program(&program) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "member insight is off: its configuration is invalid");
            return;
        }
    };
    if overdue(store.as_ref()).await {
        run_once(store.as_ref(), &config).await;
    }
    loop {
        let now = Timestamp::now();
        let next = next_run(now, config.daily_hour, &program.tz);
        let wait = now.duration_until(next).unsigned_abs();
        tokio::time::sleep(wait).await;
        run_once(store.as_ref(), &config).await;
    }
}

async fn overdue(store: &dyn Store) -> bool {
    match store.latest_insight_run().await {
        Ok(Some(run)) => run.started_at < Timestamp::now() - SignedDuration::from_hours(24),
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the last insight run");
            false
        }
    }
}

async fn run_once(store: &dyn Store, config: &config::InsightConfig) {
    match compute::run(store, config, Timestamp::now()).await {
        Ok(o) => tracing::info!(run = o.run.run_id, members = o.members, "daily member insight done"),
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "daily member insight failed"),
    }
}

/// The first instant after `now` at `hour`:00 in `tz`.
pub fn next_run(now: Timestamp, hour: u8, tz: &jiff::tz::TimeZone) -> Timestamp {
    let local = now.to_zoned(tz.clone());
    let today = local.date().at(hour as i8, 0, 0, 0);
    let mut at = today.to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or(now);
    let mut days = 0;
    while at <= now && days < 3 {
        days += 1;
        let day = local.date().checked_add(jiff::Span::new().days(days)).unwrap_or(local.date());
        at = day.at(hour as i8, 0, 0, 0).to_zoned(tz.clone()).map(|z| z.timestamp()).unwrap_or(now);
    }
    if at <= now {
        now + SignedDuration::from_hours(24)
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_run_is_at_the_configured_local_hour() {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let now: Timestamp = "2026-03-10T01:30:00+08:00".parse().unwrap();
        assert_eq!(next_run(now, 3, &tz).to_string(), "2026-03-09T19:00:00Z");
        let now: Timestamp = "2026-03-10T04:00:00+08:00".parse().unwrap();
        assert_eq!(next_run(now, 3, &tz).to_string(), "2026-03-10T19:00:00Z");
    }
}
