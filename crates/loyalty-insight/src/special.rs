//! Special functions the models need, written here so the crate carries no numerics dependency.
//!
//! All of them take real arguments in the ranges the models produce (positive shapes, `0 <= z < 1`)
//! and say what they do outside them.

use crate::InsightError;

/// Below this argument `ln_gamma` and `digamma` shift upwards with the recurrence, so that the
/// asymptotic series is used only where its truncation error is below 1e-17.
const ASYMPTOTIC_FROM: f64 = 12.0;

/// ln(2π) / 2.
const HALF_LN_TWO_PI: f64 = 0.918_938_533_204_672_8;

/// Most terms a hypergeometric series may add before it is declared divergent: a few
/// milliseconds of work. Near z = 1 the terms decay like z^k, so z = 0.99995 already needs
/// about 700,000; BG/NBD predictions reach that only for horizons thousands of times α + T.
pub const HYP2F1_MAX_TERMS: u64 = 1_000_000;

/// ln Γ(x) for x > 0 (NaN otherwise).
///
/// Stirling's series with seven correction terms for x ≥ 12, and Γ(x) = Γ(x + n) / (x (x+1) …)
/// below, which keeps the absolute error near 1e-15 over the whole positive axis without the
/// cancellation a reflection formula would bring near zero.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    let mut z = x;
    let mut product = 1.0;
    while z < ASYMPTOTIC_FROM {
        product *= z;
        z += 1.0;
    }
    stirling_ln_gamma(z) - product.ln()
}

/// Stirling's series for ln Γ(z), z ≥ 12; the first omitted term is below 2e-18.
fn stirling_ln_gamma(z: f64) -> f64 {
    let inv = 1.0 / z;
    let inv2 = inv * inv;
    // Bernoulli terms B_2k / (2k (2k - 1) z^(2k-1)), Horner form in 1/z².
    let series = inv
        * (1.0 / 12.0
            + inv2
                * (-1.0 / 360.0
                    + inv2
                        * (1.0 / 1260.0
                            + inv2
                                * (-1.0 / 1680.0
                                    + inv2 * (1.0 / 1188.0 + inv2 * (-691.0 / 360_360.0 + inv2 / 156.0))))));
    (z - 0.5) * z.ln() - z + HALF_LN_TWO_PI + series
}

/// ψ(x) = d/dx ln Γ(x) for x > 0 (NaN otherwise); the gradients of the likelihoods need it.
///
/// ψ(x) = ψ(x + 1) − 1/x up to x ≥ 12, then the asymptotic series (error below 1e-16).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    let mut z = x;
    let mut shift = 0.0;
    while z < ASYMPTOTIC_FROM {
        shift -= 1.0 / z;
        z += 1.0;
    }
    let inv2 = 1.0 / (z * z);
    let series = inv2
        * (-1.0 / 12.0
            + inv2
                * (1.0 / 120.0
                    + inv2 * (-1.0 / 252.0 + inv2 * (1.0 / 240.0 + inv2 * (-1.0 / 132.0 + inv2 * 691.0 / 32760.0)))));
    shift + z.ln() - 0.5 / z + series
}

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) by its power series.
///
/// Domain: real a, b; c not zero or a negative integer; |z| < 1. The series is summed until the
/// remaining tail, bounded geometrically, is below 1e-16 of the sum; if that takes more than
/// [`HYP2F1_MAX_TERMS`] terms (|z| very close to 1) the result is `NoConvergence`. Accuracy is
/// best when a, b, c > 0 and 0 ≤ z < 1 (all terms positive, no cancellation), which is the case
/// in the BG/NBD formulas; with mixed signs and |z| near 1 terms can cancel.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> Result<f64, InsightError> {
    check_series_args(a, b, c, z)?;
    if c <= 0.0 && c == c.floor() {
        return Err(InsightError::InvalidParameter {
            name: "c",
            value: c,
            reason: "must not be zero or a negative integer",
        });
    }
    sum_series(1.0, 0, a, b, c, z)
}

/// c · (₂F₁(a, b; c; z) − 1) / b, summed directly as Σ_{k≥1} (a)_k (b+1)_{k−1} z^k / ((c+1)_{k−1} k!).
///
/// The BG/NBD conditional expectation divides by (a − 1) and multiplies by a + b + x − 1; this
/// form cancels both analytically, so the prediction stays exact at a = 1 and as a + b + x → 1.
/// Domain: real a, b; c > −1; |z| < 1.
pub(crate) fn hyp2f1_scaled_excess(a: f64, b: f64, c: f64, z: f64) -> Result<Scaled, InsightError> {
    check_series_args(a, b, c, z)?;
    if c <= -1.0 {
        return Err(InsightError::InvalidParameter { name: "c", value: c, reason: "must be above -1" });
    }
    sum_series_scaled(a * z, 1, a, b, c, z)
}

fn check_series_args(a: f64, b: f64, c: f64, z: f64) -> Result<(), InsightError> {
    for (name, value) in [("a", a), ("b", b), ("c", c)] {
        if !value.is_finite() {
            return Err(InsightError::InvalidParameter { name, value, reason: "must be finite" });
        }
    }
    if z.is_nan() || z.abs() >= 1.0 {
        return Err(InsightError::InvalidParameter {
            name: "z",
            value: z,
            reason: "the series converges only for |z| < 1",
        });
    }
    Ok(())
}

/// Partial sums are divided by this, and its logarithm carried aside, whenever they grow past
/// it: with large parameters a series can exceed f64 long before its prefactor brings the
/// product back to a modest number.
const RESCALE: f64 = 1e200;

