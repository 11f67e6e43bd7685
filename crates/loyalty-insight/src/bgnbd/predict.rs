//! Predictions for one member from fitted BG/NBD parameters.

use super::{BgNbdObservation, BgNbdParams};
use crate::special::{expm1_over, hyp2f1_scaled_excess};
use crate::InsightError;

/// Within this distance of a = 1 the untransformed expectation would lose more than three digits
/// to the cancellation its factor 1/(a − 1) hides. There it is interpolated instead, by a cubic
/// in a through a = 1 ± δ and 1 ± 2δ (δ = this), where it is accurate; the expectation is
/// smooth in a, so the interpolation error is of order δ⁴.
const NEAR_ONE: f64 = 1e-3;

/// Interpolation nodes, in units of [`NEAR_ONE`] from a = 1.
const NODES: [f64; 4] = [-2.0, -1.0, 1.0, 2.0];

/// P(alive | x, tₓ, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)), as in Fader, Hardie
/// & Lee's note "Computing P(alive) using the BG/NBD model". A member with no repeat purchase
/// cannot have dropped out (dropout happens only right after a repeat purchase), so P(alive) = 1
/// for x = 0.
pub fn p_alive(params: &BgNbdParams, obs: &BgNbdObservation) -> f64 {
    if obs.x == 0 {
        return 1.0;
    }
    let BgNbdParams { r, alpha, a, b } = *params;
    let x = f64::from(obs.x);
    let ln_odds = a.ln() - (b + x - 1.0).ln() + (r + x) * ((alpha + obs.age).ln() - (alpha + obs.t_x).ln());
    let p = 1.0 / (1.0 + ln_odds.exp());
    debug_assert!((0.0..=1.0).contains(&p));
    p
}

/// E[Y(t) | x, tₓ, T]: expected purchases in the next `t` time units (the paper's conditional
/// expectation),
///
///   C/(a−1) · [1 − (1−z)^(r+x) ₂F₁(r+x, b+x; C; z)] · P(alive),  C = a+b+x−1, z = t/(α+T+t).
///
/// Two algebraically equal forms are used so that no series has terms of both signs:
/// * r < a + b: Euler's transformation ₂F₁(A, B; C; z) = (1−z)^(C−A−B) ₂F₁(C−A, C−B; C; z) turns
///   the bracket into C/(a−1) · [1 − (1−z)^(a−1) ₂F₁(a+b−1−r, a−1; C; z)], whose first parameter
///   is then above −1; with (₂F₁ − 1)/(a − 1) summed directly the factor 1/(a−1) cancels in
///   closed form, so a = 1 is no special case;
/// * otherwise the series as written (all terms positive), with the leading 1 cancelled exactly.
///
/// Sums are carried with a separate logarithmic scale, so a ₂F₁ beyond f64 range still yields
/// its finite product with (1−z)^(r+x). Errors: `NoConvergence` when z is so close to 1 that the
/// series needs more than [`crate::special::HYP2F1_MAX_TERMS`] terms (horizons thousands of
/// times α + T).
pub fn expected_purchases(params: &BgNbdParams, obs: &BgNbdObservation, t: f64) -> Result<f64, InsightError> {
    if !(t.is_finite() && t >= 0.0) {
        return Err(InsightError::invalid("horizon", t, "must be finite and >= 0"));
    }
    let BgNbdParams { r, alpha, a, b } = *params;
    let x = f64::from(obs.x);
    let z = t / (alpha + obs.age + t);
    let if_alive = if r < a + b {
        if_alive_transformed(r, a, b, x, z)?
    } else if (a - 1.0).abs() >= NEAR_ONE {
        if_alive_direct(r, a, b, x, z)?
    } else {
        let u = (a - 1.0) / NEAR_ONE;
        let mut interpolated = 0.0;
        for (j, node) in NODES.iter().enumerate() {
            let weight: f64 = NODES
                .iter()
                .enumerate()
                .filter(|&(m, _)| m != j)
                .map(|(_, other)| (u - other) / (node - other))
                .product();
            interpolated += weight * if_alive_direct(r, 1.0 + node * NEAR_ONE, b, x, z)?;
        }
        interpolated
    };
    let expected = if_alive * p_alive(params, obs);
    if !expected.is_finite() {
        return Err(InsightError::NonFinite("expected purchases"));
    }
    debug_assert!(expected >= -1e-6 * t.max(1.0), "negative expectation {expected}");
    Ok(expected.max(0.0))
}

/// C/β · [1 − e^y (1 + β G)] with β = a − 1, y = β ln(1−z), G = (₂F₁(a+b−1−r, β; C; z) − 1)/β,
/// and C·G summed as the scaled excess (terms of one sign when a+b−1−r > −1).
fn if_alive_transformed(r: f64, a: f64, b: f64, x: f64, z: f64) -> Result<f64, InsightError> {
    let c = a + b + x - 1.0;
    let beta = a - 1.0;
    let ln_one_minus_z = (-z).ln_1p();
    let y = beta * ln_one_minus_z;
    let scaled = hyp2f1_scaled_excess(a + b - 1.0 - r, beta, c, z)?;
    Ok(-c * ln_one_minus_z * expm1_over(y) - scaled.times_exp(y))
}

/// [−C expm1(y) − (b+x) · E · e^y] / (a − 1) with y = (r+x) ln(1−z) and E = C (₂F₁ − 1)/(b+x),
/// ₂F₁ = ₂F₁(r+x, b+x; C; z): the paper's bracket without ever dividing by C, which is zero when
/// x = 0 and a + b = 1.
fn if_alive_direct(r: f64, a: f64, b: f64, x: f64, z: f64) -> Result<f64, InsightError> {
    let c = a + b + x - 1.0;
    let y = (r + x) * (-z).ln_1p();
    let excess = hyp2f1_scaled_excess(r + x, b + x, c, z)?;
    Ok((-c * y.exp_m1() - (b + x) * excess.times_exp(y)) / (a - 1.0))
}

/// E[X(t)]: expected repeat purchases in the first `t` time units of a member who has just made
/// a first purchase; the conditional expectation at x = tₓ = T = 0.
pub fn expected_purchases_new(params: &BgNbdParams, t: f64) -> Result<f64, InsightError> {
    let fresh = BgNbdObservation { x: 0, t_x: 0.0, age: 0.0 };
    expected_purchases(params, &fresh, t)
}
