#!/usr/bin/env python3
"""Reference numbers for tests/reference_values.rs. Never run by CI.

Every value is computed twice, independently of the Rust code:
  * with mpmath at 50 digits straight from the papers' formulas (the untransformed 2F1 form
    of the BG/NBD conditional expectation, mpmath's own loggamma and hyp2f1);
  * with the `lifetimes` package (pip install lifetimes), where it offers the quantity.
The script asserts the two agree and prints the mpmath value, which the Rust tests hard-code.

    pip install mpmath lifetimes && python3 crates/loyalty-insight/tests/reference.py
"""
import mpmath as mp

mp.mp.dps = 50

BG_CASES = [
    # (r, alpha, a, b): the CDNOW estimates of Fader, Hardie & Lee (2005), and a set with a > 1.
    ((0.24, 4.41, 0.79, 2.43), [(0, 0.0, 38.86), (2, 30.43, 38.86), (1, 1.71, 38.86), (10, 37.0, 38.0), (50, 60.0, 78.0)]),
    ((1.3, 10.2, 1.6, 0.4), [(0, 0.0, 5.0), (3, 4.5, 5.0), (25, 120.0, 365.0)]),
]
HORIZONS = [39.0, 52.0]
GG_PARAMS = (6.25, 3.74, 15.44)
GG_CASES = [(1, 35.0), (4, 20.5), (12, 87.3)]
CLV = dict(steps=12, step_length=4.0, discount=0.01, aov=35.0)


def bg_ll(r, alpha, a, b, x, tx, T):
    r, alpha, a, b, tx, T = map(mp.mpf, (r, alpha, a, b, tx, T))
    a1 = mp.loggamma(r + x) - mp.loggamma(r) + r * mp.log(alpha)
    a2 = mp.loggamma(a + b) + mp.loggamma(b + x) - mp.loggamma(b) - mp.loggamma(a + b + x)
    a3 = (alpha + T) ** -(r + x)
    a4 = a / (b + x - 1) * (alpha + tx) ** -(r + x) if x > 0 else 0
    return a1 + a2 + mp.log(a3 + a4)


def bg_p_alive(r, alpha, a, b, x, tx, T):
    if x == 0:
        return mp.mpf(1)
    r, alpha, a, b, tx, T = map(mp.mpf, (r, alpha, a, b, tx, T))
    return 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))


def bg_expected(r, alpha, a, b, x, tx, T, t):
    r, alpha, a, b, tx, T, t = map(mp.mpf, (r, alpha, a, b, tx, T, t))
    z = t / (alpha + T + t)
    f = mp.hyp2f1(r + x, b + x, a + b + x - 1, z)
    bracket = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * f)
    return bracket * bg_p_alive(r, alpha, a, b, x, tx, T)


def gg_ll(p, q, v, x, m):
    p, q, v, m = map(mp.mpf, (p, q, v, m))
    return (mp.loggamma(p * x + q) - mp.loggamma(p * x) - mp.loggamma(q) + q * mp.log(v)
            + (p * x - 1) * mp.log(m) + p * x * mp.log(x) - (p * x + q) * mp.log(v + x * m))


def gg_expected(p, q, v, x, m):
    p, q, v, m = map(mp.mpf, (p, q, v, m))
    return p * (v + x * m) / (p * x + q - 1)


def clv(params, x, tx, T):
    total = mp.mpf(0)
    for k in range(1, CLV["steps"] + 1):
        step = bg_expected(*params, x, tx, T, k * CLV["step_length"]) - (
            bg_expected(*params, x, tx, T, (k - 1) * CLV["step_length"]) if k > 1 else 0)
        total += step * CLV["aov"] / (1 + mp.mpf(CLV["discount"])) ** k
    return total


# Awkward corners of E[Y(t)]: huge r with a = 1 exactly, a + b < 1 with x = 0 (C < 0), a within
# 1e-4 of 1, huge a with many purchases, and a large-everything member.
EXTREME_CASES = [
    ((557.6, 1.0, 1.0, 1.0), (2, 0.0, 0.0), 50.0),
    ((5.0, 3.0, 1.00003, 0.5), (1, 3.0, 10.0), 30.0),
    ((5.0, 3.0, 0.3, 0.4), (0, 0.0, 20.0), 40.0),
    ((1.0, 1.0, 983.56, 1.0), (802, 0.0, 0.0), 50.0),
    ((300.0, 20.0, 2.5, 3.0), (40, 100.0, 120.0), 500.0),
]


