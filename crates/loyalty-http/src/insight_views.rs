//! What the insight endpoints return.

use jiff::tz::TimeZone;
use loyalty_report::analysis::RunSummary;
use loyalty_report::config::{InsightConfig, Scheme};
use loyalty_report::kpi::{KpiPeriod, LedgerCheck};
use loyalty_store::analytics::{InsightRun, MemberInsight, ModelFit, SegmentSummary};
use serde::Serialize;
use utoipa::ToSchema;

/// The run results come from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunView {
    pub run_id: i64,
    /// The analysis instant.
    pub at: String,
    pub window_days: i64,
    pub finished_at: Option<String>,
    pub members: i64,
    pub buyers: i64,
}

impl RunView {
    pub fn new(r: &InsightRun, tz: &TimeZone) -> Self {
        Self {
            run_id: r.run_id,
            at: crate::views::rfc3339(r.at, tz),
            window_days: r.window_days,
            finished_at: r.finished_at.map(|t| crate::views::rfc3339(t, tz)),
            members: r.members,
            buyers: r.buyers,
        }
    }
}

/// A segment code with its Chinese name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentRef {
    pub code: String,
    pub label: String,
}

impl SegmentRef {
    fn new(scheme: Scheme, code: &str) -> Self {
        Self { code: code.to_owned(), label: scheme.label(code).unwrap_or("").to_owned() }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Scores {
    pub r: i64,
    pub f: i64,
    pub m: i64,
    /// ⌊(F + M + 1) / 2⌋.
    pub fm: i64,
}

/// A member's RFM, segments, stage and predictions from the latest run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberInsightView {
    pub member_id: String,
    pub run_id: i64,
    /// Whole days since the last paid order in the window; null without one.
    pub recency_days: Option<i64>,
    /// Paid orders in the window.
    pub frequency: i64,
    /// Paid minus refunded in the window, minor units.
    pub monetary_minor: i64,
    pub first_order_age_days: Option<i64>,
    pub orders_total: i64,
    /// Purchase days after the first (the BG/NBD x).
    pub repeat_purchases: i64,
    /// 1–5 each; null for members without an order in the window.
    pub scores: Option<Scores>,
    pub value_segment: SegmentRef,
    pub score_segment: SegmentRef,
    pub stage: SegmentRef,
    /// Probability the member is still a customer (BG/NBD); null when not fitted.
    pub p_alive: Option<f64>,
    /// Expected purchase days in the next `horizon_days`.
    pub expected_purchases: Option<f64>,
    pub horizon_days: u32,
    /// Expected value of one future order (Gamma-Gamma), minor units.
    pub expected_order_value_minor: Option<f64>,
    /// Discounted expected value over the CLV horizon, minor units.
    pub clv_minor: Option<f64>,
}

impl MemberInsightView {
    pub fn new(m: &MemberInsight, horizon_days: u32) -> Self {
        Self {
            member_id: m.member_id.clone(),
            run_id: m.run_id,
            recency_days: m.recency_days,
            frequency: m.frequency,
            monetary_minor: m.monetary_minor,
            first_order_age_days: m.first_order_age_days,
            orders_total: m.orders_total,
            repeat_purchases: m.repeat_purchases,
            scores: m.scores.map(|[r, f, m]| Scores { r, f, m, fm: (f + m + 1) / 2 }),
            value_segment: SegmentRef::new(Scheme::Value, &m.value_segment),
            score_segment: SegmentRef::new(Scheme::Score, &m.score_segment),
            stage: SegmentRef::new(Scheme::Lifecycle, &m.stage),
            p_alive: m.p_alive,
            expected_purchases: m.expected_purchases,
            horizon_days,
            expected_order_value_minor: m.expected_order_value_minor,
            clv_minor: m.clv_minor,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentView {
    pub code: String,
    pub label: String,
    pub members: i64,
    /// Share of all members, 0–1.
    pub share: f64,
    /// Paid orders in the window, summed over the segment.
    pub orders: i64,
    pub monetary_minor: i64,
    pub average_monetary_minor: Option<i64>,
    pub expected_purchases: f64,
    pub clv_minor: f64,
    pub average_p_alive: Option<f64>,
}

impl SegmentView {
    pub fn new(scheme: Scheme, s: &SegmentSummary, total: i64) -> Self {
        let per = |v: f64| (s.members > 0).then(|| v / s.members as f64);
        Self {
            code: s.segment.clone(),
            label: scheme.label(&s.segment).unwrap_or("").to_owned(),
            members: s.members,
            share: if total > 0 { s.members as f64 / total as f64 } else { 0.0 },
            orders: s.orders,
            monetary_minor: s.monetary_minor,
            average_monetary_minor: (s.members > 0).then(|| s.monetary_minor / s.members),
            expected_purchases: s.expected_purchases,
            clv_minor: s.clv_minor,
            average_p_alive: per(s.p_alive_sum),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SegmentsView {
    pub scheme: Scheme,
    pub run: RunView,
    pub members: i64,
    pub segments: Vec<SegmentView>,
}

/// A page of members; pass `next_cursor` as `cursor` for the next one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MembersPage {
    pub items: Vec<MemberInsightView>,
    pub next_cursor: Option<String>,
}

/// One fitted model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelView {
    pub model: String,
    pub fitted: bool,
    /// The fitted parameters; null when the model could not be fitted (`detail` says why).
    #[schema(value_type = Option<Object>)]
    pub params: Option<serde_json::Value>,
    pub log_likelihood: Option<f64>,
    pub iterations: i64,
    pub converged: bool,
    pub members: i64,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl ModelView {
    pub fn new(m: &ModelFit) -> Self {
        let parse = |s: &str| serde_json::from_str(s).unwrap_or(serde_json::Value::Null);
        Self {
            model: m.model.clone(),
            fitted: m.params.is_some(),
            params: m.params.as_deref().map(parse),
            log_likelihood: m.log_likelihood,
            iterations: m.iterations,
            converged: m.converged,
            members: m.members,
            detail: parse(&m.detail),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClvModelView {
    pub run: RunView,
    /// The unit of the BG/NBD times (α is per this unit).
    pub time_unit: String,
    pub horizon_days: u32,
    pub bgnbd: Option<ModelView>,
    pub gamma_gamma: Option<ModelView>,
    #[schema(value_type = Object)]
    pub clv: serde_json::Value,
}

impl ClvModelView {
    pub fn new(run: &InsightRun, models: &[ModelFit], tz: &TimeZone) -> Self {
        let config: InsightConfig = serde_json::from_str(&run.config).unwrap_or_default();
        let summary: RunSummary = serde_json::from_str(&run.summary).unwrap_or_default();
        let find = |name: &str| models.iter().find(|m| m.model == name).map(ModelView::new);
        Self {
            run: RunView::new(run, tz),
            time_unit: if summary.time_unit.is_empty() { "day".into() } else { summary.time_unit },
            horizon_days: config.horizon_days,
            bgnbd: find("bgnbd"),
            gamma_gamma: find("gamma_gamma"),
            clv: serde_json::to_value(config.clv).unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KpiView {
    pub granularity: loyalty_report::kpi::Granularity,
    pub timezone: String,
    pub currency: String,
    pub as_of: String,
    pub periods: Vec<KpiPeriod>,
    pub ledger: LedgerCheck,
}
