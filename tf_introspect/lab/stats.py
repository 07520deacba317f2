"""The statistics of the results document: Welch's two-sided t-test and its interval."""

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
