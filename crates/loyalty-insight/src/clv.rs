//! Customer lifetime value over a finite horizon: BG/NBD for how many orders, Gamma-Gamma for
//! how much each is worth, discounted step by step.
//!
//!   CLV = margin · E[order value] · Σ_{k=1..K} (E[Y(kΔ)] − E[Y((k−1)Δ)]) / (1 + d)^k
//!
//! where E[Y(t)] is the member's conditional expected number of purchases in the next t time
//! units, Δ the step length, K the number of steps and d the discount rate per step (orders in
//! step k are discounted as if paid at its end). The product of expectations is exact because
//! the Gamma-Gamma model assumes order values independent of the purchase process.

use serde::{Deserialize, Serialize};

use crate::bgnbd::{expected_purchases, BgNbdObservation, BgNbdParams};
use crate::gamma_gamma::{expected_average_value, GammaGammaParams};
use crate::InsightError;

/// Most steps a horizon may have (100 years of months); a limit on everything.
pub const MAX_CLV_STEPS: u32 = 1200;

/// The horizon and money settings of a CLV. Times are in the BG/NBD time unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClvConfig {
    /// K: how many steps the horizon has.
    pub steps: u32,
    /// Δ: length of one step, in the time unit the BG/NBD model was fitted in.
    pub step_length: f64,
    /// d: discount rate per step, e.g. 0.01 a month; 0 for no discounting.
    pub discount_rate_per_step: f64,
    /// Share of an order's value kept as profit; 1 for revenue.
    pub margin: f64,
}

impl Default for ClvConfig {
    /// Twelve 30-day months with about 12.7 % a year of discount (1 % a month), as revenue; the
    /// step length assumes the model was fitted in days.
    fn default() -> Self {
        Self { steps: 12, step_length: 30.0, discount_rate_per_step: 0.01, margin: 1.0 }
    }
}

impl ClvConfig {
    /// Public so that the programme loader refuses a bad setting at start-up, not at the first run.
    pub fn validate(&self) -> Result<(), InsightError> {
        if self.steps == 0 || self.steps > MAX_CLV_STEPS {
            return Err(InsightError::config(
                "steps",
                format!("{} is out of range; expected an integer between 1 and {MAX_CLV_STEPS}", self.steps),
            ));
        }
        if !(self.step_length.is_finite() && self.step_length > 0.0) {
            return Err(InsightError::config("step_length", "must be a finite number above zero"));
        }
        if !(self.discount_rate_per_step.is_finite() && self.discount_rate_per_step >= 0.0) {
            return Err(InsightError::config("discount_rate_per_step", "must be finite and >= 0"));
        }
        if !(self.margin.is_finite() && (0.0..=1.0).contains(&self.margin)) {
            return Err(InsightError::config("margin", "must lie in [0, 1]"));
        }
        Ok(())
    }
}

/// One member's value over the horizon, with the two factors it was built from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Clv {
    /// E[Y(KΔ)]: expected orders over the whole horizon, undiscounted.
    pub expected_purchases: f64,
    /// Expected value of one order (Gamma-Gamma conditional mean).
    pub expected_order_value: f64,
    /// The discounted value, in the unit of the order values.
    pub value: f64,
}

/// CLV of one member from the two fitted models. `mean_order_value` is the member's m̄, the mean
/// of their x repeat purchases (x = the BG/NBD repeat purchases, the first purchase left out, as
/// in the papers: [`crate::gamma_gamma::repeat_mean_value`]); members with x = 0 get the
/// population mean.
pub fn member_clv(
    purchases: &BgNbdParams,
    spend: &GammaGammaParams,
    history: &BgNbdObservation,
    mean_order_value: f64,
    config: &ClvConfig,
) -> Result<Clv, InsightError> {
    let expected_order_value = expected_average_value(spend, history.x(), mean_order_value)?;
    let (expected_purchases, discounted_purchases) = discounted_purchases(purchases, history, config)?;
    let value = config.margin * expected_order_value * discounted_purchases;
    debug_assert!(value >= 0.0 && discounted_purchases <= expected_purchases + 1e-12);
    Ok(Clv { expected_purchases, expected_order_value, value })
}

/// (Σ purchases per step, Σ purchases per step discounted) over the horizon.
pub fn discounted_purchases(
    purchases: &BgNbdParams,
    history: &BgNbdObservation,
    config: &ClvConfig,
) -> Result<(f64, f64), InsightError> {
    config.validate()?;
    let factor = 1.0 / (1.0 + config.discount_rate_per_step);
    let (mut before, mut discount, mut total) = (0.0, 1.0, 0.0);
    for k in 1..=config.steps {
        let cumulative = expected_purchases(purchases, history, f64::from(k) * config.step_length)?;
        discount *= factor;
        // The cumulative expectation never decreases; clamp rounding noise rather than let a
        // step subtract value.
        total += (cumulative - before).max(0.0) * discount;
        before = cumulative;
    }
    Ok((before, total))
}
