//! Gamma-Gamma spend model: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for
//! Customer Base Analysis", Journal of Marketing Research 42(4), and Fader & Hardie's note
//! "The Gamma-Gamma Model of Monetary Value".
//!
//! Each transaction value of a member is Gamma(p, ν) (shape p, rate ν); ν varies across members
//! as Gamma(q, v) (shape q, rate v). Given x repeat transactions with mean value m̄, the mean is
//! Gamma(px, νx), so the model sees each member only through (x, m̄). A transaction is a purchase
//! as the BG/NBD history counts it and the first is not among the x ([`repeat_mean_value`]).
//! Values are assumed independent of the purchase process, which is what lets CLV multiply the
//! two models.

use rand::Rng;
use rand_distr::{Distribution, Gamma};
use serde::{Deserialize, Serialize};

use crate::error::positive;
use crate::optimize::{minimize, FitOptions};
use crate::special::{digamma, ln_gamma};
use crate::InsightError;

/// The three population parameters, positive and finite by construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawGammaGammaParams")]
pub struct GammaGammaParams {
    p: f64,
    q: f64,
    v: f64,
}

#[derive(Deserialize)]
struct RawGammaGammaParams {
    p: f64,
    q: f64,
    v: f64,
}

impl TryFrom<RawGammaGammaParams> for GammaGammaParams {
    type Error = InsightError;
    fn try_from(raw: RawGammaGammaParams) -> Result<Self, InsightError> {
        Self::new(raw.p, raw.q, raw.v)
    }
}

impl GammaGammaParams {
    pub fn new(p: f64, q: f64, v: f64) -> Result<Self, InsightError> {
        Ok(Self { p: positive("p", p)?, q: positive("q", q)?, v: positive("v", v)? })
    }
    pub fn p(&self) -> f64 {
        self.p
    }
    pub fn q(&self) -> f64 {
        self.q
    }
    pub fn v(&self) -> f64 {
        self.v
    }

    /// E[order value] over the population, p v / (q − 1); finite only for q > 1.
    pub fn population_mean_value(&self) -> Result<f64, InsightError> {
        if self.q <= 1.0 {
            return Err(InsightError::InvalidParameter {
                name: "q",
                value: self.q,
                reason: "the mean order value is finite only for q > 1",
            });
        }
        Ok(self.p * self.v / (self.q - 1.0))
    }
}

/// A member with `x` ≥ 1 repeat purchases whose values average `mean_value` > 0 (in minor units,
/// or any unit as long as all members share it); see [`repeat_mean_value`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpendObservation {
    x: u32,
    mean_value: f64,
}

impl SpendObservation {
    /// Refuses x = 0 (no repeat purchase, no mean) and non-positive means: a member whose refunds
    /// cancel the repeat purchases has no value distribution to learn from and should be left out.
    pub fn new(x: u32, mean_value: f64) -> Result<Self, InsightError> {
        let id = || format!("(x={x}, mean={mean_value})");
        if x == 0 {
            return Err(InsightError::invalid("spend", id(), "needs at least one order"));
        }
        if !(mean_value.is_finite() && mean_value > 0.0) {
            return Err(InsightError::invalid("spend", id(), "the mean order value must be finite and above zero"));
        }
        Ok(Self { x, mean_value })
    }
    pub fn x(&self) -> u32 {
        self.x
    }
    pub fn mean_value(&self) -> f64 {
        self.mean_value
    }
}

/// m̄ of a member with `x` repeat purchases: `total_value` is what all their purchases came to,
/// `first_value` what the first one did (minor units, net of refunds). A purchase is the unit the
/// BG/NBD history counts (one per period, that period's orders summed), so x is the history's x
/// and spend and frequency describe the same purchases; the first purchase is left out, as in
/// Fader, Hardie & Lee (2005), whose m̄ averages the repeat transactions only. `None` for x = 0:
/// such a member has no m̄ and is not in the fit. May be zero or negative when refunds cancel the
/// repeat purchases, which [`SpendObservation::new`] then refuses.
pub fn repeat_mean_value(x: u32, total_value: i64, first_value: i64) -> Option<f64> {
    if x == 0 {
        return None;
    }
    // In 128 bits: the difference of two i64 sums need not fit in 64.
    let repeat = i128::from(total_value) - i128::from(first_value);
    Some(repeat as f64 / f64::from(x))
}

/// ln f(m̄ | p, q, v, x) = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln m̄ + px ln x
/// − (px+q) ln(v + x m̄): the density of the mean after integrating ν out.
pub fn log_likelihood(params: &GammaGammaParams, obs: &SpendObservation) -> f64 {
    let GammaGammaParams { p, q, v } = *params;
    let x = f64::from(obs.x);
    let m = obs.mean_value;
    ln_gamma(p * x + q) - ln_gamma(p * x) - ln_gamma(q) + q * v.ln() + (p * x - 1.0) * m.ln() + p * x * x.ln()
        - (p * x + q) * (v + x * m).ln()
}

/// Σ ln f over the members; 0 for none.
pub fn total_log_likelihood(params: &GammaGammaParams, observations: &[SpendObservation]) -> f64 {
    observations.iter().map(|o| log_likelihood(params, o)).sum()
}

