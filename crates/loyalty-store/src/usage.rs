//! Benefit usage and cost over a time range (`benefit_uses`), implemented for both backends
//! from one body of SQL like the rest of the store.

use async_trait::async_trait;
use jiff::Timestamp;

/// Which uses to count: `from ≤ used_at < to`, optionally one tier.
#[derive(Debug, Clone)]
pub struct UsageQuery {
    pub from: Timestamp,
    pub to: Timestamp,
    pub tier: Option<String>,
}

/// One benefit's usage, for one tier or (`tier` = None) across tiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub benefit: String,
    pub tier: Option<String>,
    /// Orders (or free-sample claims) that used it.
    pub uses: i64,
    /// Distinct members among them.
    pub members: i64,
    pub value_minor: i64,
    pub extra_points: i64,
}

/// Usage per benefit and tier, and per benefit across the tiers asked for.
#[derive(Debug, Clone, Default)]
pub struct UsageReport {
    pub by_tier: Vec<UsageRow>,
    pub by_benefit: Vec<UsageRow>,
}

/// Most groups one report returns (benefit codes × tiers; category and brand discounts are
/// one code each).
pub const MAX_USAGE_ROWS: i64 = 10_000;

#[async_trait]
pub trait BenefitUsage: Send + Sync {
    async fn benefit_usage(&self, q: &UsageQuery) -> crate::Result<UsageReport>;
}

macro_rules! usage_sql {
    ($store:ident, $db:ty) => {
        #[async_trait::async_trait]
        impl crate::usage::BenefitUsage for $store {
            async fn benefit_usage(&self, q: &crate::usage::UsageQuery) -> crate::Result<crate::usage::UsageReport> {
                use crate::usage::{UsageReport, UsageRow, MAX_USAGE_ROWS};
                use sqlx::{QueryBuilder, Row};
                // Sums are cast back to BIGINT: PostgreSQL widens SUM(bigint) to numeric.
                let select = |by_tier: bool| {
                    let group = if by_tier { "benefit, tier" } else { "benefit" };
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "SELECT {group}, COUNT(*) AS uses, COUNT(DISTINCT member_id) AS members, \
                         CAST(SUM(value_minor) AS BIGINT) AS value_minor, CAST(SUM(extra_points) AS BIGINT) AS extra_points \
                         FROM benefit_uses WHERE used_at >= "
                    ));
                    qb.push_bind(crate::convert::micros(q.from)).push(" AND used_at < ").push_bind(crate::convert::micros(q.to));
                    if let Some(t) = &q.tier {
                        qb.push(" AND tier = ").push_bind(t.clone());
                    }
                    qb.push(format!(" GROUP BY {group} ORDER BY {group} LIMIT {MAX_USAGE_ROWS}"));
                    qb
                };
                let row = |r: &<$db as sqlx::Database>::Row, by_tier: bool| -> crate::Result<UsageRow> {
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
    };
}

pub(crate) use usage_sql;
