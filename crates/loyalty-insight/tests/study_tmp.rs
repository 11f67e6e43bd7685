use loyalty_insight::bgnbd::{self, BgNbdParams};
use loyalty_insight::FitOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Instant;

#[test]
#[ignore]
fn study() {
    let truth = BgNbdParams::new(0.24, 4.41, 0.79, 2.43).unwrap();
    for &n in &[20_000usize, 50_000, 100_000] {
        for seed in 0..8u64 {
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
