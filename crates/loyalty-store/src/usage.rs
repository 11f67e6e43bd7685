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
