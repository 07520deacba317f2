"""The statistics of the results document: Welch tests and intervals, effect size, Holm's
adjustment, power and the smallest detectable difference, equivalence (TOST), paired tests."""

import warnings

import numpy as np
from scipy import stats


def welch(a, b):
    """Two-sided Welch t-test p-value of samples ``a`` and ``b``: None below 2 each, and
    1.0 when it is undefined (both samples constant: scipy gives NaN)."""
    if len(a) < 2 or len(b) < 2:
        return None
    with warnings.catch_warnings():  # identical samples: scipy warns, p is NaN or 1
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p if np.isfinite(p) else 1.0


def welch_interval(a, b, confidence=0.95):
    """The Welch ``confidence`` interval of ``mean(a) - mean(b)`` (same units as the data):
    ``(low, high)``, or None below 2 values each or where it is undefined."""
    if len(a) < 2 or len(b) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    low, high = float(ci.low), float(ci.high)
    return (low, high) if np.isfinite(low) and np.isfinite(high) else None


def _moments(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.mean() - b.mean(), a.var(ddof=1), b.var(ddof=1), len(a), len(b)


def welch_se_df(a, b):
    """The standard error of ``mean(a) - mean(b)`` and the Welch-Satterthwaite degrees of
    freedom; ``(nan, nan)`` below 2 values each or when both samples are constant."""
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    _, va, vb, na, nb = _moments(a, b)
    se2 = va / na + vb / nb
    if se2 == 0:
        return 0.0, float("nan")
    df = se2**2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1))
    return float(np.sqrt(se2)), float(df)


def hedges_g(a, b):
    """Hedges' g: ``(mean(a) - mean(b))`` over the pooled standard deviation, times the
    small-sample correction ``1 - 3 / (4 (n_a + n_b) - 9)``; None below 2 values each or with
    no spread."""
    if len(a) < 2 or len(b) < 2:
        return None
    diff, va, vb, na, nb = _moments(a, b)
    pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if pooled == 0:
        return None
    return float(diff / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def holm(pvalues):
    """Holm's step-down adjustment of a family's p-values (same order; None stays None):
    the i-th smallest of m is multiplied by ``m - i + 1``, made monotone, capped at 1. ``m``
    is the whole family, a comparison not yet tested (None) included: the family is fixed
    before its runs, and the first of four comparisons to be run must not pass at 0.05 alone
    (table3_short's CS-KD read "significant" at p = 0.013 with its three siblings unrun)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    adjusted = list(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (len(pvalues) - rank) * p))
        adjusted[i] = running
    return adjusted


def welch_power(delta, a, b, level=0.05):
    """The power of the two-sided Welch test at ``level`` to detect a true difference
    ``delta`` with the spreads and sizes of samples ``a`` and ``b`` (noncentral t); None below
    2 values each or with no spread."""
    se, df = welch_se_df(a, b)
    if not se > 0:
        return None
    critical = stats.t.ppf(1 - level / 2, df)
    shift = abs(delta) / se
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        power = stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)
    if not np.isfinite(power):  # scipy's noncentral t fails far in the tail
        return 1.0 if shift > critical else 0.0
    return float(min(1.0, power))


def detectable(a, b, power=0.8, level=0.05):
    """The smallest true difference the two-sided Welch test at ``level`` detects with
    ``power``, with the spreads and sizes of ``a`` and ``b``; None where undefined."""
    from scipy import optimize

    se, _ = welch_se_df(a, b)
    if not se > 0:
        return None
    high = 2 * se
    while welch_power(high, a, b, level) < power:  # the bracket: double until it holds
        high *= 2
    return float(optimize.brentq(lambda d: welch_power(d, a, b, level) - power, 0.0, high))


def tost(a, b, margin, level=0.05):
    """Two one-sided Welch tests of equivalence, ``|mean(a) - mean(b)| < margin``:
    ``{"p": max of the two one-sided p-values, "interval": the (1 - 2 level) interval,
    "power": the probability of concluding equivalence when the true difference is 0}``, or
    None below 2 values each. Equivalence is shown at ``level`` when p < level, i.e. when
    the interval lies inside ``(-margin, margin)``."""
    se, df = welch_se_df(a, b)
    if not se > 0:
        return None
    diff = float(np.mean(a) - np.mean(b))
    p_low = stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    p_high = stats.t.cdf((diff - margin) / se, df)  # H0: diff >= margin
    critical = stats.t.ppf(1 - level, df)
    power = max(0.0, 2 * stats.t.cdf(margin / se - critical, df) - 1)
    return {
        "p": float(max(p_low, p_high)),
        "interval": (diff - critical * se, diff + critical * se),
        "power": float(power),
    }


#: the fewest pairs :func:`paired` tests: two pairs leave one degree of freedom, and their
#: spread is that of two differences counted in whole test images, so two seeds that differ
#: by the same count (table2_budget's LE - CE: -0.14 and -0.14) read as p < 0.001
MIN_PAIRS = 3


def paired(a, b, confidence=0.95):
    """Paired t-test of ``a - b`` (equal-length, matched by seed): ``{"diff", "p",
    "interval", "n", "ahead"}`` (``ahead``: pairs where a > b; ``p`` and ``interval`` None
    below :data:`MIN_PAIRS` pairs), or None below 2 pairs."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2:
        return None
    d = a - b
    if len(d) < MIN_PAIRS:
        return {
            "diff": float(d.mean()),
            "p": None,
            "interval": None,
            "n": len(d),
            "ahead": int(np.sum(d > 0)),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.ttest_rel(a, b)
        ci = result.confidence_interval(confidence)
    p = float(result.pvalue)
    return {
        "diff": float(d.mean()),
        "p": p if np.isfinite(p) else 1.0,
        "interval": (float(ci.low), float(ci.high)) if np.isfinite(ci.low) else None,
        "n": len(d),
        "ahead": int(np.sum(d > 0)),
    }
