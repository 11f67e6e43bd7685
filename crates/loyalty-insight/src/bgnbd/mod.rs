//! BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to
//! the Pareto/NBD Model", Marketing Science 24(2).
//!
//! While alive a member buys at a Poisson rate λ ~ Gamma(r, α); after each repeat purchase the
//! member drops out for good with probability p ~ Beta(a, b). A member's history is summarised by
//! (x, tₓ, T): repeat purchases, time of the last one and age, all measured from the first
//! purchase in one time unit the caller chooses (days, weeks…); α scales with that unit.

mod fit;
mod predict;
mod simulate;

pub use fit::{fit, BgNbdFit};
pub use predict::{expected_purchases, expected_purchases_new, p_alive};
pub use simulate::{simulate, simulate_ages, MAX_SIMULATED_MEMBERS, MAX_SIMULATED_PURCHASES};

use serde::{Deserialize, Serialize};

use crate::error::positive;
use crate::special::ln_gamma;
use crate::InsightError;

/// The four population parameters. They can only be built positive and finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBgNbdParams")]
pub struct BgNbdParams {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

#[derive(Deserialize)]
struct RawBgNbdParams {
    r: f64,
    alpha: f64,
    a: f64,
    b: f64,
}

impl TryFrom<RawBgNbdParams> for BgNbdParams {
    type Error = InsightError;
    fn try_from(raw: RawBgNbdParams) -> Result<Self, InsightError> {
        Self::new(raw.r, raw.alpha, raw.a, raw.b)
    }
}

impl BgNbdParams {
    /// r, α: shape and rate of the purchase-rate Gamma; a, b: the dropout Beta.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self, InsightError> {
        Ok(Self { r: positive("r", r)?, alpha: positive("alpha", alpha)?, a: positive("a", a)?, b: positive("b", b)? })
    }
    pub fn r(&self) -> f64 {
        self.r
    }
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
    pub fn a(&self) -> f64 {
        self.a
    }
    pub fn b(&self) -> f64 {
        self.b
    }
}

/// One member's history (x, tₓ, T), validated: 0 ≤ tₓ ≤ T, and tₓ = 0 when x = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BgNbdObservation {
    x: u32,
    t_x: f64,
    age: f64,
}

impl BgNbdObservation {
    /// `x` repeat purchases (orders after the first), `t_x` the time of the last one since the
    /// first purchase, `age` (T in the paper) the time from the first purchase to the analysis.
    pub fn new(x: u32, t_x: f64, age: f64) -> Result<Self, InsightError> {
        let id = || format!("(x={x}, t_x={t_x}, T={age})");
        if !(age.is_finite() && age >= 0.0) {
            return Err(InsightError::invalid("history", id(), "T must be finite and >= 0"));
        }
        if !(t_x.is_finite() && (0.0..=age).contains(&t_x)) {
            return Err(InsightError::invalid("history", id(), "t_x must lie in [0, T]"));
        }
        if x == 0 && t_x != 0.0 {
            return Err(InsightError::invalid("history", id(), "t_x must be 0 when x = 0"));
        }
        // Adding +0.0 turns −0.0 into +0.0, so equal histories have equal bits when aggregated.
        Ok(Self { x, t_x: t_x + 0.0, age: age + 0.0 })
    }

    /// From a member's order history: `orders` ≥ 1 orders in total, the first `first_order_age`
    /// and the last `last_order_age` time units before the analysis instant. Orders falling in
    /// the same period should be counted once, as in the paper, when the unit is coarse.
    pub fn from_history(orders: u32, first_order_age: f64, last_order_age: f64) -> Result<Self, InsightError> {
        if orders == 0 {
            return Err(InsightError::invalid("history", "orders=0", "a member with no order has no BG/NBD history"));
        }
        if last_order_age.is_nan() || last_order_age > first_order_age {
            return Err(InsightError::invalid(
                "history",
                format!("first={first_order_age}, last={last_order_age}"),
                "the last order cannot be older than the first",
            ));
        }
        let x = orders - 1;
        let t_x = if x == 0 { 0.0 } else { first_order_age - last_order_age };
        Self::new(x, t_x, first_order_age)
    }

    pub fn x(&self) -> u32 {
        self.x
    }
    pub fn t_x(&self) -> f64 {
        self.t_x
    }
    /// T in the paper.
    pub fn age(&self) -> f64 {
        self.age
    }
}

/// ln L(r, α, a, b | x, tₓ, T), the paper's individual likelihood written as ln(A₁A₂(A₃ + δA₄)):
/// A₁ = Γ(r+x) αʳ / Γ(r), A₂ = Γ(a+b) Γ(b+x) / (Γ(b) Γ(a+b+x)), A₃ = (α+T)^−(r+x) and, only
/// when x > 0, A₄ = a / (b+x−1) · (α+tₓ)^−(r+x). The sum is taken in log space so that neither
/// term underflows for long, busy histories.
pub fn log_likelihood(params: &BgNbdParams, obs: &BgNbdObservation) -> f64 {
    let BgNbdParams { r, alpha, a, b } = *params;
    let x = f64::from(obs.x);
    let ln_a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    let ln_a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
    let ln_a3 = -(r + x) * (alpha + obs.age).ln();
    if obs.x == 0 {
        return ln_a1 + ln_a2 + ln_a3;
    }
    let ln_a4 = a.ln() - (b + x - 1.0).ln() - (r + x) * (alpha + obs.t_x).ln();
    ln_a1 + ln_a2 + log_add_exp(ln_a3, ln_a4)
}

/// Σ ln L over the members; 0 for none.
pub fn total_log_likelihood(params: &BgNbdParams, observations: &[BgNbdObservation]) -> f64 {
    observations.iter().map(|o| log_likelihood(params, o)).sum()
}

/// ln(eᵘ + eᵛ) without overflow or underflow.
pub(crate) fn log_add_exp(u: f64, v: f64) -> f64 {
    let (hi, lo) = if u >= v { (u, v) } else { (v, u) };
    hi + (lo - hi).exp().ln_1p()
}

#[cfg(test)]
mod tests;
