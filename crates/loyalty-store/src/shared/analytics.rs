//! Member insight's reads and writes on this backend (see `crate::analytics`).

use super::dialect::*;
use crate::analytics::*;
use crate::convert::{corrupt, micros, opt_ts, ts, MAX_BINDS};
use crate::Result;
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

type DbRow = <Db as sqlx::Database>::Row;

/// `WITH w(k, s, e) AS (VALUES (0, s₀, e₀), …)`: the windows a KPI statement joins.
pub(super) fn with_windows<'a>(windows: &[Window]) -> Result<QueryBuilder<'a, Db>> {
    check_windows(windows)?;
    let mut qb: QueryBuilder<'a, Db> = QueryBuilder::new("WITH w(k, s, e) AS (VALUES ");
    for (k, w) in windows.iter().enumerate() {
        qb.push(if k == 0 { "(" } else { ", (" }).push(format!("CAST({k} AS BIGINT), "));
        qb.push_bind(micros(w.start)).push(", ").push_bind(micros(w.end)).push(")");
    }
    qb.push(") ");
    Ok(qb)
}

/// `AND col >= first start AND col < last end`: rows outside every window skip the join.
pub(super) fn within(col: &str, windows: &[Window]) -> String {
    let lo = windows.iter().map(|w| micros(w.start)).min().unwrap_or(0);
    let hi = windows.iter().map(|w| micros(w.end)).max().unwrap_or(0);
    format!("{col} >= {lo} AND {col} < {hi}")
}

fn k_of(r: &DbRow) -> Result<usize> {
    usize::try_from(r.try_get::<i64, _>("k")?).map_err(|_| corrupt("windows", "negative window index"))
}

fn run_row(r: &DbRow) -> Result<InsightRun> {
    let t = "insight_runs";
    Ok(InsightRun {
        run_id: r.try_get("run_id")?,
        slot: r.try_get("slot")?,
        status: r.try_get("status")?,
        at: ts(t, r.try_get("at")?)?,
        window_days: r.try_get("window_days")?,
        started_at: ts(t, r.try_get("started_at")?)?,
        finished_at: opt_ts(t, r.try_get("finished_at")?)?,
        members: r.try_get("members")?,
        buyers: r.try_get("buyers")?,
        config: r.try_get("config")?,
        summary: r.try_get("summary")?,
    })
}

fn insight_row(r: &DbRow) -> Result<MemberInsight> {
    let score = |c: &str| r.try_get::<Option<i64>, _>(c);
    let scores = match (score("r_score")?, score("f_score")?, score("m_score")?) {
        (Some(r), Some(f), Some(m)) => Some([r, f, m]),
        _ => None,
    };
    Ok(MemberInsight {
        member_id: r.try_get("member_id")?,
        run_id: r.try_get("run_id")?,
        recency_days: r.try_get("recency_days")?,
        frequency: r.try_get("frequency")?,
        monetary_minor: r.try_get("monetary_minor")?,
        first_order_age_days: r.try_get("first_order_age_days")?,
        orders_total: r.try_get("orders_total")?,
        repeat_purchases: r.try_get("repeat_purchases")?,
        scores,
        value_segment: r.try_get("value_segment")?,
        score_segment: r.try_get("score_segment")?,
        stage: r.try_get("stage")?,
        p_alive: r.try_get("p_alive")?,
        expected_purchases: r.try_get("expected_purchases")?,
        expected_order_value_minor: r.try_get("expected_order_value_minor")?,
        clv_minor: r.try_get("clv_minor")?,
    })
}

fn bind_insight(s: &mut sqlx::query_builder::Separated<'_, '_, Db, &'static str>, slot: i64, m: &MemberInsight) {
    let [r, f, sm] = m.scores.map_or([None; 3], |s| s.map(Some));
    s.push_bind(m.member_id.clone()).push_bind(slot).push_bind(m.run_id).push_bind(m.recency_days);
    s.push_bind(m.frequency).push_bind(m.monetary_minor).push_bind(m.first_order_age_days);
    s.push_bind(m.orders_total).push_bind(m.repeat_purchases).push_bind(r).push_bind(f).push_bind(sm);
    s.push_bind(m.value_segment.clone()).push_bind(m.score_segment.clone()).push_bind(m.stage.clone());
    s.push_bind(m.p_alive)
        .push_bind(m.expected_purchases)
        .push_bind(m.expected_order_value_minor)
        .push_bind(m.clv_minor);
}

