//! The paid-membership report's reads on this backend (see `crate::membership_facts`).

use super::analytics::{with_windows, within};
use super::dialect::*;
use crate::analytics::{check_windows, unpack_months, Window};
use crate::convert::{corrupt, micros, Cells, Packed};
use crate::membership_facts::*;
use crate::Result;
use jiff::Timestamp;
use sqlx::Row;

/// `AND member_id <= $n` when the range has an upper bound.
fn through(q: &FactsQuery, n: usize) -> String {
    if q.through.is_some() {
        format!(" AND member_id <= ${n}")
    } else {
        String::new()
    }
}

/// One packed statement over the range: `$1` is the lower bound, `$2` the upper one when there is
/// one, then `args`.
async fn packed(
    pool: &sqlx::Pool<Db>,
    q: &FactsQuery,
    cols: &'static str,
    table: &'static str,
    inner: &str,
    args: &[i64],
) -> Result<Packed> {
    let sql = format!("SELECT CAST({PACK}{cols})) AS TEXT) AS packed FROM ({inner}) AS p");
    let mut query = sqlx::query(&sql).bind(q.after.clone().unwrap_or_default());
    if let Some(t) = &q.through {
        query = query.bind(t.clone());
    }
    for a in args {
        query = query.bind(*a);
    }
    let text: Option<String> = query.fetch_one(pool).await?.try_get("packed")?;
    Packed::parse(Packed::names(cols), table, text.as_deref())
}

impl StoreImpl {
    /// A range read through the pool (PostgreSQL, and SQLite in memory): four statements, each
    /// answering one text, sorted and merged in Rust, since the database's collation need not
    /// be byte order.
    async fn member_facts_pooled(&self, q: &FactsQuery) -> Result<Vec<MemberFacts>> {
        let n = if q.through.is_some() { 3 } else { 2 };
        let at = micros(q.at);
        let inner = format!(
            "SELECT member_id, COALESCE(tier, '') AS tier FROM members WHERE member_id > $1{} AND registered_at <= ${n}",
            through(q, 2)
        );
        let rows = packed(&self.pool, q, "member_id, tier", "members", &inner, &[at]).await?;
        let mut members =
            rows.rows().map(|r| Ok((r.text("member_id")?, r.text("tier")?))).collect::<Result<Vec<_>>>()?;
        members.sort_unstable();
        let mut segments = Vec::new();
        if let Some((slot, run)) = q.run {
            let inner = format!(
                "SELECT member_id, value_segment FROM member_insight WHERE member_id > $1{} AND slot = ${n} AND run_id = ${}",
                through(q, 2),
                n + 1
            );
            let rows =
                packed(&self.pool, q, "member_id, value_segment", "member_insight", &inner, &[slot, run]).await?;
            segments =
                rows.rows().map(|r| Ok((r.text("member_id")?, r.text("value_segment")?))).collect::<Result<_>>()?;
            segments.sort_unstable();
        }
        let inner = format!("SELECT {TERM_SELECT} FROM membership_terms WHERE member_id > $1{}", through(q, 2));
        let rows = packed(&self.pool, q, TERM_COLS, "membership_terms", &inner, &[]).await?;
        let mut terms = rows
            .rows()
            .map(|r| {
                let term = report_term(
                    (r.text("plan")?, r.text("tier")?, r.opt_text("segment")?),
                    [r.i64("trial")?, r.i64("paid_minor")?, r.i64("refunded_minor")?, r.i64("refunded")?],
                    (r.i64("starts_at")?, r.i64("ends_at")?, r.opt_i64("ended_at")?),
                )?;
                Ok((r.text("member_id")?, term))
            })
            .collect::<Result<Vec<_>>>()?;
        terms.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.starts_at.cmp(&b.1.starts_at)));
        if q.grid.months() == 0 {
            // No month to sum into: the logs need not be read at all.
            return Ok(merge_facts(members, segments, terms, Vec::new()));
        }
        let logs_sql =
            format!("SELECT string_agg(log, '') AS packed FROM member_activity WHERE member_id > $1{}", through(q, 2));
        let mut logs = sqlx::query(&logs_sql).bind(q.after.clone().unwrap_or_default());
        if let Some(t) = &q.through {
            logs = logs.bind(t.clone());
        }
        let text: Option<String> = logs.fetch_one(&self.pool).await?.try_get("packed")?;
        let grid = q.grid.clone();
        let spend = tokio::task::spawn_blocking(move || unpack_months(text.as_deref().unwrap_or(""), &grid, at))
            .await
            .map_err(|e| corrupt("member_activity", format!("parsing a range failed: {e}")))??;
        Ok(merge_facts(members, segments, terms, spend))
    }
}