/// E[order value | x, m̄] = (q−1)/(px+q−1) · pv/(q−1) + px/(px+q−1) · m̄ = p (v + x m̄)/(px+q−1):
/// a weighted average of the population mean and the member's own mean, trusting the member
/// more the more repeat purchases they made. With x = 0 it is the population mean (`mean_value`
/// unused).
pub fn expected_average_value(params: &GammaGammaParams, x: u32, mean_value: f64) -> Result<f64, InsightError> {
    let population = params.population_mean_value()?;
    if x == 0 {
        return Ok(population);
    }
    if !(mean_value.is_finite() && mean_value >= 0.0) {
        return Err(InsightError::invalid("spend", mean_value, "the mean order value must be finite and >= 0"));
    }
    let GammaGammaParams { p, q, v } = *params;
    let x = f64::from(x);
    Ok(p * (v + x * mean_value) / (p * x + q - 1.0))
}

/// The fitted parameters and how the fit went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GammaGammaFit {
    pub params: GammaGammaParams,
    pub log_likelihood: f64,
    pub iterations: u32,
    pub converged: bool,
    pub members: usize,
}

/// Fits (p, q, v) by maximum likelihood over their logarithms with BFGS. Terms depending only
/// on x are computed once per distinct x, and Σ ln m̄ per x once per fit, so each evaluation
/// costs one logarithm per member.
pub fn fit(observations: &[SpendObservation], options: &FitOptions) -> Result<GammaGammaFit, InsightError> {
    options.validate()?;
    if observations.is_empty() {
        return Err(InsightError::Empty { what: "spend observations" });
    }
    let runs = SpendRuns::new(observations);
    let n = observations.len() as f64;
    let mean: f64 = observations.iter().map(|o| o.mean_value).sum::<f64>() / n;
    // Start at p = 1, q = 2, where the population mean p v/(q − 1) equals the sample mean.
    let start = [0.0, 2.0_f64.ln(), mean.ln()];
    let objective = |theta: &[f64; 3], grad: &mut [f64; 3]| runs.neg_mean_ll(theta, grad);
    let found = minimize(objective, start, options.max_iterations, options.gradient_tolerance);
    let [p, q, v] = found.x.map(f64::exp);
    let params =
        GammaGammaParams::new(p, q, v).map_err(|_| InsightError::NonFinite("fitted Gamma-Gamma parameters"))?;
    let log_likelihood = -found.value * n;
    if !log_likelihood.is_finite() {
        return Err(InsightError::NonFinite("Gamma-Gamma log-likelihood"));
    }
    Ok(GammaGammaFit {
        params,
        log_likelihood,
        iterations: found.iterations,
        converged: found.converged,
        members: observations.len(),
    })
}

/// Members grouped by x, with the parameter-free sums each group needs.
struct SpendRuns {
    runs: Vec<SpendRun>,
    /// (mean, weight) of distinct means, grouped by run.
    means: Vec<(f64, f64)>,
    total_weight: f64,
}

struct SpendRun {
    x: f64,
    weight: f64,
    /// Σ w ln m̄ over the run.
    sum_ln_mean: f64,
    range: std::ops::Range<usize>,
}

impl SpendRuns {
    fn new(observations: &[SpendObservation]) -> Self {
        let mut keys: Vec<(u32, u64)> = observations.iter().map(|o| (o.x, o.mean_value.to_bits())).collect();
        keys.sort_unstable();
        let mut runs: Vec<SpendRun> = Vec::new();
        let mut means: Vec<(f64, f64)> = Vec::new();
        for (i, &(x, bits)) in keys.iter().enumerate() {
            let m = f64::from_bits(bits);
            if runs.last().is_none_or(|run| run.x != f64::from(x)) {
                let at = means.len();
                runs.push(SpendRun { x: f64::from(x), weight: 0.0, sum_ln_mean: 0.0, range: at..at });
            }
            let run = runs.last_mut().expect("a run was just ensured");
            run.weight += 1.0;
            run.sum_ln_mean += m.ln();
            if i > 0 && keys[i - 1] == (x, bits) {
                means.last_mut().expect("a mean was pushed").1 += 1.0;
            } else {
                means.push((m, 1.0));
                run.range.end = means.len();
            }
        }
        Self { runs, means, total_weight: observations.len() as f64 }
    }

