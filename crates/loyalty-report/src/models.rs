//! The purchase and spend models over members' histories, and what they predict per member.
//!
//! The time unit is the **day**. A member's history counts distinct days with a paid order,
//! numbered back from the analysis instant (day 0 is the 24 hours before it), so several orders
//! on one day are one purchase, as the BG/NBD paper counts them: x = purchase days − 1,
//! T = the first purchase day's number, tₓ = T − the last purchase day's number. The spend model
//! sees the same purchases: m̄ is the mean net value of the x repeat purchase days, the first
//! purchase day left out.

use crate::config::InsightConfig;
use jiff::Timestamp;
use loyalty_insight::bgnbd::{self, BgNbdFit, BgNbdObservation, BgNbdParams};
use loyalty_insight::clv::{discounted_purchases, ClvConfig};
use loyalty_insight::gamma_gamma::{
    self, expected_average_value, repeat_mean_value, GammaGammaFit, GammaGammaParams, SpendObservation,
};
use loyalty_insight::InsightError;
use loyalty_store::analytics::{MemberActivity, ModelFit};
use std::collections::HashMap;

pub const DAY_MICROS: i64 = 86_400_000_000;
pub const TIME_UNIT: &str = "day";

/// Whole days from `t` to `at` (0 when `t` is in the last 24 hours before `at`).
pub fn whole_days(at: Timestamp, t: Timestamp) -> u32 {
    let days = (at.as_microsecond() - t.as_microsecond()).max(0) / DAY_MICROS;
    u32::try_from(days).unwrap_or(u32::MAX)
}

/// The BG/NBD history of a member who has bought; `None` for one who has not.
pub fn history(a: &MemberActivity, at: Timestamp) -> Result<Option<BgNbdObservation>, InsightError> {
    let (Some(first), Some(last)) = (a.first_paid_at, a.last_paid_at) else { return Ok(None) };
    let days = u32::try_from(a.order_days.max(1)).unwrap_or(u32::MAX);
    let obs = BgNbdObservation::from_history(days, f64::from(whole_days(at, first)), f64::from(whole_days(at, last)))
        .map_err(|e| InsightError::InvalidInput {
        what: "member",
        id: a.member_id.to_string(),
        reason: e.to_string(),
    })?;
    Ok(Some(obs))
}

/// m̄ of the member whose history is `h`: the mean net value of their repeat purchase days, in
/// minor units; `None` without a repeat purchase. May be zero or below when refunds cancel them.
pub fn repeat_mean(h: &BgNbdObservation, a: &MemberActivity) -> Option<f64> {
    repeat_mean_value(h.x(), a.net_minor, a.first_day_net_minor)
}

/// Both fits, each either fitted or the reason it could not be.
pub struct Models {
    pub bgnbd: Result<BgNbdFit, InsightError>,
    pub spend: Result<GammaGammaFit, InsightError>,
}

/// Fits BG/NBD on every buyer's history and Gamma-Gamma on members with a repeat purchase
/// and a positive mean repeat purchase value.
pub fn fit(histories: &[Option<BgNbdObservation>], activity: &[MemberActivity], config: &InsightConfig) -> Models {
    let observed: Vec<BgNbdObservation> = histories.iter().flatten().copied().collect();
    let bgnbd = bgnbd::fit(&observed, &config.fit);
    let spenders: Vec<SpendObservation> = histories
        .iter()
        .zip(activity)
        .filter_map(|(h, a)| {
            let h = h.as_ref()?;
            SpendObservation::new(h.x(), repeat_mean(h, a)?).ok()
        })
        .collect();
    Models { bgnbd, spend: fit_spend(&spenders, config) }
}

/// Gamma-Gamma on mean order values divided by their average, so the optimiser works near 1
/// whatever the currency unit; the model is scale-equivariant (p, q unchanged, γ and E[M] scale,
/// ln L shifts by −n ln s), so the fit is mapped back to minor units exactly.
fn fit_spend(spenders: &[SpendObservation], config: &InsightConfig) -> Result<GammaGammaFit, InsightError> {
    let scale = spenders.iter().map(|o| o.mean_value()).sum::<f64>() / spenders.len().max(1) as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return gamma_gamma::fit(spenders, &config.fit);
    }
    let scaled: Vec<SpendObservation> =
        spenders.iter().map(|o| SpendObservation::new(o.x(), o.mean_value() / scale)).collect::<Result<_, _>>()?;
    let f = gamma_gamma::fit(&scaled, &config.fit)?;
    let p = f.params;
    Ok(GammaGammaFit {
        params: GammaGammaParams::new(p.p(), p.q(), p.v() * scale)?,
        log_likelihood: f.log_likelihood - f.members as f64 * scale.ln(),
        ..f
    })
}

/// What the models predict for one member.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prediction {
    pub p_alive: Option<f64>,
    pub expected_purchases: Option<f64>,
    pub expected_order_value: Option<f64>,
    pub clv: Option<f64>,
}

/// Purchase predictions depend on the history only; members sharing one share the work.
type HistoryKey = (u32, u64, u64);

