//! Maximum-likelihood fit of the BG/NBD parameters.
//!
//! Speed comes from two facts. Identical histories contribute identical terms, so they are
//! aggregated once and weighted. And every Gamma-function term of the likelihood depends on the
//! history only through x, so it is computed once per distinct x; what remains per history is
//! two logarithms, one exponential and one `ln_1p`, with the gradient alongside almost for free.

use std::ops::Range;

use serde::Serialize;

use super::{log_add_exp, BgNbdObservation, BgNbdParams};
use crate::optimize::{minimize, FitOptions};
use crate::special::{digamma, ln_gamma};
use crate::InsightError;

/// The fitted parameters and how the fit went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BgNbdFit {
    pub params: BgNbdParams,
    /// Σ ln L at `params`, over all members.
    pub log_likelihood: f64,
    pub iterations: u32,
    /// True when the gradient of the mean log-likelihood fell below the tolerance.
    pub converged: bool,
    pub members: usize,
    /// Distinct (x, tₓ, T) histories after aggregation.
    pub distinct_histories: usize,
}

/// Fits (r, α, a, b) by maximum likelihood, optimising over their logarithms with BFGS.
///
/// Errors: `Empty` without members, `Unidentifiable` when nobody made a repeat purchase (the
/// dropout process is then unobservable), `NonFinite` if the optimum lies at an overflow. A fit
/// that ran out of iterations is returned with `converged = false` for the caller to judge.
pub fn fit(observations: &[BgNbdObservation], options: &FitOptions) -> Result<BgNbdFit, InsightError> {
    options.validate()?;
    if observations.is_empty() {
        return Err(InsightError::Empty { what: "BG/NBD histories" });
    }
    let histories = Histories::aggregate(observations);
    let repeat_purchases: f64 = observations.iter().map(|o| f64::from(o.x)).sum();
    if repeat_purchases == 0.0 {
        return Err(InsightError::Unidentifiable("no member made a repeat purchase"));
    }
    // Start at r = a = b = 1 with α matching the mean repeat-purchase rate: r/α = Σx / ΣT.
    let exposure: f64 = observations.iter().map(|o| o.age).sum();
    let alpha0 = (exposure / repeat_purchases).clamp(1e-6, 1e6);
    let start = [0.0, alpha0.ln(), 0.0, 0.0];
    let objective = |theta: &[f64; 4], grad: &mut [f64; 4]| histories.neg_mean_ll(theta, grad);
    let found = minimize(objective, start, options.max_iterations, options.gradient_tolerance);
    let [r, alpha, a, b] = found.x.map(f64::exp);
    let params = BgNbdParams::new(r, alpha, a, b).map_err(|_| InsightError::NonFinite("fitted BG/NBD parameters"))?;
    let log_likelihood = -found.value * histories.total_weight;
    if !log_likelihood.is_finite() {
        return Err(InsightError::NonFinite("BG/NBD log-likelihood"));
    }
    Ok(BgNbdFit {
        params,
        log_likelihood,
        iterations: found.iterations,
        converged: found.converged,
        members: observations.len(),
        distinct_histories: histories.t_x.len(),
    })
}

/// Distinct histories, sorted by x, with how many members share each.
struct Histories {
    runs: Vec<Run>,
    t_x: Vec<f64>,
    age: Vec<f64>,
    weight: Vec<f64>,
    total_weight: f64,
}

/// The histories with one value of x: `range` indexes `t_x`, `age` and `weight`.
struct Run {
    x: f64,
    range: Range<usize>,
    weight: f64,
}

