//! The BG/NBD generative process, for tests, benchmarks and "what if" dashboards.

use rand::Rng;
use rand_distr::{Beta, Distribution, Exp, Gamma};

use super::{BgNbdObservation, BgNbdParams};
use crate::InsightError;

/// Most repeat purchases one simulated member may make. Parameters with a huge purchase rate
/// and almost no dropout would otherwise loop for a very long time; a limit on everything.
pub const MAX_SIMULATED_PURCHASES: u32 = 1_000_000;

/// Most members one call may simulate.
pub const MAX_SIMULATED_MEMBERS: usize = 50_000_000;

/// Simulates `members` members, all observed for `observation_length` time units after their
/// first purchase (everyone has T = `observation_length`).
pub fn simulate<R: Rng + ?Sized>(
    params: &BgNbdParams,
    members: usize,
    observation_length: f64,
    rng: &mut R,
) -> Result<Vec<BgNbdObservation>, InsightError> {
    check_count(members)?;
    let draws = Draws::new(params)?;
    (0..members).map(|_| draws.member(observation_length, rng)).collect()
}

/// Simulates one member per entry of `ages`, each observed for that many time units after the
/// first purchase (cohorts that joined at different times).
pub fn simulate_ages<R: Rng + ?Sized>(
    params: &BgNbdParams,
    ages: &[f64],
    rng: &mut R,
) -> Result<Vec<BgNbdObservation>, InsightError> {
    check_count(ages.len())?;
    let draws = Draws::new(params)?;
    ages.iter().map(|&age| draws.member(age, rng)).collect()
}

fn check_count(members: usize) -> Result<(), InsightError> {
    if members > MAX_SIMULATED_MEMBERS {
        return Err(InsightError::config("members", format!("{members} exceeds the limit of {MAX_SIMULATED_MEMBERS}")));
    }
    Ok(())
}

/// The two mixing distributions: purchase rate λ ~ Gamma(r, scale 1/α), dropout p ~ Beta(a, b).
struct Draws {
    rate: Gamma<f64>,
    dropout: Beta<f64>,
}

impl Draws {
    fn new(params: &BgNbdParams) -> Result<Self, InsightError> {
        let bad = |name, value| InsightError::InvalidParameter { name, value, reason: "cannot be sampled" };
        Ok(Self {
            rate: Gamma::new(params.r, 1.0 / params.alpha).map_err(|_| bad("r", params.r))?,
            dropout: Beta::new(params.a, params.b).map_err(|_| bad("a", params.a))?,
        })
    }

    /// One member: purchases arrive at rate λ from time 0 (the first purchase) until `age`;
    /// right after each repeat purchase the member drops out with probability p.
    fn member<R: Rng + ?Sized>(&self, age: f64, rng: &mut R) -> Result<BgNbdObservation, InsightError> {
        let lambda = self.rate.sample(rng);
        let p = self.dropout.sample(rng);
        // A rate that underflowed to zero means no purchase ever; `Exp` would refuse it.
        let gap = match Exp::new(lambda) {
            Ok(gap) if lambda > 0.0 => gap,
            _ => return BgNbdObservation::new(0, 0.0, age),
        };
        let (mut x, mut t_x, mut now) = (0_u32, 0.0_f64, 0.0_f64);
        loop {
            now += gap.sample(rng);
            if now > age {
                break;
            }
            x += 1;
            t_x = now;
            if x >= MAX_SIMULATED_PURCHASES {
                return Err(InsightError::NoConvergence {
                    what: "simulated purchase stream",
                    limit: u64::from(MAX_SIMULATED_PURCHASES),
                });
            }
            if rng.random::<f64>() < p {
                break;
            }
        }
        BgNbdObservation::new(x, t_x, age)
    }
}
