//! `crate::usage` on this backend.

use super::dialect::*;

#[async_trait::async_trait]
impl crate::usage::BenefitUsage for StoreImpl {
    async fn benefit_usage(&self, q: &crate::usage::UsageQuery) -> crate::Result<crate::usage::UsageReport> {
        use crate::usage::{UsageReport, UsageRow, MAX_USAGE_ROWS};
        use sqlx::{QueryBuilder, Row};
        // Sums are cast back to BIGINT: PostgreSQL widens SUM(bigint) to numeric.
        let select = |by_tier: bool| {
            let group = if by_tier { "benefit, tier" } else { "benefit" };
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT {group}, COUNT(*) AS uses, COUNT(DISTINCT member_id) AS members, \
                 CAST(SUM(value_minor) AS BIGINT) AS value_minor, CAST(SUM(extra_points) AS BIGINT) AS extra_points \
                 FROM benefit_uses WHERE used_at >= "
            ));
            qb.push_bind(crate::convert::micros(q.from))
                .push(" AND used_at < ")
                .push_bind(crate::convert::micros(q.to));
            if let Some(t) = &q.tier {
                qb.push(" AND tier = ").push_bind(t.clone());
            }
            qb.push(format!(" GROUP BY {group} ORDER BY {group} LIMIT {MAX_USAGE_ROWS}"));
            qb
        };
        let row = |r: &<Db as sqlx::Database>::Row, by_tier: bool| -> crate::Result<UsageRow> {
            Ok(UsageRow {
                benefit: r.try_get("benefit")?,
                tier: if by_tier { Some(r.try_get("tier")?) } else { None },
                uses: r.try_get("uses")?,
                members: r.try_get("members")?,
                value_minor: r.try_get("value_minor")?,
                extra_points: r.try_get("extra_points")?,
            })
        };
        let mut report = UsageReport::default();
        for r in select(true).build().fetch_all(&self.pool).await? {
            report.by_tier.push(row(&r, true)?);
        }
        for r in select(false).build().fetch_all(&self.pool).await? {
            report.by_benefit.push(row(&r, false)?);
        }
        Ok(report)
    }
}
