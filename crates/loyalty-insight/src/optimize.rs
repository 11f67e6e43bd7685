//! A small BFGS minimiser for the maximum-likelihood fits.
//!
//! The likelihoods are smooth in their log-parameters and their gradients are cheap once the data
//! are aggregated, so a quasi-Newton method converges in tens of iterations where Nelder–Mead
//! needs hundreds of function evaluations; on 100,000 members that is the difference between a
//! fraction of a second and several seconds.

use serde::{Deserialize, Serialize};

use crate::InsightError;

/// Longest step, in log-parameter units, a line search may try: e^8 ≈ 3000×, enough to cross any
/// sensible scale in one move while keeping the objective away from overflow.
const MAX_STEP: f64 = 8.0;

/// Halvings a line search may make before it gives up on a direction.
const MAX_HALVINGS: u32 = 60;

/// Armijo's sufficient-decrease constant.
const ARMIJO: f64 = 1e-4;

/// Limits of a maximum-likelihood fit. Both fits minimise the mean negative log-likelihood per
/// member, so the tolerance means the same whatever the number of members.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitOptions {
    /// Most BFGS iterations; each costs one to a few passes over the distinct histories.
    pub max_iterations: u32,
    /// Converged when every component of the gradient (per member, in log-parameters) is below.
    /// The default 1e-6 moves the parameters by far less than their sampling error; much below
    /// 1e-8 the objective's own rounding (about 1e-16 of its value) stops further progress.
    pub gradient_tolerance: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { max_iterations: 1000, gradient_tolerance: 1e-6 }
    }
}

/// Hard cap on `max_iterations`: a limit on everything.
pub const MAX_FIT_ITERATIONS: u32 = 100_000;

impl FitOptions {
    /// Public so that the programme loader refuses a bad limit at start-up, not at the first run.
    pub fn validate(&self) -> Result<(), InsightError> {
        if self.max_iterations == 0 || self.max_iterations > MAX_FIT_ITERATIONS {
            return Err(InsightError::config(
                "max_iterations",
                format!(
                    "{} is out of range; expected an integer between 1 and {MAX_FIT_ITERATIONS}",
                    self.max_iterations
                ),
            ));
        }
        if !(self.gradient_tolerance.is_finite() && self.gradient_tolerance > 0.0) {
            return Err(InsightError::config("gradient_tolerance", "must be a finite number above zero"));
        }
        Ok(())
    }
}

/// Where the minimiser stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Minimum<const N: usize> {
    pub x: [f64; N],
    pub value: f64,
    pub iterations: u32,
    /// True when the largest gradient component fell below the tolerance.
    pub converged: bool,
}

/// Minimises `f`, which returns the objective and writes its gradient into the second argument.
///
/// A non-finite objective counts as +∞, so the line search backs away from regions where the
/// model overflows. When a direction yields no decrease the inverse-Hessian estimate is reset to
/// the identity once; a second failure in a row ends the search.
pub(crate) fn minimize<const N: usize, F>(
    mut f: F,
    x0: [f64; N],
    max_iterations: u32,
    gradient_tolerance: f64,
) -> Minimum<N>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let mut x = x0;
    let mut g = [0.0; N];
    let mut fx = f(&x, &mut g);
    let mut h = identity::<N>();
    let mut fresh = true;
    let mut iterations = 0;
    // A non-finite value or gradient means the model overflowed at this point: stop there and
    // report no convergence rather than steer by NaN.
    while iterations < max_iterations && fx.is_finite() && g.iter().all(|gi| gi.is_finite()) {
        if max_abs(&g) <= gradient_tolerance {
            return Minimum { x, value: fx, iterations, converged: true };
        }
        iterations += 1;
        let direction = descent_direction(&h, &g);
        let Some((x_new, f_new, g_new)) = line_search(&mut f, &x, fx, &g, &direction) else {
            if fresh {
                break;
            }
            h = identity::<N>();
            fresh = true;
            continue;
        };
        let s = sub(&x_new, &x);
        let y = sub(&g_new, &g);
        if fresh {
            // Scale the first estimate to the curvature just seen (Nocedal & Wright, 6.20).
            let yy = dot(&y, &y);
            if yy > 0.0 && dot(&s, &y) > 0.0 {
                h = scaled_identity::<N>(dot(&s, &y) / yy);
            }
        }
        bfgs_update(&mut h, &s, &y);
        fresh = false;
        (x, fx, g) = (x_new, f_new, g_new);
    }
    let converged = fx.is_finite() && g.iter().all(|gi| gi.is_finite()) && max_abs(&g) <= gradient_tolerance;
    Minimum { x, value: fx, iterations, converged }
}

