//! The values the analytics reads return and the insight writes take.

use jiff::Timestamp;

/// One range of per-member order activity as of `at`: the members with ids in
/// (`after`, `through`], ascending.
#[derive(Debug, Clone)]
pub struct ActivityQuery {
    pub at: Timestamp,
    /// Orders paid at or after this instant (and at or before `at`) are "in the window".
    pub window_start: Timestamp,
    pub after: Option<String>,
    /// Only members with ids up to this one (inclusive), when given.
    pub through: Option<String>,
    /// The range's members registered by `at`, when the store has already read them with the
    /// range's bounds ([`super::Analytics::activity_ranges`]); the store reads them otherwise.
    pub registered: Option<super::Registered>,
}

/// One range of members to read: ids in (`after`, `through`] (no upper bound when `through` is
/// `None`), and the range's members registered by the analysis instant when already known.
#[derive(Debug, Clone)]
pub struct ActivityRange {
    pub after: Option<String>,
    pub through: Option<String>,
    pub registered: Option<super::Registered>,
}

/// A member's paid orders up to the analysis instant. Amounts are paid minus refunded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberActivity {
    pub member_id: std::sync::Arc<str>,
    pub orders: i64,
    /// Distinct whole days, counted back from the analysis instant, with an order.
    pub order_days: i64,
    pub first_paid_at: Option<Timestamp>,
    pub last_paid_at: Option<Timestamp>,
    pub net_minor: i64,
    /// What the orders of the first order day (the oldest of `order_days`) paid, net: the part
    /// of `net_minor` that is not a repeat purchase.
    pub first_day_net_minor: i64,
    pub window_orders: i64,
    pub window_last_paid_at: Option<Timestamp>,
    pub window_net_minor: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InsightRun {
    pub run_id: i64,
    pub slot: i64,
    pub status: String,
    pub at: Timestamp,
    pub window_days: i64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub members: i64,
    pub buyers: i64,
    pub config: String,
    pub summary: String,
}

/// What one run computed for one member.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemberInsight {
    pub member_id: String,
    pub run_id: i64,
    pub recency_days: Option<i64>,
    pub frequency: i64,
    pub monetary_minor: i64,
    pub first_order_age_days: Option<i64>,
    pub orders_total: i64,
    pub repeat_purchases: i64,
    pub scores: Option<[i64; 3]>,
    pub value_segment: String,
    pub score_segment: String,
    pub stage: String,
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub expected_order_value_minor: Option<f64>,
    pub clv_minor: Option<f64>,
}

/// A segment of one scheme with its members and totals.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentSummary {
    pub scheme: String,
    pub segment: String,
    pub members: i64,
    pub orders: i64,
    pub monetary_minor: i64,
    pub expected_purchases: f64,
    pub clv_minor: f64,
    pub p_alive_sum: f64,
}

/// A fitted model as stored; `params` (JSON) is `None` when the fit failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFit {
    pub model: String,
    pub params: Option<String>,
    pub log_likelihood: Option<f64>,
    pub iterations: i64,
    pub converged: bool,
    pub members: i64,
    pub detail: String,
}

/// The column a segment listing selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentColumn {
    Value,
    Score,
    Stage,
}

impl SegmentColumn {
    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Value => "value_segment",
            Self::Score => "score_segment",
            Self::Stage => "stage",
        }
    }
}

/// A half-open time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Paid orders in window `k`: `paid_minor` is what was paid, `refunded_minor` what of it has
/// been refunded since; a repeat buyer has two orders in the window or one before it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderWindow {
    pub k: usize,
    pub buyers: i64,
    pub orders: i64,
    pub paid_minor: i64,
    pub refunded_minor: i64,
    pub repeat_buyers: i64,
}

/// Ledger entries of one kind in window `k`: points credited (positive) and debited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFlow {
    pub k: usize,
    pub kind: String,
    pub credited: i64,
    pub debited: i64,
}

/// Members registered in window `k`, by current tier (`base` for none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrations {
    pub k: usize,
    pub tier: String,
    pub members: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefundWindow {
    pub k: usize,
    pub refunds: i64,
    pub amount_minor: i64,
}

/// Σ of the members' stored balances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BalanceTotals {
    pub members: i64,
    pub pending: i64,
    pub active: i64,
    pub held: i64,
    pub debt: i64,
}

/// What a finished run leaves besides its member rows.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub members: i64,
    pub buyers: i64,
    pub summary: String,
    pub segments: Vec<SegmentSummary>,
    pub models: Vec<ModelFit>,
}
