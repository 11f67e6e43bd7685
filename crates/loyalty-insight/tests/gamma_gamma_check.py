#!/usr/bin/env python3
"""Builds the Gamma-Gamma reference fixtures from generated transactions. Never run by CI.

Writes, under tests/fixtures/:
  * gamma_gamma_transactions.tsv: orders (member, paid_at, total in minor units) and refunds
    (order, refunded_at, amount) of a few hundred members: several orders on one day, partial and
    whole refunds, refunds made after the analysis instant, orders paid after it;
  * gamma_gamma_summary.tsv: per member, `lifetimes`' summary_data_from_transaction_data(freq='D')
    of the orders net of the refunds made by the instant (frequency, recency, T, monetary_value)
    and its GammaGammaFitter's conditional_expected_average_profit;
  * gamma_gamma_params.json: the instant and GammaGammaFitter's p, q, v on the members with
    frequency >= 1 and monetary_value > 0; the independent fit's p, q, v and log-likelihood.

crates/loyalty/tests/insight_spend/ places the same orders and refunds through the engine, runs
member insight as of the same instant, and checks the histories, the repeat means, the fitted
parameters (within 1 %) and each member's expected order value against these files.

The fit is confirmed here by an independent maximum likelihood (scipy's L-BFGS-B on the
log-likelihood written out below, not lifetimes' code) before anything is written.

Day boundaries: the instant is a UTC midnight and no order is paid at a midnight, so the whole
days counted back from it (the engine's purchase days) are the calendar days lifetimes groups by.

    pip install lifetimes scipy && python3 crates/loyalty-insight/tests/gamma_gamma_check.py
"""
import json
import os
import random
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import lifetimes
import scipy
from lifetimes import GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
from scipy.optimize import minimize
from scipy.special import gammaln

AT = datetime(2024, 7, 1)
MEMBERS = 400
# The spend process the values are drawn from, in minor units (only to make realistic data: the
# reference is the fit to the data, not these numbers).
P, Q, V = 4.0, 3.5, 2_000.0


def instant(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def order_times(rng, day):
    """One to three instants inside calendar day `day`, never at midnight."""
    count = rng.choices([1, 2, 3], weights=[75, 18, 7])[0]
    return sorted(day + timedelta(seconds=rng.randint(60, 86_400 - 60)) for _ in range(count))


def member_orders(rng, member):
    """(order id, member, paid_at, total) of one member."""
    age = rng.randint(20, 540)
    first = AT - timedelta(days=age)
    days = {first}
    repeat = rng.choices([0, 1, 2, 3, 5, 8, rng.randint(1, 30)], weights=[30, 20, 15, 12, 10, 8, 5])[0]
    for _ in range(repeat):
        days.add(first + timedelta(days=rng.randint(0, age + 20)))  # some after the instant
    nu = rng.gammavariate(Q, 1.0 / V)
    orders = []
    for day in sorted(days):
        # One purchase day's value, split over that day's orders.
        value = max(1, round(rng.gammavariate(P, 1.0 / nu)))
        times = order_times(rng, day)
        cuts = sorted(rng.randint(0, value) for _ in range(len(times) - 1))
        parts = [b - a for a, b in zip([0] + cuts, cuts + [value])]
        for t, part in zip(times, parts):
            orders.append((f"{member}-{len(orders)}", member, t, max(1, part)))
    return orders


def refunds_of(rng, order):
    """Refunds (refund id, order id, refunded_at, amount) of one order: most have none."""
    order_id, _, paid_at, total = order
    kind = rng.random()
    if kind > 0.15:
        return []
    later = lambda: paid_at + timedelta(hours=rng.randint(1, 24 * 90))
    if kind < 0.04:
        return [(f"{order_id}-r0", order_id, later(), total)]
    first = rng.randint(1, total)
    out = [(f"{order_id}-r0", order_id, later(), first)]
    if kind < 0.07 and first < total:
        out.append((f"{order_id}-r1", order_id, later(), rng.randint(1, total - first)))
    return out


def generate(rng):
    orders, refunds = [], []
    for i in range(MEMBERS):
        for o in member_orders(rng, f"gg-{i:03}"):
            orders.append(o)
            refunds.extend(refunds_of(rng, o))
    return orders, refunds


def lifetimes_input(orders, refunds):
    """One row per order, its value net of the refunds made by the instant."""
    refunded = {}
    for _, order_id, refunded_at, amount in refunds:
        if refunded_at <= AT:
            refunded[order_id] = refunded.get(order_id, 0) + amount
    rows = [(m, t, total - refunded.get(o, 0)) for o, m, t, total in orders]
    return pd.DataFrame(rows, columns=["member_id", "paid_at", "net_minor"])


def gg_neg_ll(log_params, x, m):
    p, q, v = np.exp(log_params)
    ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
          + p * x * np.log(x) - (p * x + q) * np.log(v + x * m))
    return -ll.sum()