#[async_trait::async_trait]
impl MembershipFacts for StoreImpl {
    async fn member_facts(&self, q: &FactsQuery) -> Result<Vec<MemberFacts>> {
        // A SQLite file is read on connections of its own, rows stepped in key order.
        if let Some(read) = self.member_facts_direct(q).await {
            return read;
        }
        self.member_facts_pooled(q).await
    }

    async fn membership_lapses(&self, from: Timestamp, to: Timestamp) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT member_id, plan FROM membership_events \
             WHERE at >= $1 AND at < $2 AND kind IN ('lapsed', 'refunded')",
        )
        .bind(micros(from))
        .bind(micros(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("member_id")?, r.try_get("plan")?))).collect()
    }

    async fn membership_windows(&self, windows: &[Window]) -> Result<Vec<MembershipWindow>> {
        check_windows(windows)?;
        let mut out: Vec<MembershipWindow> =
            (0..windows.len()).map(|k| MembershipWindow { k, ..Default::default() }).collect();
        if windows.is_empty() {
            return Ok(out);
        }
        let lo = windows.iter().map(|w| micros(w.start)).min().unwrap_or(0);
        let hi = windows.iter().map(|w| micros(w.end)).max().unwrap_or(0);
        // A term gives benefits over [starts_at, fin), `fin` being its end or the instant a refund
        // or an upgrade cut it; one refunded before it began gives nothing (fin = starts_at).
        let mut qb = with_windows(windows)?;
        qb.push(format!(
            ", t AS (SELECT member_id, starts_at, CASE WHEN ended_at IS NOT NULL AND ended_at < ends_at \
             THEN ended_at ELSE ends_at END AS fin FROM membership_terms WHERE trial = 0 AND starts_at < {hi} \
             AND ends_at > {lo}) SELECT w.k AS k, COUNT(DISTINCT t.member_id) AS n FROM t CROSS JOIN w \
             WHERE t.starts_at < w.e AND t.fin > w.s AND t.fin > t.starts_at GROUP BY w.k"
        ));
        for r in qb.build().fetch_all(&self.pool).await? {
            out[k_of(&r)?].paid_members = r.try_get("n")?;
        }
        let mut qb = with_windows(windows)?;
        qb.push(
            ", f AS (SELECT member_id, MIN(starts_at) AS first FROM membership_terms WHERE trial = 0 AND \
             (ended_at IS NULL OR ended_at > starts_at) GROUP BY member_id) \
             SELECT w.k AS k, COUNT(*) AS n FROM f CROSS JOIN w WHERE f.first >= w.s AND f.first < w.e GROUP BY w.k",
        );
        for r in qb.build().fetch_all(&self.pool).await? {
            out[k_of(&r)?].new_paid_members = r.try_get("n")?;
        }
        let mut qb = with_windows(windows)?;
        qb.push(format!(
            "SELECT w.k AS k, CAST(SUM(t.paid_minor - t.refunded_minor) AS BIGINT) AS n FROM membership_terms t \
             CROSS JOIN w WHERE {} AND t.starts_at >= w.s AND t.starts_at < w.e GROUP BY w.k",
            within("t.starts_at", windows)
        ));
        for r in qb.build().fetch_all(&self.pool).await? {
            out[k_of(&r)?].fees_minor = r.try_get("n")?;
        }
        let mut qb = with_windows(windows)?;
        qb.push(format!(
            "SELECT w.k AS k, CAST(SUM(b.value_minor) AS BIGINT) AS n FROM benefit_uses b CROSS JOIN w \
             WHERE b.plan IS NOT NULL AND {} AND b.used_at >= w.s AND b.used_at < w.e GROUP BY w.k",
            within("b.used_at", windows)
        ));
        for r in qb.build().fetch_all(&self.pool).await? {
            out[k_of(&r)?].plan_benefit_cost_minor = r.try_get("n")?;
        }
        Ok(out)
    }
}

fn k_of(r: &<Db as sqlx::Database>::Row) -> Result<usize> {
    usize::try_from(r.try_get::<i64, _>("k")?).map_err(|_| corrupt("windows", "negative window index"))
}