async fn insight_rows(qb: &mut QueryBuilder<'_, Db>, pool: &sqlx::Pool<Db>) -> Result<Vec<MemberInsight>> {
    qb.build().fetch_all(pool).await?.iter().map(insight_row).collect()
}

#[async_trait::async_trait]
impl Analytics for StoreImpl {
    async fn member_activity(&self, q: &ActivityQuery) -> Result<Vec<MemberActivity>> {
        // A SQLite file is read on connections of its own (`member_activity_direct`).
        if let Some(read) = self.member_activity_direct(q).await {
            return read;
        }
        // Two statements over the same id range (`activity_bound` keeps ranges to
        // a page of members), merged: the members' activity logs (one row per member
        // and span, written with each order and refund; never the orders
        // themselves; each row starts with its member's id, so the rows are simply
        // run together), and the members registered by `at`. Each statement answers
        // ONE row, the range packed as text by `string_agg` (SQLite ≥ 3.44 and
        // PostgreSQL): the driver's per-row cost dominated this read when it returned
        // a row per member. Figures for `at` are computed from the logs in Rust, on a
        // blocking thread so that two ranges parse on two cores.
        let (through_logs, through_members) =
            if q.through.is_some() { (" AND member_id <= $2", " AND member_id <= $3") } else { ("", "") };
        let logs_sql =
            format!("SELECT string_agg(log, '') AS packed FROM member_activity WHERE member_id > $1{through_logs}");
        let after = q.after.clone().unwrap_or_default();
        let mut logs = sqlx::query(&logs_sql).bind(after.clone());
        let members_sql = format!(
            "SELECT string_agg(member_id, ';') AS packed FROM members \
             WHERE member_id > $2{through_members} AND registered_at <= $1"
        );
        let mut members = sqlx::query(&members_sql).bind(micros(q.at)).bind(after);
        if let Some(t) = &q.through {
            logs = logs.bind(t.clone());
            members = members.bind(t.clone());
        }
        let packed: Option<String> = logs.fetch_one(&self.pool).await?.try_get("packed")?;
        let (at, start) = (micros(q.at), micros(q.window_start));
        let buyers = tokio::task::spawn_blocking(move || unpack_logs(packed.as_deref().unwrap_or(""), at, start));
        let packed: Option<String> = members.fetch_one(&self.pool).await?.try_get("packed")?;
        let registered = packed.as_deref().unwrap_or("").split(';').filter(|id| !id.is_empty()).collect();
        let buyers = buyers.await.map_err(|e| corrupt("member_activity", format!("parsing a range failed: {e}")))??;
        Ok(merge_activity(buyers, registered))
    }

    async fn activity_ranges(
        &self,
        at: Timestamp,
        page: i64,
        out: tokio::sync::mpsc::UnboundedSender<ActivityRange>,
    ) -> Result<Option<usize>> {
        self.activity_ranges_direct(at, page.clamp(1, MAX_ACTIVITY_PAGE), out).await
    }