/// −H g, or −g when H has lost positive definiteness and −H g points uphill.
fn descent_direction<const N: usize>(h: &[[f64; N]; N], g: &[f64; N]) -> [f64; N] {
    let mut d = [0.0; N];
    for (i, row) in h.iter().enumerate() {
        d[i] = -dot(row, g);
    }
    if dot(&d, g) >= 0.0 {
        d = g.map(|gi| -gi);
    }
    let longest = max_abs(&d);
    if longest > MAX_STEP {
        d = d.map(|di| di * MAX_STEP / longest);
    }
    d
}

type Point<const N: usize> = ([f64; N], f64, [f64; N]);

/// Backtracking line search with Armijo's condition; `None` when no step decreases `f`.
fn line_search<const N: usize, F>(f: &mut F, x: &[f64; N], fx: f64, g: &[f64; N], d: &[f64; N]) -> Option<Point<N>>
where
    F: FnMut(&[f64; N], &mut [f64; N]) -> f64,
{
    let slope = dot(g, d);
    // A gradient that overflowed (NaN or infinite slope) gives no direction to search along:
    // the caller treats `None` as "no step lowers f" and stops without converging.
    if !slope.is_finite() {
        return None;
    }
    debug_assert!(slope < 0.0 || max_abs(g) == 0.0, "not a descent direction");
    let mut step = 1.0;
    let mut g_new = [0.0; N];
    for _ in 0..MAX_HALVINGS {
        let mut x_new = *x;
        for (xi, di) in x_new.iter_mut().zip(d) {
            *xi += step * di;
        }
        let f_new = f(&x_new, &mut g_new);
        // The strict `<` matters at the optimum: once no step can lower f in floating point,
        // an equal value must count as failure, or the search would creep on forever.
        let finite = f_new.is_finite() && g_new.iter().all(|gi| gi.is_finite());
        if finite && f_new < fx && f_new <= fx + ARMIJO * step * slope {
            return Some((x_new, f_new, g_new));
        }
        step *= 0.5;
    }
    None
}

/// H ← (I − ρ s yᵀ) H (I − ρ y sᵀ) + ρ s sᵀ, skipped when the curvature sᵀy is not positive,
/// which keeps H positive definite.
fn bfgs_update<const N: usize>(h: &mut [[f64; N]; N], s: &[f64; N], y: &[f64; N]) {
    let sy = dot(s, y);
    let positive_curvature = sy > 1e-12 * dot(s, s).sqrt() * dot(y, y).sqrt();
    if !positive_curvature {
        return;
    }
    let rho = 1.0 / sy;
    let mut hy = [0.0; N];
    for (i, row) in h.iter().enumerate() {
        hy[i] = dot(row, y);
    }
    let yhy = dot(y, &hy);
    for i in 0..N {
        for j in 0..N {
            h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

fn identity<const N: usize>() -> [[f64; N]; N] {
    scaled_identity(1.0)
}

fn scaled_identity<const N: usize>(scale: f64) -> [[f64; N]; N] {
    let mut h = [[0.0; N]; N];
    for (i, row) in h.iter_mut().enumerate() {
        row[i] = scale;
    }
    h
}

fn dot<const N: usize>(u: &[f64; N], v: &[f64; N]) -> f64 {
    u.iter().zip(v).map(|(a, b)| a * b).sum()
}

fn sub<const N: usize>(u: &[f64; N], v: &[f64; N]) -> [f64; N] {
    let mut w = *u;
    for (wi, vi) in w.iter_mut().zip(v) {
        *wi -= vi;
    }
    w
}

fn max_abs<const N: usize>(v: &[f64; N]) -> f64 {
    v.iter().fold(0.0, |m, vi| m.max(vi.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_rosenbrocks_valley() {
        let rosenbrock = |x: &[f64; 2], g: &mut [f64; 2]| {
            let (a, b) = (1.0 - x[0], x[1] - x[0] * x[0]);
            g[0] = -2.0 * a - 400.0 * x[0] * b;
            g[1] = 200.0 * b;
            a * a + 100.0 * b * b
        };
        let m = minimize(rosenbrock, [-1.2, 1.0], 500, 1e-10);
        assert!(m.converged, "{m:?}");
        assert!((m.x[0] - 1.0).abs() < 1e-8 && (m.x[1] - 1.0).abs() < 1e-8, "{m:?}");
    }

    #[test]
    fn reports_no_convergence_when_the_budget_runs_out() {
        let bowl = |x: &[f64; 1], g: &mut [f64; 1]| {
            g[0] = 2.0 * (x[0] - 3.0);
            (x[0] - 3.0).powi(2)
        };
        assert!(!minimize(bowl, [100.0], 0, 1e-12).converged);
        assert!(minimize(bowl, [100.0], 50, 1e-12).converged);
    }
}
