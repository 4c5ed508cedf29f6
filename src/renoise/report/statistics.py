"""Statistics over repetitions: confidence intervals and verdicts (DESIGN §5), from scipy.stats.

The unit of evidence is the repetition: the same model trained again with another seed. Every
interval is a 95 % Student-t interval, which is honest at small n (at n = 3 the multiplier is
4.30, and the band is wide because it should be). No bootstrap: three values have ten distinct
resamples, and percentile bootstrap intervals under-cover in small samples.

* one model: the t-interval of its values, ``t.interval(0.95, n - 1, mean, sem)``;
* a child against its parent: the t-interval of the differences paired by repetition;
* two independent groups (the two structures' parents): Welch's t-interval.

A verdict is ``better`` or ``worse`` only where the whole interval lies on one side of zero;
otherwise, and wherever n is too small for an interval, it is ``unclear``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from enum import Enum

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


class Verdict(str, Enum):
    """What an interval of differences says, in the metric's own direction."""

    BETTER = "better"
    WORSE = "worse"
    UNCLEAR = "unclear"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Interval:
    """A mean with its 95 % interval over ``n`` values; ``sd`` is NaN where n < 2.

    With one value the interval is that value (``low == high == mean``): there is no spread to
    estimate, and callers say so (n = 1) rather than draw a band.
    """

    n: int
    mean: float
    sd: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def overlaps(self, other: "Interval") -> bool:
        """True where the two intervals share a point."""
        return self.low <= other.high and other.low <= self.high


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """The Student-t interval of the mean of ``values`` (NaN values are dropped)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    n = len(x)
    if n == 0:
        return Interval(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Interval(1, mean, math.nan, mean, mean)
    sd = float(x.std(ddof=1))
    if sd == 0:  # identical values: scipy's scale must be positive; the interval is the point
        return Interval(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=stats.sem(x))
    return Interval(n, mean, sd, float(low), float(high))


def paired(treated, control, confidence: float = CONFIDENCE) -> Interval:
    """The t-interval of ``treated - control``, paired element by element (by repetition)."""
    treated = np.asarray(treated, dtype=np.float64)
    control = np.asarray(control, dtype=np.float64)
    if treated.shape != control.shape:
        raise ValueError(f"paired values need equal lengths, got {treated.shape} and {control.shape}")
    return t_interval(treated - control, confidence)


def welch(a, b, confidence: float = CONFIDENCE) -> tuple[Interval, float]:
    """Welch's interval of ``mean(a) - mean(b)`` for independent groups, and its two-sided p-value.

    NaN values are dropped, as :func:`t_interval` drops them. ``n`` of the result is
    ``min(len(a), len(b))``; with fewer than two values on either side (or no spread at all) there
    is no interval: ``low == high == the difference`` and p is NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    difference = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    n = min(len(a), len(b))
    if n < 2 or (a.std() == 0 and b.std() == 0):
        return Interval(n, difference, math.nan, difference, difference), math.nan
    with warnings.catch_warnings():  # nearly equal values: scipy warns of precision loss, the interval stands
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_ind(a, b, equal_var=False)
        low, high = test.confidence_interval(confidence)
    return Interval(n, difference, math.nan, float(low), float(high)), float(test.pvalue)


def verdict(interval: Interval, higher_is_better: bool) -> Verdict:
    """``better`` where the whole interval of differences lies on the metric's good side of 0,
    ``worse`` on its bad side, else (or where n < 2) ``unclear``."""
    if interval.n < 2 or math.isnan(interval.low) or interval.low == interval.high:
        return Verdict.UNCLEAR
    sign = 1.0 if higher_is_better else -1.0
    low, high = sorted((sign * interval.low, sign * interval.high))
    if low > 0:
        return Verdict.BETTER
    if high < 0:
        return Verdict.WORSE
    return Verdict.UNCLEAR