    /// −(1/N) Σ ln f at θ = ln(p, q, v), and its gradient with respect to θ.
    fn neg_mean_ll(&self, theta: &[f64; 3], grad: &mut [f64; 3]) -> f64 {
        let [p, q, v] = theta.map(f64::exp);
        let (ln_v, lg_q, psi_q) = (theta[2], ln_gamma(q), digamma(q));
        let (mut ll, mut d) = (0.0, [0.0; 3]);
        for run in &self.runs {
            let (x, w) = (run.x, run.weight);
            let px = p * x;
            let (psi_pxq, psi_px) = (digamma(px + q), digamma(px));
            ll += w * (ln_gamma(px + q) - ln_gamma(px) - lg_q + q * ln_v + px * x.ln()) + (px - 1.0) * run.sum_ln_mean;
            d[0] += x * (w * (psi_pxq - psi_px + x.ln()) + run.sum_ln_mean);
            d[1] += w * (psi_pxq - psi_q + ln_v);
            d[2] += w * q / v;
            let (mut sum_ln, mut sum_inv) = (0.0, 0.0);
            for &(m, wm) in &self.means[run.range.clone()] {
                let denominator = v + x * m;
                sum_ln += wm * denominator.ln();
                sum_inv += wm / denominator;
            }
            ll -= (px + q) * sum_ln;
            d[0] -= x * sum_ln;
            d[1] -= sum_ln;
            d[2] -= (px + q) * sum_inv;
        }
        let n = self.total_weight;
        *grad = [-d[0] * p / n, -d[1] * q / n, -d[2] * v / n];
        -ll / n
    }
}

/// Draws one mean order value per entry of `orders` (each ≥ 1): ν ~ Gamma(q, rate v), then the
/// mean of x values ~ Gamma(px, rate νx).
pub fn simulate<R: Rng + ?Sized>(
    params: &GammaGammaParams,
    orders: &[u32],
    rng: &mut R,
) -> Result<Vec<SpendObservation>, InsightError> {
    let bad = |name, value| InsightError::InvalidParameter { name, value, reason: "cannot be sampled" };
    let spend_rate = Gamma::new(params.q, 1.0 / params.v).map_err(|_| bad("q", params.q))?;
    orders
        .iter()
        .map(|&x| {
            if x == 0 {
                return Err(InsightError::invalid("spend", "x=0", "needs at least one order"));
            }
            let nu = spend_rate.sample(rng);
            let orders = f64::from(x);
            // A rate ν that underflowed to zero gives an infinite scale, which `Gamma` refuses.
            let mean = Gamma::new(params.p * orders, 1.0 / (nu * orders)).map_err(|_| bad("v", params.v))?.sample(rng);
            SpendObservation::new(x, mean)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_objective_equals_the_plain_likelihood_and_its_gradient() {
        let obs: Vec<SpendObservation> = [(1, 35.0), (1, 35.0), (2, 12.5), (5, 80.0), (2, 40.0)]
            .into_iter()
            .map(|(x, m)| SpendObservation::new(x, m).unwrap())
            .collect();
        let runs = SpendRuns::new(&obs);
        let theta = [1.7_f64.ln(), 3.1_f64.ln(), 20.0_f64.ln()];
        let mut grad = [0.0; 3];
        let value = runs.neg_mean_ll(&theta, &mut grad);
        let params = GammaGammaParams::new(1.7, 3.1, 20.0).unwrap();
        let plain = -total_log_likelihood(&params, &obs) / obs.len() as f64;
        assert!((value - plain).abs() < 1e-12, "{value} vs {plain}");
        for i in 0..3 {
            let h = 1e-6;
            let (mut up, mut down) = (theta, theta);
            up[i] += h;
            down[i] -= h;
            let mut scratch = [0.0; 3];
            let numeric = (runs.neg_mean_ll(&up, &mut scratch) - runs.neg_mean_ll(&down, &mut scratch)) / (2.0 * h);
            assert!((numeric - grad[i]).abs() < 1e-7, "component {i}: {numeric} vs {}", grad[i]);
        }
    }

    #[test]
    fn the_mean_is_over_the_repeat_purchases_only() {
        // Purchases of 900 (the first), 100 and 200: m̄ = 150, not 400 nor 1200 / 2.
        assert_eq!(repeat_mean_value(2, 1_200, 900), Some(150.0));
        assert_eq!(repeat_mean_value(0, 900, 900), None, "a single purchase has no repeat mean");
        assert_eq!(repeat_mean_value(0, 0, 0), None);
        assert_eq!(repeat_mean_value(3, 100, 100), Some(0.0), "repeat purchases refunded in full");
        assert_eq!(repeat_mean_value(1, 100, 300), Some(-200.0));
        assert!(SpendObservation::new(3, repeat_mean_value(3, 100, 100).unwrap()).is_err());
        // Sums at the ends of i64 do not overflow.
        assert_eq!(repeat_mean_value(1, i64::MAX, i64::MIN), Some(2_f64.powi(64)), "2⁶⁴ − 1, rounded to f64");
        assert_eq!(repeat_mean_value(4, i64::MAX, 0), Some(i64::MAX as f64 / 4.0));
    }

    #[test]
    fn expected_value_shrinks_towards_the_population_mean() {
        let params = GammaGammaParams::new(6.25, 3.74, 15.44).unwrap();
        let population = params.population_mean_value().unwrap();
        assert_eq!(expected_average_value(&params, 0, 999.0).unwrap(), population);
        let one = expected_average_value(&params, 1, 100.0).unwrap();
        let many = expected_average_value(&params, 50, 100.0).unwrap();
        assert!(population < one && one < many && many < 100.0);
        let q_too_small = GammaGammaParams::new(6.25, 0.9, 15.44).unwrap();
        assert_eq!(expected_average_value(&q_too_small, 1, 10.0).unwrap_err().code(), "invalid_parameter");
    }
}
