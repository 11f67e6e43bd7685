use loyalty_insight::bgnbd::{self, BgNbdParams};
use loyalty_insight::FitOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[test]
#[ignore]
fn study() {
    let truth = BgNbdParams::new(0.24, 4.41, 0.79, 2.43).unwrap();
    for &n in &[20_000usize, 50_000] {
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let ages: Vec<f64> = (0..n).map(|_| rng.random_range(27.0..39.0)).collect();
            let obs = bgnbd::simulate_ages(&truth, &ages, &mut rng).unwrap();
            let t0 = Instant::now();
            let fit = bgnbd::fit(&obs, &FitOptions::default()).unwrap();
            let el = t0.elapsed();
            let p = fit.params;
            println!("n={n} seed={seed} r={:.4} ({:+.1}%) alpha={:.3} ({:+.1}%) a={:.3} ({:+.1}%) b={:.3} ({:+.1}%) it={} conv={} {:?} distinct={}",
              p.r(), 100.0*(p.r()/0.24-1.0), p.alpha(), 100.0*(p.alpha()/4.41-1.0), p.a(), 100.0*(p.a()/0.79-1.0), p.b(), 100.0*(p.b()/2.43-1.0), fit.iterations, fit.converged, el, fit.distinct_histories);
        }
    }
}

#[test]
#[ignore]
fn study_gg() {
    use loyalty_insight::gamma_gamma::{self, GammaGammaParams};
    let truth = BgNbdParams::new(0.24, 4.41, 0.79, 2.43).unwrap();
    let gg = GammaGammaParams::new(6.25, 3.74, 15.44).unwrap();
    for &n in &[20_000usize, 50_000] {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut xs = Vec::new();
            while xs.len() < n {
                let obs = bgnbd::simulate(&truth, 10_000, 39.0, &mut rng).unwrap();
                xs.extend(obs.iter().map(|o| o.x()).filter(|&x| x >= 1));
            }
            xs.truncate(n);
            let spend = gamma_gamma::simulate(&gg, &xs, &mut rng).unwrap();
            let t0 = Instant::now();
            let fit = gamma_gamma::fit(&spend, &FitOptions::default()).unwrap();
            let p = fit.params;
            println!("n={n} seed={seed} p={:.3} ({:+.1}%) q={:.3} ({:+.1}%) v={:.3} ({:+.1}%) it={} conv={} {:?} mean={:.3}",
              p.p(), 100.0*(p.p()/6.25-1.0), p.q(), 100.0*(p.q()/3.74-1.0), p.v(), 100.0*(p.v()/15.44-1.0), fit.iterations, fit.converged, t0.elapsed(), p.population_mean_value().unwrap());
        }
    }
}