def bg_expected_by_quadrature(r, alpha, a, b, x, tx, T, t):
    """E[Y(t)] as the posterior mean of (1/p)(1 − (1 + p t/(α+T))^−(r+x)), p ~ Beta(a, b+x):
    a route through neither 2F1 nor the 1/(a − 1) factor, so it also holds at a = 1."""
    r, alpha, a, b, tx, T, t = map(mp.mpf, (r, alpha, a, b, tx, T, t))
    tau = t / (alpha + T)
    s = r + x
    g = lambda p: -mp.expm1(-s * mp.log1p(p * tau)) / p
    density = lambda p: p ** (a - 1) * (1 - p) ** (b + x - 1) / mp.beta(a, b + x)
    alive = mp.quad(lambda p: g(p) * density(p), [0, mp.mpf(1) / 2, 1])
    return alive * bg_p_alive(r, alpha, a, b, x, tx, T)


def lifetimes_check(params, cases):
    try:
        import numpy as np
        import pandas as pd
        from lifetimes import BetaGeoFitter
    except Exception as err:  # lifetimes is optional: mpmath alone is the reference
        print("# lifetimes unavailable:", err)
        return
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series(dict(zip(["r", "alpha", "a", "b"], params)))
    for x, tx, T in cases:
        ll = -BetaGeoFitter._negative_log_likelihood(
            np.log(np.array(params)), np.array([x]), np.array([tx]), np.array([T]), np.array([1.0]), 0.0)
        assert abs(ll - float(bg_ll(*params, x, tx, T))) < 1e-9, (x, tx, T, ll)
        pa = fitter.conditional_probability_alive(x, tx, T)
        assert abs(pa - float(bg_p_alive(*params, x, tx, T))) < 1e-9
        for t in HORIZONS:
            e = fitter.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T)
            assert abs(e - float(bg_expected(*params, x, tx, T, t))) < 1e-8 * max(1, abs(e)), (x, t, e)
    print("# lifetimes agrees with mpmath for", params)


def main():
    print("ln_gamma / digamma (src/special.rs)")
    for x in [1e-8, 0.001, 0.24, 0.5, 1, 2, 3.7, 11.99, 12.5, 100, 1e6]:
        print(f"  ln_gamma({x}) = {mp.nstr(mp.loggamma(mp.mpf(x)), 17)}")
    for x in [0.001, 0.24, 1, 3.7, 12, 1000]:
        print(f"  digamma({x}) = {mp.nstr(mp.digamma(mp.mpf(x)), 17)}")
    for params, cases in BG_CASES:
        lifetimes_check(params, cases)
        print(f"params {params}")
        for x, tx, T in cases:
            ll = bg_ll(*params, x, tx, T)
            pa = bg_p_alive(*params, x, tx, T)
            ex = [bg_expected(*params, x, tx, T, t) for t in HORIZONS]
            print(f"  ({x}, {tx}, {T}): ll={mp.nstr(ll, 17)} p_alive={mp.nstr(pa, 17)} "
                  f"E[Y({HORIZONS[0]})]={mp.nstr(ex[0], 17)} E[Y({HORIZONS[1]})]={mp.nstr(ex[1], 17)}")
        print(f"  E[X(39)] new member = {mp.nstr(bg_expected(*params, 0, 0, 0, 39.0), 17)}")
    print(f"gamma-gamma {GG_PARAMS}")
    for x, m in GG_CASES:
        print(f"  ({x}, {m}): ll={mp.nstr(gg_ll(*GG_PARAMS, x, m), 17)} E[m]={mp.nstr(gg_expected(*GG_PARAMS, x, m), 17)}")
    print("extreme E[Y(t)] by quadrature")
    for params, (x, tx, T), t in EXTREME_CASES:
        e = bg_expected_by_quadrature(*params, x, tx, T, t)
        if params[2] != 1.0:
            # Quadrature of an endpoint singularity is good to ~1e-15; the 2F1 form is exact.
            direct = bg_expected(*params, x, tx, T, t)
            assert abs(direct - e) < 1e-12 * abs(e), (params, direct, e)
            e = direct
        print(f"  {params} ({x}, {tx}, {T}) t={t}: {mp.nstr(e, 17)}")
    cdnow = BG_CASES[0][0]
    print(f"clv {CLV} for (2, 30.43, 38.86): {mp.nstr(clv(cdnow, 2, 30.43, 38.86), 17)}")


if __name__ == "__main__":
    main()
