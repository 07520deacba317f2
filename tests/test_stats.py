"""The report's statistics (issue 20) against hand computations and simulation."""

import math

import numpy as np
import pytest
from scipy import stats

from tf_introspect.lab import stats as lab_stats

A = [98.80, 98.85, 98.72, 98.90, 98.76]
B = [98.31, 98.45, 98.20, 98.28, 98.33, 98.40]


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04 of 3: 0.03, max(0.03, 0.06), max(0.06, 0.04)
    assert lab_stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert lab_stats.holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert lab_stats.holm([0.02]) == [0.02]
    # the untested members of a planned family count: 4 comparisons, 1 run so far
    assert lab_stats.holm([0.013, None, None, None]) == [pytest.approx(0.052), None, None, None]


def test_hedges_g_by_hand():
    ma, mb = sum(A) / 5, sum(B) / 6
    va = sum((x - ma) ** 2 for x in A) / 4
    vb = sum((x - mb) ** 2 for x in B) / 5
    pooled = math.sqrt((4 * va + 5 * vb) / 9)
    assert lab_stats.hedges_g(A, B) == pytest.approx((ma - mb) / pooled * (1 - 3 / (4 * 11 - 9)))
    assert lab_stats.hedges_g([1.0], B) is None
    assert lab_stats.hedges_g([1.0, 1.0], [1.0, 1.0]) is None


def _simulated_power(delta, sd_a, sd_b, na, nb, trials=20000, level=0.05):
    rng = np.random.default_rng(0)
    a = rng.normal(delta, sd_a, size=(trials, na))
    b = rng.normal(0.0, sd_b, size=(trials, nb))
    p = stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue
    return float(np.mean(p < level))


def test_power_and_detectable_difference_against_simulation():
    """The noncentral-t power with the observed spreads as the true ones: close to the Welch
    test's simulated rejection rate for samples of equal size and spread (the seed cells'
    usual case; with very unequal spreads it is an approximation)."""
    a, b = [0.0, 0.1, -0.1, 0.05, -0.05], [0.02, 0.12, -0.08, 0.07, -0.03]
    sd_a, sd_b = np.std(a, ddof=1), np.std(b, ddof=1)
    for delta in (0.05, 0.1, 0.15):
        assert lab_stats.welch_power(delta, a, b) == pytest.approx(
            _simulated_power(delta, sd_a, sd_b, 5, 5), abs=0.03
        )
    d = lab_stats.detectable(a, b)
    assert lab_stats.welch_power(d, a, b) == pytest.approx(0.8, abs=1e-6)
    assert _simulated_power(d, sd_a, sd_b, 5, 5) == pytest.approx(0.8, abs=0.03)
    assert lab_stats.welch_power(0.1, [1.0], b) is None and lab_stats.detectable([1.0], b) is None


def test_tost_by_hand_and_its_power_by_simulation():
    a, b, margin = np.array(A), np.array(A) - 0.02, 0.1
    va, vb = a.var(ddof=1) / 5, b.var(ddof=1) / 5
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 4 + vb**2 / 4)
    p_low = stats.t.sf((0.02 + margin) / se, df)
    p_high = stats.t.cdf((0.02 - margin) / se, df)
    found = lab_stats.tost(a, b, margin)
    assert found["p"] == pytest.approx(max(p_low, p_high))
    low, high = found["interval"]  # equivalent at 0.05 <=> the 90 % interval inside the margin
    assert (found["p"] < 0.05) == (-margin < low and high < margin)
    assert (low + high) / 2 == pytest.approx(0.02)

    # power at a true difference of 0: how often both one-sided tests reject
    rng = np.random.default_rng(1)
    sd, hits, trials = 0.06, 0, 4000
    for _ in range(trials):
        x, y = rng.normal(0, sd, 5), rng.normal(0, sd, 5)
        hits += lab_stats.tost(x, y, margin)["p"] < 0.05
    assert 0 < hits / trials < 1
    # the formula's power with the population spread against the simulated rate
    se = math.sqrt(2 * sd**2 / 5)
    approx = 2 * stats.t.cdf(margin / se - stats.t.ppf(0.95, 8), 8) - 1
    assert hits / trials == pytest.approx(approx, abs=0.06)
    assert lab_stats.tost([1.0], b, margin) is None


def test_paired_by_hand():
    a, b = np.array(A), np.array([98.70, 98.80, 98.70, 98.82, 98.70])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / math.sqrt(5))
    found = lab_stats.paired(a, b)
    assert found["diff"] == pytest.approx(d.mean())
    assert found["p"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    half = stats.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5)
    assert found["interval"] == pytest.approx((d.mean() - half, d.mean() + half))
    assert found["ahead"] == int(np.sum(d > 0)) and found["n"] == 5
    assert lab_stats.paired([1.0], [2.0]) is None
    # two pairs differing by the same count of test images: no test, not p = 0
    two = lab_stats.paired([83.84, 83.67], [83.98, 83.81])
    assert two["p"] is None and two["interval"] is None and two["n"] == 2
    assert two["diff"] == pytest.approx(-0.14) and two["ahead"] == 0
