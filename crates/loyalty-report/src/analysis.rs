//! One insight computation, pure: members' order activity in, every member's RFM, segments,
//! stage and predictions out, with segment totals, the model fits and a summary. No I/O, no
//! clock reads (the caller passes the analysis instant); the stages are timed for benchmarks.

use crate::config::{InsightConfig, Scheme};
use crate::models::{self, Models, Prediction, TIME_UNIT};
use jiff::Timestamp;
use loyalty_insight::lifecycle::{self, LifecycleStage};
use loyalty_insight::rfm::{self, MemberSummary, RfmScores};
use loyalty_insight::segments::{score_segments, value_segments, ScoreSegment, ValueSegment};
use loyalty_insight::InsightError;
use loyalty_store::analytics::{MemberActivity, MemberInsight, ModelFit, SegmentSummary};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Bins of the P(alive) histogram over [0, 1].
pub const P_ALIVE_BINS: usize = 20;

/// The 8-segment means over buyers, as the run computed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Means {
    pub buyers: u64,
    pub recency_days: f64,
    pub frequency: f64,
    pub monetary_minor: f64,
}

/// What a run records besides member rows (stored as JSON with the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    pub time_unit: String,
    pub horizon_days: u32,
    pub value_means: Option<Means>,
    /// Buyers with a P(alive) in each of 20 equal bins over [0, 1].
    pub p_alive_histogram: Vec<u64>,
    /// Milliseconds per stage: read, summaries, rfm, segments, fit, predict, lifecycle, write.
    pub timings_ms: BTreeMap<String, f64>,
    /// Buyers whose expected purchases could not be computed (left null).
    pub predictions_unavailable: u64,
    pub error: Option<String>,
}

/// Everything one computation produced.
pub struct Analysis {
    pub summaries: Vec<MemberSummary>,
    pub scores: Vec<Option<RfmScores>>,
    pub value: Vec<ValueSegment>,
    pub score: Vec<ScoreSegment>,
    pub stages: Vec<LifecycleStage>,
    pub predictions: Vec<Prediction>,
    pub models: Vec<ModelFit>,
    pub summary: RunSummary,
}

impl Analysis {
    pub fn buyers(&self) -> usize {
        self.summaries.iter().filter(|s| s.is_buyer()).count()
    }
}

/// R, F and M as of `at` over the window starting at `window_start`, per member.
pub fn summaries(activity: &[MemberActivity], at: Timestamp) -> Vec<MemberSummary> {
    let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    activity
        .iter()
        .map(|a| MemberSummary {
            member_id: a.member_id.clone(),
            recency_days: a.window_last_paid_at.filter(|_| a.window_orders > 0).map(|t| models::whole_days(at, t)),
            frequency: count(a.window_orders),
            monetary_minor: a.window_net_minor,
            first_order_age_days: a.first_paid_at.map(|t| models::whole_days(at, t)),
        })
        .collect()
}

fn timed<T>(timings: &mut BTreeMap<String, f64>, stage: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    timings.insert(stage.to_owned(), started.elapsed().as_secs_f64() * 1e3);
    out
}

/// Runs the whole computation for members' activity as of `at`.
pub fn analyse(activity: &[MemberActivity], at: Timestamp, config: &InsightConfig) -> Result<Analysis, InsightError> {
    let mut t = BTreeMap::new();
    let summaries = timed(&mut t, "summaries", || summaries(activity, at));
    let scores = timed(&mut t, "rfm", || rfm::score(&summaries, &config.rfm))?;
    let (value, score) =
        timed(&mut t, "segments", || value_segments(&summaries).map(|v| (v, score_segments(&scores))))?;
    let histories: Vec<_> =
        timed(&mut t, "histories", || activity.iter().map(|a| models::history(a, at)).collect::<Result<_, _>>())?;
    let fitted: Models = timed(&mut t, "fit", || models::fit(&histories, activity, config));
    let predictions = timed(&mut t, "predict", || models::predict(&fitted, &histories, activity, config));
    let p_alive: Vec<f64> = predictions.iter().map(|p| p.p_alive.unwrap_or(1.0)).collect();
    let stages = timed(&mut t, "lifecycle", || lifecycle::stages(&summaries, Some(&p_alive), &config.lifecycle))?;
    let summary = RunSummary {
        time_unit: TIME_UNIT.into(),
        horizon_days: config.horizon_days,
        value_means: value.thresholds.map(|m| Means {
            buyers: m.buyers,
            recency_days: m.mean_recency_days,
            frequency: m.mean_frequency,
            monetary_minor: m.mean_monetary_minor,
        }),
        p_alive_histogram: histogram(&predictions),
        timings_ms: t,
        predictions_unavailable: predictions
            .iter()
            .filter(|p| p.p_alive.is_some() && p.expected_purchases.is_none())
            .count() as u64,
        error: None,
    };
    let models = models::records(&fitted);
    Ok(Analysis { summaries, scores, value: value.segments, score, stages, predictions, models, summary })
}

fn histogram(predictions: &[Prediction]) -> Vec<u64> {
    let mut bins = vec![0_u64; P_ALIVE_BINS];
    for p in predictions.iter().filter_map(|p| p.p_alive) {
        let i = ((p * P_ALIVE_BINS as f64) as usize).min(P_ALIVE_BINS - 1);
        bins[i] += 1;
    }
    bins
}

impl Analysis {
    /// The stored row of member `i`.
    pub fn row(&self, i: usize, activity: &MemberActivity, run_id: i64) -> MemberInsight {
        let (s, p) = (&self.summaries[i], &self.predictions[i]);
        let days = |d: Option<u32>| d.map(i64::from);
        MemberInsight {
            member_id: s.member_id.to_string(),
            run_id,
            recency_days: days(s.recency_days),
            frequency: i64::from(s.frequency),
            monetary_minor: s.monetary_minor,
            first_order_age_days: days(s.first_order_age_days),
            orders_total: activity.orders,
            repeat_purchases: (activity.order_days - 1).max(0),
            scores: self.scores[i].map(|s| [s.r, s.f, s.m].map(i64::from)),
            value_segment: self.value[i].code().to_owned(),
            score_segment: self.score[i].code().to_owned(),
            stage: self.stages[i].code().to_owned(),
            p_alive: p.p_alive,
            expected_purchases: p.expected_purchases,
            expected_order_value_minor: p.expected_order_value,
            clv_minor: p.clv,
        }
    }

    /// Members and totals of every segment of every scheme (empty segments included).
    pub fn segment_summaries(&self) -> Vec<SegmentSummary> {
        let mut out = Vec::new();
        for scheme in Scheme::ALL {
            let mut by_code: HashMap<&str, SegmentSummary> = HashMap::new();
            for (i, s) in self.summaries.iter().enumerate() {
                let code = match scheme {
                    Scheme::Value => self.value[i].code(),
                    Scheme::Score => self.score[i].code(),
                    Scheme::Lifecycle => self.stages[i].code(),
                };
                let e = by_code.entry(code).or_default();
                let p = &self.predictions[i];
                e.members += 1;
                e.orders += i64::from(s.frequency);
                e.monetary_minor += s.monetary_minor;
                e.expected_purchases += p.expected_purchases.unwrap_or(0.0);
                e.clv_minor += p.clv.unwrap_or(0.0);
                e.p_alive_sum += p.p_alive.unwrap_or(0.0);
            }
            for (code, _) in scheme.segments() {
                let mut s = by_code.remove(code).unwrap_or_default();
                s.scheme = scheme.as_str().to_owned();
                s.segment = code.to_owned();
                out.push(s);
            }
        }
        out
    }
}
