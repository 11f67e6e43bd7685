//! The models against numbers computed independently of this crate.
//!
//! Every constant below was printed by `tests/reference.py`: mpmath at 50 digits straight from
//! the papers' formulas (the untransformed ₂F₁ form of the conditional expectation, mpmath's own
//! log-gamma and ₂F₁), which the script also checks against the `lifetimes` Python package.
//! They are kept digit for digit as printed (17 significant digits), hence the allow. The
//! Gamma-Gamma fit is checked against files `tests/gamma_gamma_check.py` wrote with `lifetimes`.

#![allow(clippy::excessive_precision)]

use loyalty_insight::bgnbd::{self, BgNbdObservation, BgNbdParams};
use loyalty_insight::clv::{member_clv, ClvConfig};
use loyalty_insight::gamma_gamma::{self, GammaGammaParams, SpendObservation};

/// (x, tₓ, T, ln L, P(alive), E[Y(39)], E[Y(52)])
type Row = (u32, f64, f64, f64, f64, f64, f64);

const CDNOW: [f64; 4] = [0.24, 4.41, 0.79, 2.43];
const CDNOW_ROWS: [Row; 5] = [
    (0, 0.0, 38.86, -0.548_060_367_546_729_28, 1.0, 0.192_842_540_970_744_17, 0.249_203_659_492_768_11),
    (
        2,
        30.43,
        38.86,
        -9.465_857_120_312_210_3,
        0.727_681_154_868_940_67,
        1.227_367_517_755_395,
        1.560_741_216_052_514_3,
    ),
    (
        1,
        1.71,
        38.86,
        -4.481_782_347_542_493_3,
        0.213_879_173_743_924_24,
        0.204_574_005_730_626_55,
        0.261_648_195_417_926_9,
    ),
    (
        10,
        37.0,
        38.0,
        -27.233_934_836_033_854,
        0.918_909_298_618_889_69,
        6.801_707_575_757_395_8,
        8.535_629_359_222_893_5,
    ),
    (
        50,
        60.0,
        78.0,
        -71.368_658_738_545_21,
        0.000_273_182_979_972_851_35,
        0.005_568_712_453_497_755_8,
        0.007_115_695_804_528_980_5,
    ),
];

/// A second parameter set with a > 1 and b < 1, so both branches of (a − 1) are covered.
const OTHER: [f64; 4] = [1.3, 10.2, 1.6, 0.4];
const OTHER_ROWS: [Row; 3] = [
    (0, 0.0, 5.0, -0.518_580_019_830_606_95, 1.0, 1.024_111_243_709_223_8, 1.115_630_107_731_711_9),
    (3, 4.5, 5.0, -8.704_813_776_634_053_1, 0.565_039_149_477_720_77, 2.072_819_307_229_754, 2.282_521_766_393_412_4),
    (
        25,
        120.0,
        365.0,
        -74.667_807_512_736,
        1.242_871_723_975_348_7e-11,
        3.135_782_929_162_143_4e-11,
        4.077_155_635_350_971_3e-11,
    ),
];

fn close(got: f64, want: f64, relative: f64) -> bool {
    (got - want).abs() <= relative * want.abs().max(f64::MIN_POSITIVE)
}

fn check_rows(params: [f64; 4], rows: &[Row]) {
    let params = BgNbdParams::new(params[0], params[1], params[2], params[3]).unwrap();
    for &(x, t_x, age, ll, alive, e39, e52) in rows {
        let obs = BgNbdObservation::new(x, t_x, age).unwrap();
        let got = bgnbd::log_likelihood(&params, &obs);
        assert!(close(got, ll, 1e-12), "ln L{:?} = {got}, want {ll}", (x, t_x, age));
        let got = bgnbd::p_alive(&params, &obs);
        assert!(close(got, alive, 1e-12), "P(alive){:?} = {got}, want {alive}", (x, t_x, age));
        for (t, want) in [(39.0, e39), (52.0, e52)] {
            let got = bgnbd::expected_purchases(&params, &obs, t).unwrap();
            assert!(close(got, want, 1e-11), "E[Y({t})]{:?} = {got}, want {want}", (x, t_x, age));
        }
    }
}

#[test]
fn bgnbd_matches_the_reference_at_the_cdnow_estimates() {
    check_rows(CDNOW, &CDNOW_ROWS);
    let total: f64 = CDNOW_ROWS.iter().map(|row| row.3).sum();
    let params = BgNbdParams::new(CDNOW[0], CDNOW[1], CDNOW[2], CDNOW[3]).unwrap();
    let obs: Vec<_> = CDNOW_ROWS.iter().map(|r| BgNbdObservation::new(r.0, r.1, r.2).unwrap()).collect();
    assert!(close(bgnbd::total_log_likelihood(&params, &obs), total, 1e-12));
}

#[test]
fn bgnbd_matches_the_reference_with_a_above_one() {
    check_rows(OTHER, &OTHER_ROWS);
}

#[test]
fn a_new_member_expects_the_unconditional_number_of_purchases() {
    let cdnow = BgNbdParams::new(CDNOW[0], CDNOW[1], CDNOW[2], CDNOW[3]).unwrap();
    let other = BgNbdParams::new(OTHER[0], OTHER[1], OTHER[2], OTHER[3]).unwrap();
    assert!(close(bgnbd::expected_purchases_new(&cdnow, 39.0).unwrap(), 1.186_356_435_733_028_6, 1e-11));
    assert!(close(bgnbd::expected_purchases_new(&other, 39.0).unwrap(), 1.148_591_905_445_28, 1e-11));
}