/// Predictions for every member: none for non-buyers or without a converged purchase model;
/// no order value or CLV without a converged spend model. Two threads share the members.
pub fn predict(
    models: &Models,
    histories: &[Option<BgNbdObservation>],
    activity: &[MemberActivity],
    config: &InsightConfig,
) -> Vec<Prediction> {
    // A fit that ran out of iterations is reported but not used for predictions.
    let Some(purchases) = models.bgnbd.as_ref().ok().filter(|f| f.converged) else {
        return vec![Prediction::default(); histories.len()];
    };
    let spend = models.spend.as_ref().ok().filter(|f| f.converged).map(|f| f.params);
    let model = Model {
        purchases: purchases.params,
        spend: spend.filter(|p| p.population_mean_value().is_ok()),
        horizon: f64::from(config.horizon_days),
        clv: config.clv,
        series_ok: series_affordable(&purchases.params, config),
    };
    if !model.series_ok {
        let p = purchases.params;
        tracing::warn!(
            a = p.a(),
            b = p.b(),
            alpha = p.alpha(),
            "BG/NBD dropout too concentrated to evaluate expected purchases; only P(alive) is predicted"
        );
    }
    let half = histories.len().div_ceil(2).max(1);
    let parts: Vec<Vec<Prediction>> = std::thread::scope(|scope| {
        let handles: Vec<_> = histories
            .chunks(half)
            .zip(activity.chunks(half))
            .map(|(h, a)| scope.spawn(|| model.predict_all(h, a)))
            .collect();
        handles.into_iter().map(|h| h.join().expect("prediction threads do not panic")).collect()
    });
    parts.concat()
}

/// Most terms one ₂F₁ series of E[Y(t)] may need before the predictions are skipped.
const MAX_SERIES_TERMS: f64 = 200_000.0;

/// Whether E[Y(t)] is affordable for every member. Its series needs about
/// (a − 1) · t / (α + T) terms (the transformed form, r < a + b) or (b + x) · t / (α + T) (the
/// direct form), worst for T = 0; a fit with a very concentrated dropout distribution (a and b in
/// the hundreds of thousands: every member drops out with the same p) would need millions per
/// member, hours for a large store, so such a run predicts P(alive) only.
fn series_affordable(p: &BgNbdParams, config: &InsightConfig) -> bool {
    let longest = f64::from(config.horizon_days).max(f64::from(config.clv.steps) * config.clv.step_length);
    let shape = if p.r() < p.a() + p.b() { p.a() } else { p.b() };
    shape * longest / p.alpha() <= MAX_SERIES_TERMS
}

/// The fitted parameters a prediction needs.
struct Model {
    purchases: BgNbdParams,
    spend: Option<GammaGammaParams>,
    horizon: f64,
    clv: ClvConfig,
    series_ok: bool,
}

impl Model {
    /// A prediction that cannot be computed for one history (a series that does not converge at
    /// an extreme horizon) leaves that figure null for that member, not the whole run failed.
    fn predict_all(&self, histories: &[Option<BgNbdObservation>], activity: &[MemberActivity]) -> Vec<Prediction> {
        type Cached = (f64, Option<f64>, Option<f64>);
        let mut cache: HashMap<HistoryKey, Cached> = HashMap::new();
        let mut out = Vec::with_capacity(histories.len());
        for (h, a) in histories.iter().zip(activity) {
            let Some(h) = h else {
                out.push(Prediction::default());
                continue;
            };
            let key = (h.x(), h.t_x().to_bits(), h.age().to_bits());
            let (p_alive, expected, discounted) = *cache.entry(key).or_insert_with(|| {
                let p = bgnbd::p_alive(&self.purchases, h);
                if !self.series_ok {
                    return (p, None, None);
                }
                let expected = bgnbd::expected_purchases(&self.purchases, h, self.horizon).ok();
                (p, expected, discounted_purchases(&self.purchases, h, &self.clv).ok().map(|(_, d)| d))
            });
            // Refunds beyond what the repeat purchases paid are not negative spend; x = 0 ignores m̄.
            let mean = repeat_mean(h, a).unwrap_or(0.0).max(0.0);
            let value = self.spend.and_then(|s| expected_average_value(&s, h.x(), mean).ok());
            out.push(Prediction {
                p_alive: Some(p_alive),
                expected_purchases: expected,
                expected_order_value: value,
                clv: value.zip(discounted).map(|(v, d)| self.clv.margin * v * d),
            });
        }
        out
    }
}

/// The fits as the store keeps them.
pub fn records(models: &Models) -> Vec<ModelFit> {
    let failed = |model: &str, e: &InsightError| ModelFit {
        model: model.to_owned(),
        params: None,
        log_likelihood: None,
        iterations: 0,
        converged: false,
        members: 0,
        detail: serde_json::json!({"error": e.to_string(), "code": e.code(), "time_unit": TIME_UNIT}).to_string(),
    };
    let bgnbd = match &models.bgnbd {
        Ok(f) => ModelFit {
            model: "bgnbd".into(),
            params: serde_json::to_string(&f.params).ok(),
            log_likelihood: Some(f.log_likelihood),
            iterations: i64::from(f.iterations),
            converged: f.converged,
            members: f.members as i64,
            detail: serde_json::json!({"distinct_histories": f.distinct_histories, "time_unit": TIME_UNIT}).to_string(),
        },
        Err(e) => failed("bgnbd", e),
    };
    let spend = match &models.spend {
        Ok(f) => ModelFit {
            model: "gamma_gamma".into(),
            params: serde_json::to_string(&f.params).ok(),
            log_likelihood: Some(f.log_likelihood),
            iterations: i64::from(f.iterations),
            converged: f.converged,
            members: f.members as i64,
            detail: serde_json::json!({"population_mean_order_value_minor": f.params.population_mean_value().ok()})
                .to_string(),
        },
        Err(e) => failed("gamma_gamma", e),
    };
    vec![bgnbd, spend]
}