    async fn activity_bound(&self, after: Option<&str>, page: i64) -> Result<Option<String>> {
        // Read off the members key: an index walk of `page` entries (a window
        // function numbering every member took 1.2 s for 1 M members, these steps
        // 0.1 s in all).
        let page = page.clamp(1, MAX_ACTIVITY_PAGE);
        Ok(sqlx::query_scalar(
            "SELECT member_id FROM members WHERE member_id > $1 ORDER BY member_id LIMIT 1 OFFSET $2",
        )
        .bind(after.unwrap_or_default())
        .bind(page - 1)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn activity_audit(&self, ids: &[String]) -> Result<Vec<(RecordedActivity, String)>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        assert!(ids.len() as i64 <= MAX_ACTIVITY_PAGE, "an audit of {} members is over the page limit", ids.len());
        let list = serde_json::to_string(ids).expect("a list of strings serialises");
        let recorded = sqlx::query(&format!(
            "SELECT o.member_id AS member_id, CAST(COUNT(*) AS BIGINT) AS orders, CAST(SUM(o.total_minor) AS BIGINT) AS total_minor, \
             CAST(SUM(o.refunded_minor) AS BIGINT) AS refunded_minor, MIN(o.paid_at) AS first_paid_at, MAX(o.paid_at) AS last_paid_at, \
             CAST(COALESCE((SELECT COUNT(*) FROM refunds r WHERE r.member_id = o.member_id), 0) AS BIGINT) AS refunds \
             FROM orders o WHERE o.member_id {IDS} GROUP BY o.member_id"
        ))
        .bind(list.clone())
        .fetch_all(&self.pool)
        .await?;
        let mut by_id: std::collections::BTreeMap<String, (RecordedActivity, String)> = ids
            .iter()
            .map(|id| (id.clone(), (RecordedActivity { member_id: id.clone(), ..Default::default() }, String::new())))
            .collect();
        for r in &recorded {
            let id: String = r.try_get("member_id")?;
            let slot =
                by_id.get_mut(&id).ok_or_else(|| corrupt("orders", format!("audit row of unasked member {id}")))?;
            slot.0 = RecordedActivity {
                member_id: id,
                orders: r.try_get("orders")?,
                total_minor: r.try_get("total_minor")?,
                refunded_minor: r.try_get("refunded_minor")?,
                refunds: r.try_get("refunds")?,
                first_paid_at: r.try_get("first_paid_at")?,
                last_paid_at: r.try_get("last_paid_at")?,
            };
        }
        let logs = sqlx::query(&format!(
            "SELECT member_id, log FROM member_activity WHERE member_id {IDS} ORDER BY member_id, span"
        ))
        .bind(list)
        .fetch_all(&self.pool)
        .await?;
        for r in &logs {
            let id: String = r.try_get("member_id")?;
            let log: String = r.try_get("log")?;
            match by_id.get_mut(&id) {
                Some(slot) => slot.1.push_str(&log),
                None => return Err(corrupt("member_activity", format!("audit row of unasked member {id}"))),
            }
        }
        Ok(by_id.into_values().collect())
    }

    async fn rebuild_activity(&self) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        // SQLite: the DELETE takes the one write lock, so no order lands between
        // it and the fill. PostgreSQL: a SHARE lock on orders and refunds waits for
        // writes in flight and holds new ones off until the commit.
        if !HOLD_ORDER_WRITES.is_empty() {
            sqlx::query(HOLD_ORDER_WRITES).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM member_activity").execute(&mut *tx).await?;
        let rows = sqlx::query(&fill_sql()).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(rows)
    }

    async fn insight_start(
        &self,
        at: Timestamp,
        window_days: i64,
        config: &str,
        now: Timestamp,
        stale_before: Timestamp,
    ) -> Result<InsightRun> {
        let mut tx = self.begin_tx().await?.tx;
        sqlx::query("UPDATE insight_runs SET status = 'failed', finished_at = $1 WHERE status = 'running' AND heartbeat_at < $2")
            .bind(micros(now))
            .bind(micros(stale_before))
            .execute(&mut *tx)
            .await?;
        let next: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(run_id), 0) + 1 AS BIGINT) AS n FROM insight_runs")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let used: Option<i64> =
            sqlx::query("SELECT slot FROM insight_runs WHERE status = 'complete' ORDER BY run_id DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("slot"))
                .transpose()?;
        let run = InsightRun {
            run_id: next,
            slot: 1 - used.unwrap_or(1),
            status: "running".into(),
            at,
            window_days,
            started_at: now,
            finished_at: None,
            members: 0,
            buyers: 0,
            config: config.to_owned(),
            summary: "{}".into(),
        };
        sqlx::query(&format!("INSERT INTO insight_runs ({RUN_COLS}, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, 0, 0, $7, $8, $6)"))
            .bind(run.run_id).bind(run.slot).bind(run.status.clone()).bind(micros(at)).bind(window_days)
            .bind(micros(now)).bind(run.config.clone()).bind(run.summary.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn insight_write(&self, run: &InsightRun, rows: &[MemberInsight]) -> Result<()> {
        const COLS: usize = 19;
        let update =
            INSIGHT_COLS.split(", ").skip(2).map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
        let mut tx = self.begin_tx().await?.tx;
        for chunk in rows.chunks(MAX_BINDS / COLS) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!("INSERT INTO member_insight ({INSIGHT_COLS}) "));
            qb.push_values(chunk, |mut s, m| bind_insight(&mut s, run.slot, m));
            qb.push(format!(" ON CONFLICT (member_id, slot) DO UPDATE SET {update}"));
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insight_heartbeat(&self, run: &InsightRun, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE insight_runs SET heartbeat_at = $1 WHERE run_id = $2 AND status = 'running'")
            .bind(micros(now))
            .bind(run.run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insight_finish(&self, run: &InsightRun, result: &RunResult, now: Timestamp) -> Result<()> {
        let mut tx = self.begin_tx().await?.tx;
        for s in &result.segments {
            sqlx::query("INSERT INTO insight_segments (run_id, scheme, segment, members, orders, monetary_minor, expected_purchases, clv_minor, p_alive_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(run.run_id).bind(s.scheme.clone()).bind(s.segment.clone()).bind(s.members).bind(s.orders)
                .bind(s.monetary_minor).bind(s.expected_purchases).bind(s.clv_minor).bind(s.p_alive_sum)
                .execute(&mut *tx)
                .await?;
        }
        for m in &result.models {
            sqlx::query("INSERT INTO insight_models (run_id, model, params, log_likelihood, iterations, converged, members, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(run.run_id).bind(m.model.clone()).bind(m.params.clone()).bind(m.log_likelihood).bind(m.iterations)
                .bind(i64::from(m.converged)).bind(m.members).bind(m.detail.clone())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM member_insight WHERE slot = $1 AND run_id <> $2")
            .bind(run.slot)
            .bind(run.run_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("UPDATE insight_runs SET status = 'complete', finished_at = $1, members = $2, buyers = $3, summary = $4 WHERE run_id = $5 AND status = 'running'")
            .bind(micros(now)).bind(result.members).bind(result.buyers).bind(result.summary.clone()).bind(run.run_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Err(corrupt("insight_runs", format!("run {} is no longer running (marked stale?)", run.run_id)));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn insight_fail(&self, run: &InsightRun, summary: &str, now: Timestamp) -> Result<()> {
        sqlx::query("UPDATE insight_runs SET status = 'failed', finished_at = $1, summary = $2 WHERE run_id = $3 AND status = 'running'")
            .bind(micros(now)).bind(summary.to_owned()).bind(run.run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn insight_runs(&self, limit: i64) -> Result<Vec<InsightRun>> {
        let rows = sqlx::query(&format!("SELECT {RUN_COLS} FROM insight_runs ORDER BY run_id DESC LIMIT $1"))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_row).collect()
    }

    async fn latest_insight_run(&self) -> Result<Option<InsightRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLS} FROM insight_runs WHERE status = 'complete' ORDER BY run_id DESC LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    async fn member_insight(&self, run: &InsightRun, member_id: &str) -> Result<Option<MemberInsight>> {
        let row = sqlx::query(&format!(
            "SELECT {INSIGHT_COLS} FROM member_insight WHERE member_id = $1 AND slot = $2 AND run_id = $3"
        ))
        .bind(member_id.to_owned())
        .bind(run.slot)
        .bind(run.run_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(insight_row).transpose()
    }

    async fn segment_summaries(&self, run: &InsightRun, scheme: &str) -> Result<Vec<SegmentSummary>> {
        let rows = sqlx::query("SELECT scheme, segment, members, orders, monetary_minor, expected_purchases, clv_minor, p_alive_sum FROM insight_segments WHERE run_id = $1 AND scheme = $2 ORDER BY segment")
            .bind(run.run_id).bind(scheme.to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(SegmentSummary {
                    scheme: r.try_get("scheme")?,
                    segment: r.try_get("segment")?,
                    members: r.try_get("members")?,
                    orders: r.try_get("orders")?,
                    monetary_minor: r.try_get("monetary_minor")?,
                    expected_purchases: r.try_get("expected_purchases")?,
                    clv_minor: r.try_get("clv_minor")?,
                    p_alive_sum: r.try_get("p_alive_sum")?,
                })
            })
            .collect()
    }

    async fn segment_members(
        &self,
        run: &InsightRun,
        column: SegmentColumn,
        segment: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MemberInsight>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {INSIGHT_COLS} FROM member_insight WHERE slot = "));
        qb.push_bind(run.slot).push(format!(" AND {} = ", column.column())).push_bind(segment.to_owned());
        qb.push(" AND member_id > ").push_bind(after.unwrap_or("").to_owned());
        qb.push(" AND run_id = ").push_bind(run.run_id).push(" ORDER BY member_id LIMIT ").push_bind(limit);
        insight_rows(&mut qb, &self.pool).await
    }

    async fn insight_page(&self, run: &InsightRun, after: Option<&str>, limit: i64) -> Result<Vec<MemberInsight>> {
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new(format!("SELECT {INSIGHT_COLS} FROM member_insight WHERE member_id > "));
        qb.push_bind(after.unwrap_or("").to_owned()).push(" AND slot = ").push_bind(run.slot);
        qb.push(" AND run_id = ").push_bind(run.run_id).push(" ORDER BY member_id LIMIT ").push_bind(limit);
        insight_rows(&mut qb, &self.pool).await
    }

    async fn insight_models(&self, run: &InsightRun) -> Result<Vec<ModelFit>> {
        let rows = sqlx::query("SELECT model, params, log_likelihood, iterations, converged, members, detail FROM insight_models WHERE run_id = $1 ORDER BY model")
            .bind(run.run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ModelFit {
                    model: r.try_get("model")?,
                    params: r.try_get("params")?,
                    log_likelihood: r.try_get("log_likelihood")?,
                    iterations: r.try_get("iterations")?,
                    converged: r.try_get::<i64, _>("converged")? != 0,
                    members: r.try_get("members")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn order_windows(&self, windows: &[Window]) -> Result<Vec<OrderWindow>> {
        // CROSS JOIN keeps orders the outer loop on SQLite: one scan against the window list.
        let mut qb = with_windows(windows)?;
        qb.push(format!(
            ", mb AS (SELECT w.k AS k, MIN(w.s) AS s, o.member_id AS member_id, COUNT(*) AS n, \
             CAST(SUM(o.total_minor) AS BIGINT) AS paid, CAST(SUM(o.refunded_minor) AS BIGINT) AS refunded \
             FROM orders o CROSS JOIN w WHERE {range} AND o.paid_at >= w.s AND o.paid_at < w.e GROUP BY w.k, o.member_id) \
             SELECT k, COUNT(*) AS buyers, CAST(SUM(n) AS BIGINT) AS orders, CAST(SUM(paid) AS BIGINT) AS paid, \
             CAST(SUM(refunded) AS BIGINT) AS refunded, \
             CAST(SUM(CASE WHEN n >= 2 OR EXISTS (SELECT 1 FROM orders p WHERE p.member_id = mb.member_id AND p.paid_at < mb.s) THEN 1 ELSE 0 END) AS BIGINT) AS repeat_buyers \
             FROM mb GROUP BY k ORDER BY k",
            range = within("o.paid_at", windows)
        ));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(OrderWindow {
                    k: k_of(r)?,
                    buyers: r.try_get("buyers")?,
                    orders: r.try_get("orders")?,
                    paid_minor: r.try_get("paid")?,
                    refunded_minor: r.try_get("refunded")?,
                    repeat_buyers: r.try_get("repeat_buyers")?,
                })
            })
            .collect()
    }

    async fn lapsed_buyers(&self, windows: &[Window]) -> Result<Vec<(usize, i64)>> {
        let mut qb = with_windows(windows)?;
        qb.push(format!(
            ", mb AS MATERIALIZED (SELECT DISTINCT w.k AS k, o.member_id AS member_id \
             FROM orders o CROSS JOIN w WHERE {range} AND o.paid_at >= w.s AND o.paid_at < w.e) \
             SELECT a.k + 1 AS k, COUNT(*) AS lapsed FROM mb a \
             WHERE a.k + 1 < ",
            range = within("o.paid_at", windows)
        ));
        qb.push(format!(
            "{} AND NOT EXISTS (SELECT 1 FROM mb b WHERE b.k = a.k + 1 AND b.member_id = a.member_id) \
             GROUP BY a.k ORDER BY a.k",
            windows.len()
        ));
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((k_of(r)?, r.try_get("lapsed")?))).collect()
    }

    async fn entry_flows(&self, windows: &[Window]) -> Result<Vec<EntryFlow>> {
        let mut qb = with_windows(windows)?;
        qb.push(
            "SELECT w.k AS k, e.kind AS kind, CAST(SUM(CASE WHEN e.points > 0 THEN e.points ELSE 0 END) AS BIGINT) AS credited, \
             CAST(SUM(CASE WHEN e.points < 0 THEN -e.points ELSE 0 END) AS BIGINT) AS debited \
             FROM entries e CROSS JOIN w WHERE e.at >= w.s AND e.at < w.e GROUP BY w.k, e.kind ORDER BY w.k, e.kind",
        );
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(EntryFlow {
                    k: k_of(r)?,
                    kind: r.try_get("kind")?,
                    credited: r.try_get("credited")?,
                    debited: r.try_get("debited")?,
                })
            })
            .collect()
    }

    async fn registrations(&self, windows: &[Window]) -> Result<Vec<Registrations>> {
        let mut qb = with_windows(windows)?;
        qb.push(
            "SELECT w.k AS k, COALESCE(m.tier, 'base') AS tier, COUNT(*) AS members FROM members m CROSS JOIN w \
             WHERE m.registered_at >= w.s AND m.registered_at < w.e GROUP BY w.k, COALESCE(m.tier, 'base') ORDER BY w.k",
        );
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok(Registrations { k: k_of(r)?, tier: r.try_get("tier")?, members: r.try_get("members")? }))
            .collect()
    }

    async fn refund_windows(&self, windows: &[Window]) -> Result<Vec<RefundWindow>> {
        let mut qb = with_windows(windows)?;
        qb.push(
            "SELECT w.k AS k, COUNT(*) AS refunds, CAST(SUM(r.amount_minor) AS BIGINT) AS amount_minor FROM refunds r CROSS JOIN w \
             WHERE r.refunded_at >= w.s AND r.refunded_at < w.e GROUP BY w.k ORDER BY w.k",
        );
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(RefundWindow {
                    k: k_of(r)?,
                    refunds: r.try_get("refunds")?,
                    amount_minor: r.try_get("amount_minor")?,
                })
            })
            .collect()
    }

    async fn balance_totals(&self) -> Result<BalanceTotals> {
        let r = sqlx::query(
            "SELECT COUNT(*) AS members, CAST(COALESCE(SUM(pending), 0) AS BIGINT) AS pending, CAST(COALESCE(SUM(active), 0) AS BIGINT) AS active, \
             CAST(COALESCE(SUM(held), 0) AS BIGINT) AS held, CAST(COALESCE(SUM(debt), 0) AS BIGINT) AS debt FROM members",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(BalanceTotals {
            members: r.try_get("members")?,
            pending: r.try_get("pending")?,
            active: r.try_get("active")?,
            held: r.try_get("held")?,
            debt: r.try_get("debt")?,
        })
    }
}