#[test]
fn gamma_gamma_matches_the_reference() {
    let params = GammaGammaParams::new(6.25, 3.74, 15.44).unwrap();
    let rows = [
        (1, 35.0, -4.182_118_026_033_014_5, 35.066_740_823_136_818),
        (4, 20.5, -3.463_263_953_783_451_1, 21.953_857_245_854_362),
        (12, 87.3, -6.654_318_650_156_115_1, 85.464_368_407_512_217),
    ];
    for (x, mean, ll, expected) in rows {
        let obs = SpendObservation::new(x, mean).unwrap();
        let got = gamma_gamma::log_likelihood(&params, &obs);
        assert!(close(got, ll, 1e-12), "ln f({x}, {mean}) = {got}, want {ll}");
        let got = gamma_gamma::expected_average_value(&params, x, mean).unwrap();
        assert!(close(got, expected, 1e-13), "E[m]({x}, {mean}) = {got}, want {expected}");
    }
}

#[test]
fn clv_matches_the_reference_sum() {
    // 12 steps of 4 weeks, 1 % per step, every order worth 35: the script's `clv` with a fixed
    // order value, so here the Gamma-Gamma factor is made to return exactly 35 (x = 0 and a
    // population mean p v / (q − 1) = 35).
    let purchases = BgNbdParams::new(CDNOW[0], CDNOW[1], CDNOW[2], CDNOW[3]).unwrap();
    let spend = GammaGammaParams::new(7.0, 3.0, 10.0).unwrap();
    let history = BgNbdObservation::new(2, 30.43, 38.86).unwrap();
    let config = ClvConfig { steps: 12, step_length: 4.0, discount_rate_per_step: 0.01, margin: 1.0 };
    // E[m | x = 2, m̄ = 35] = 7 (10 + 70) / (14 + 2) = 35 as well.
    let clv = member_clv(&purchases, &spend, &history, 35.0, &config).unwrap();
    assert!(close(clv.expected_order_value, 35.0, 1e-15));
    assert!(close(clv.value, 48.154_681_957_176_438, 1e-11), "{clv:?}");
    let undiscounted = ClvConfig { discount_rate_per_step: 0.0, ..config };
    let plain = member_clv(&purchases, &spend, &history, 35.0, &undiscounted).unwrap();
    assert!(close(plain.value, 35.0 * plain.expected_purchases, 1e-12));
    assert!(plain.value > clv.value);
}

#[test]
fn expected_purchases_hold_in_the_awkward_corners() {
    // (r, α, a, b), (x, tₓ, T), t, E[Y(t)], tolerance. The first value is mpmath quadrature of the
    // posterior mean (a = 1 exactly, where the paper's form divides by zero); the others are the
    // 50-digit ₂F₁ form, confirmed by quadrature. The first two go through the interpolation
    // around a = 1; with r in the hundreds its nodes carry ~1e-12 of rounding each, amplified by
    // the 1/(a − 1) cancellation, hence the 1e-9 bound there (observed 1.7e-10).
    let cases = [
        ([557.6, 1.0, 1.0, 1.0], (2, 0.0, 0.0), 50.0, 18.631_277_515_924_288, 1e-9),
        ([5.0, 3.0, 1.000_03, 0.5], (1, 3.0, 10.0), 30.0, 0.018_400_812_699_562_141, 1e-9),
        ([5.0, 3.0, 0.3, 0.4], (0, 0.0, 20.0), 40.0, 3.949_101_828_524_211_2, 1e-10),
        ([1.0, 1.0, 983.56, 1.0], (802, 0.0, 0.0), 50.0, 0.816_235_140_856_538_07, 1e-10),
        ([300.0, 20.0, 2.5, 3.0], (40, 100.0, 120.0), 500.0, 8.567_859_176_356_635_7e-21, 1e-10),
    ];
    for (p, (x, t_x, age), t, want, tolerance) in cases {
        let params = BgNbdParams::new(p[0], p[1], p[2], p[3]).unwrap();
        let obs = BgNbdObservation::new(x, t_x, age).unwrap();
        let got = bgnbd::expected_purchases(&params, &obs, t).unwrap();
        assert!(close(got, want, tolerance), "{p:?} {:?}: {got} vs {want}", (x, t_x, age));
    }
}

#[test]
fn gamma_gamma_fit_matches_lifetimes() {
    // `tests/gamma_gamma_check.py`: lifetimes' summary of generated transactions (purchase days,
    // the first left out, net of refunds) and its GammaGammaFitter's estimates on the members
    // with x ≥ 1 and m̄ > 0. The pipeline from the transactions is checked in the loyalty crate
    // (tests/insight_spend); here the fit alone, on lifetimes' own (x, m̄).
    let expected: serde_json::Value = serde_json::from_str(include_str!("fixtures/gamma_gamma_params.json")).unwrap();
    let spenders: Vec<SpendObservation> = include_str!("fixtures/gamma_gamma_summary.tsv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            SpendObservation::new(f[1].parse().unwrap(), f[4].parse().unwrap()).ok()
        })
        .collect();
    assert_eq!(spenders.len() as u64, expected["members"].as_u64().unwrap());
    let fit = gamma_gamma::fit(&spenders, &Default::default()).unwrap();
    assert!(fit.converged);
    let p = fit.params;
    for (name, got) in [("p", p.p()), ("q", p.q()), ("v", p.v())] {
        let want = expected[name].as_f64().unwrap();
        assert!(close(got, want, 0.01), "{name} = {got}, lifetimes {want}");
    }
    assert!(
        close(fit.log_likelihood, expected["independent_mle"]["log_likelihood"].as_f64().unwrap(), 1e-6),
        "{fit:?}"
    );
}
