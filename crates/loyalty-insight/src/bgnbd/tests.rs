//! Unit tests of the BG/NBD internals; the reference values and recovery tests live in `tests/`.

use super::fit::objective_for_tests;
use super::*;

fn sample_histories() -> Vec<BgNbdObservation> {
    [(0, 0.0, 30.0), (0, 0.0, 30.0), (1, 2.0, 30.0), (3, 20.5, 38.0), (7, 37.0, 38.0), (1, 0.0, 5.0)]
        .into_iter()
        .map(|(x, t_x, age)| BgNbdObservation::new(x, t_x, age).unwrap())
        .collect()
}

#[test]
fn the_fast_objective_equals_the_plain_likelihood() {
    let obs = sample_histories();
    let theta = [0.3_f64.ln(), 4.0_f64.ln(), 0.8_f64.ln(), 2.5_f64.ln()];
    let params = BgNbdParams::new(0.3, 4.0, 0.8, 2.5).unwrap();
    let (value, _) = objective_for_tests(&obs, &theta);
    let plain = total_log_likelihood(&params, &obs) / obs.len() as f64;
    assert!((value + plain).abs() < 1e-12, "{value} vs {plain}");
}

#[test]
fn the_analytic_gradient_matches_central_differences() {
    let obs = sample_histories();
    let theta = [0.2_f64.ln(), 3.0_f64.ln(), 1.3_f64.ln(), 0.9_f64.ln()];
    let (_, grad) = objective_for_tests(&obs, &theta);
    for i in 0..4 {
        let h = 1e-6;
        let (mut up, mut down) = (theta, theta);
        up[i] += h;
        down[i] -= h;
        let numeric = (objective_for_tests(&obs, &up).0 - objective_for_tests(&obs, &down).0) / (2.0 * h);
        assert!((numeric - grad[i]).abs() < 1e-7, "component {i}: {numeric} vs {}", grad[i]);
    }
}

#[test]
fn observations_refuse_impossible_histories() {
    assert!(BgNbdObservation::new(0, 1.0, 5.0).is_err());
    assert!(BgNbdObservation::new(2, 6.0, 5.0).is_err());
    assert!(BgNbdObservation::new(2, -1.0, 5.0).is_err());
    assert!(BgNbdObservation::new(2, 1.0, f64::NAN).is_err());
    let from_orders = BgNbdObservation::from_history(3, 40.0, 10.0).unwrap();
    assert_eq!((from_orders.x(), from_orders.t_x(), from_orders.age()), (2, 30.0, 40.0));
    assert!(BgNbdObservation::from_history(0, 40.0, 10.0).is_err());
}

#[test]
fn params_deserialize_only_when_valid() {
    let ok: BgNbdParams = serde_json::from_str(r#"{"r":0.24,"alpha":4.41,"a":0.79,"b":2.43}"#).unwrap();
    assert_eq!(ok, BgNbdParams::new(0.24, 4.41, 0.79, 2.43).unwrap());
    assert!(serde_json::from_str::<BgNbdParams>(r#"{"r":-1,"alpha":4.41,"a":0.79,"b":2.43}"#).is_err());
}