impl Histories {
    fn aggregate(observations: &[BgNbdObservation]) -> Self {
        // Non-negative floats order like their bit patterns, and `new` removed −0.0.
        let mut keys: Vec<(u32, u64, u64)> =
            observations.iter().map(|o| (o.x, o.t_x.to_bits(), o.age.to_bits())).collect();
        keys.sort_unstable();
        let mut out =
            Self { runs: Vec::new(), t_x: Vec::new(), age: Vec::new(), weight: Vec::new(), total_weight: 0.0 };
        let mut xs: Vec<u32> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if let Some(last) = out.weight.last_mut().filter(|_| keys[i - 1] == *key) {
                *last += 1.0;
                continue;
            }
            xs.push(key.0);
            out.t_x.push(f64::from_bits(key.1));
            out.age.push(f64::from_bits(key.2));
            out.weight.push(1.0);
        }
        let mut start = 0;
        for end in 1..=xs.len() {
            if end == xs.len() || xs[end] != xs[start] {
                let weight = out.weight[start..end].iter().sum();
                out.runs.push(Run { x: f64::from(xs[start]), range: start..end, weight });
                start = end;
            }
        }
        out.total_weight = out.weight.iter().sum();
        debug_assert_eq!(out.total_weight as usize, observations.len());
        out
    }

    /// −(1/N) Σ ln L at θ = ln(r, α, a, b), and its gradient with respect to θ.
    fn neg_mean_ll(&self, theta: &[f64; 4], grad: &mut [f64; 4]) -> f64 {
        let [r, alpha, a, b] = theta.map(f64::exp);
        let ln_alpha = theta[1];
        let shared = Shared {
            ln_gamma_r: ln_gamma(r),
            ln_gamma_b: ln_gamma(b),
            ln_gamma_ab: ln_gamma(a + b),
            psi_r: digamma(r),
            psi_b: digamma(b),
            psi_ab: digamma(a + b),
        };
        let mut ll = 0.0;
        let mut d = [0.0; 4];
        for run in &self.runs {
            let x = run.x;
            let w = run.weight;
            // Terms of ln(A₁A₂) that depend on x only.
            ll += w
                * (ln_gamma(r + x) - shared.ln_gamma_r + r * ln_alpha + shared.ln_gamma_ab + ln_gamma(b + x)
                    - shared.ln_gamma_b
                    - ln_gamma(a + b + x));
            let psi_abx = digamma(a + b + x);
            d[0] += w * (digamma(r + x) - shared.psi_r + ln_alpha);
            d[1] += w * r / alpha;
            d[2] += w * (shared.psi_ab - psi_abx);
            d[3] += w * (shared.psi_ab + digamma(b + x) - shared.psi_b - psi_abx);
            ll += self.run_terms(run, [r, alpha, a, b], &mut d);
        }
        let n = self.total_weight;
        *grad = [-d[0] * r / n, -d[1] * alpha / n, -d[2] * a / n, -d[3] * b / n];
        -ll / n
    }

    /// Σ w ln(A₃ + δA₄) over one run, adding its derivatives (in the natural parameters) to `d`.
    fn run_terms(&self, run: &Run, [r, alpha, a, b]: [f64; 4], d: &mut [f64; 4]) -> f64 {
        let x = run.x;
        let s = r + x;
        let range = run.range.clone();
        let (t_x, age, weight) = (&self.t_x[range.clone()], &self.age[range.clone()], &self.weight[range]);
        let mut ll = 0.0;
        if x == 0.0 {
            for (&big_t, &w) in age.iter().zip(weight) {
                let ln_t = (alpha + big_t).ln();
                ll -= w * r * ln_t;
                d[0] -= w * ln_t;
                d[1] -= w * r / (alpha + big_t);
            }
            return ll;
        }
        let ln_c4 = a.ln() - (b + x - 1.0).ln();
        for ((&tx, &big_t), &w) in t_x.iter().zip(age).zip(weight) {
            let ln_t = (alpha + big_t).ln();
            let ln_tx = (alpha + tx).ln();
            let l3 = -s * ln_t;
            let l4 = ln_c4 - s * ln_tx;
            let lse = log_add_exp(l3, l4);
            // Share of A₄ in A₃ + A₄: the weight of the "dropped out after tₓ" branch.
            let w4 = (l4 - lse).exp();
            ll += w * lse;
            d[0] -= w * ((1.0 - w4) * ln_t + w4 * ln_tx);
            d[1] -= w * s * ((1.0 - w4) / (alpha + big_t) + w4 / (alpha + tx));
            d[2] += w * w4 / a;
            d[3] -= w * w4 / (b + x - 1.0);
        }
        ll
    }
}

/// Gamma-function values that do not depend on the history, computed once per evaluation.
struct Shared {
    ln_gamma_r: f64,
    ln_gamma_b: f64,
    ln_gamma_ab: f64,
    psi_r: f64,
    psi_b: f64,
    psi_ab: f64,
}

#[cfg(test)]
pub(super) fn objective_for_tests(observations: &[BgNbdObservation], theta: &[f64; 4]) -> (f64, [f64; 4]) {
    let histories = Histories::aggregate(observations);
    let mut grad = [0.0; 4];
    let value = histories.neg_mean_ll(theta, &mut grad);
    (value, grad)
}