/// A sum returned as `mantissa · e^log_scale`, so that values beyond f64 survive until they are
/// multiplied by their (tiny) prefactor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scaled {
    pub mantissa: f64,
    pub log_scale: f64,
}

impl Scaled {
    /// The value times e^y, finite whenever the product is.
    pub(crate) fn times_exp(self, y: f64) -> f64 {
        if self.mantissa == 0.0 {
            return 0.0;
        }
        self.mantissa.signum() * (self.mantissa.abs().ln() + self.log_scale + y).exp()
    }
}

fn sum_series(first: f64, k0: u64, a: f64, b: f64, c: f64, z: f64) -> Result<f64, InsightError> {
    let sum = sum_series_scaled(first, k0, a, b, c, z)?.times_exp(0.0);
    if sum.is_finite() {
        Ok(sum)
    } else {
        Err(InsightError::NonFinite("hypergeometric series"))
    }
}

/// Sums `first + Σ term_k` where term_{k+1} = term_k · (a+k)(b+k) z / ((c+k)(k+1)), from k = `k0`.
pub(crate) fn sum_series_scaled(first: f64, k0: u64, a: f64, b: f64, c: f64, z: f64) -> Result<Scaled, InsightError> {
    let mut term = first;
    let mut sum = first;
    let mut log_scale = 0.0;
    let mut k = k0 as f64;
    for _ in 0..HYP2F1_MAX_TERMS {
        let ratio = (a + k) * (b + k) * z / ((c + k) * (k + 1.0));
        term *= ratio;
        sum += term;
        k += 1.0;
        if sum.abs().max(term.abs()) > RESCALE {
            sum /= RESCALE;
            term /= RESCALE;
            log_scale += RESCALE.ln();
        }
        // The ratio tends to z; bounding every later ratio by the larger of the two bounds the
        // tail by a geometric series, which is what makes stopping safe.
        let bound = ratio.abs().max(z.abs());
        if bound < 1.0 && term.abs() * bound <= f64::EPSILON * 0.5 * sum.abs() * (1.0 - bound) {
            return Ok(Scaled { mantissa: sum, log_scale });
        }
        if !sum.is_finite() {
            return Err(InsightError::NonFinite("hypergeometric series"));
        }
    }
    Err(InsightError::NoConvergence { what: "hypergeometric series", limit: HYP2F1_MAX_TERMS })
}

/// expm1(y) / y, equal to 1 at y = 0, so callers never divide zero by zero.
pub(crate) fn expm1_over(y: f64) -> f64 {
    if y == 0.0 {
        1.0
    } else {
        y.exp_m1() / y
    }
}

#[cfg(test)]
// The reference values are kept digit for digit as tests/reference.py prints them.
#[allow(clippy::excessive_precision)]
mod tests {
    use super::*;

    // Reference values from mpmath at 50 digits (tests/reference.py prints them).
    #[test]
    fn ln_gamma_matches_reference_values() {
        let cases = [
            (1e-8, 18.420680738180209),
            (0.001, 6.907_178_885_383_854),
            (0.24, 1.3311791434660619),
            (0.5, 0.5723649429247001),
            (1.0, 0.0),
            (2.0, 0.0),
            (3.7, 1.4280723266653881),
            (11.99, 17.477885575426186),
            (12.5, 18.734347511936445),
            (100.0, 359.1342053695754),
            (1e6, 12815504.569147611),
        ];
        for (x, want) in cases {
            let got = ln_gamma(x);
            assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "ln_gamma({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn digamma_matches_reference_values() {
        let cases = [
            (0.001, -1000.5755719318103),
            (0.24, -4.4061603457926036),
            (1.0, -0.5772156649015329),
            (3.7, 1.1671535393615114),
            (12.0, 2.442661679975812),
            (1000.0, 6.907255195648812),
        ];
        for (x, want) in cases {
            let got = digamma(x);
            assert!((got - want).abs() <= 1e-13 * want.abs().max(1.0), "digamma({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z) / z and ₂F₁(a, b; b; z) = (1 − z)^(−a).
        for z in [0.0_f64, 0.1, 0.5, 0.9, 0.99] {
            let want = if z == 0.0 { 1.0 } else { -(-z).ln_1p() / z };
            let got = hyp2f1(1.0, 1.0, 2.0, z).unwrap();
            assert!((got - want).abs() <= 1e-13 * want, "z={z}: {got} vs {want}");
            let want = (1.0 - z).powf(-0.7);
            let got = hyp2f1(0.7, 2.5, 2.5, z).unwrap();
            assert!((got - want).abs() <= 1e-13 * want, "z={z}: {got} vs {want}");
        }
        assert!((hyp2f1(1.0, 1.0, 2.0, -0.5).unwrap() - 2.0 * 1.5_f64.ln()).abs() < 1e-14);
    }

    #[test]
    fn hyp2f1_refuses_points_outside_its_domain() {
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0).unwrap_err().code(), "invalid_parameter");
        assert_eq!(hyp2f1(1.0, 1.0, -2.0, 0.5).unwrap_err().code(), "invalid_parameter");
        assert_eq!(hyp2f1(1.0, 1.0, 2.0, 1.0 - 1e-9).unwrap_err().code(), "no_convergence");
    }

    #[test]
    fn scaled_excess_agrees_with_the_plain_series() {
        let (a, b, c, z) = (2.2, 0.4, 3.1, 0.6);
        let direct = c * (hyp2f1(a, b, c, z).unwrap() - 1.0) / b;
        let scaled = hyp2f1_scaled_excess(a, b, c, z).unwrap().times_exp(0.0);
        assert!((direct - scaled).abs() < 1e-13 * direct.abs());
    }
}