def independent_fit(x, m):
    """Maximum likelihood of the Fader & Hardie Gamma-Gamma density, from several starts."""
    best = None
    for start in [(0.0, np.log(2.0), np.log(m.mean())), (1.0, 1.0, np.log(m.mean()) + 1), (0.1, 0.1, 0.1)]:
        r = minimize(gg_neg_ll, np.array(start), args=(x, m), method="L-BFGS-B",
                     options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000})
        if best is None or r.fun < best.fun:
            best = r
    return tuple(float(v) for v in np.exp(best.x)), float(-best.fun)


def write(name, text):
    path = os.path.join(os.path.dirname(__file__), "fixtures", name)
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)
    return path


def main():
    rng = random.Random(20240701)
    orders, refunds = generate(rng)
    tx = lifetimes_input(orders, refunds)
    end = (AT - timedelta(days=1)).strftime("%Y-%m-%d")
    summary = summary_data_from_transaction_data(tx, "member_id", "paid_at", monetary_value_col="net_minor",
                                                 observation_period_end=end, freq="D")
    spenders = summary[(summary.frequency > 0) & (summary.monetary_value > 0)]
    fitter = GammaGammaFitter(penalizer_coef=0.0).fit(spenders.frequency, spenders.monetary_value)
    p, q, v = (float(fitter.params_[k]) for k in ["p", "q", "v"])
    (ip, iq, iv), ll = independent_fit(spenders.frequency.to_numpy(), spenders.monetary_value.to_numpy())
    for name, a, b in [("p", p, ip), ("q", q, iq), ("v", v, iv)]:
        assert abs(a - b) <= 1e-4 * abs(b), f"lifetimes {name} = {a}, independent MLE {b}"
    expected = fitter.conditional_expected_average_profit(summary.frequency, summary.monetary_value)

    lines = ["kind\tid\tmember_id\torder_id\tat\tamount_minor"]
    lines += [f"order\t{o}\t{m}\t\t{instant(t)}\t{total}" for o, m, t, total in orders]
    lines += [f"refund\t{r}\t\t{o}\t{instant(t)}\t{amount}" for r, o, t, amount in refunds]
    write("gamma_gamma_transactions.tsv", "\n".join(lines) + "\n")
    lines = ["member_id\tfrequency\trecency\tT\tmonetary_value\texpected_average_value"]
    for member, row in summary.iterrows():
        f, r, t, m = (row[k] for k in ["frequency", "recency", "T", "monetary_value"])
        lines.append(f"{member}\t{int(f)}\t{int(r)}\t{int(t)}\t{float(m)!r}\t{float(expected[member])!r}")
    write("gamma_gamma_summary.tsv", "\n".join(lines) + "\n")
    params = {
        "at": instant(AT),
        "p": p, "q": q, "v": v,
        "members": len(spenders),
        "independent_mle": {"p": ip, "q": iq, "v": iv, "log_likelihood": ll},
        "versions": {"lifetimes": lifetimes.__version__, "pandas": pd.__version__, "numpy": np.__version__,
                     "scipy": scipy.__version__},
    }
    write("gamma_gamma_params.json", json.dumps(params, indent=2) + "\n")
    late = sum(1 for _, _, t, _ in refunds if t > AT)
    print(f"{len(orders)} orders ({sum(1 for o in orders if o[2] >= AT)} after the instant), {len(refunds)} "
          f"refunds ({late} after it), {len(summary)} buyers, {len(spenders)} in the fit")
    print(f"lifetimes {lifetimes.__version__}: p={p!r} q={q!r} v={v!r}; independent MLE p={ip!r} q={iq!r} v={iv!r}")


if __name__ == "__main__":
    main()
