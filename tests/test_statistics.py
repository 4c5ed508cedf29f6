"""Repetition statistics: every interval matches scipy.stats computed independently, and a verdict
is `better` or `worse` only where the whole interval of differences lies on one side of zero."""

import math

import numpy as np
import pytest
from scipy import stats

from renoise.report.statistics import Interval, Verdict, paired, t_interval, verdict, welch


def scipy_interval(x):
    x = np.asarray(x, dtype=float)
    return stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))


@pytest.mark.parametrize("n", [2, 3, 5, 30])
def test_the_t_interval_is_scipys_student_t_interval_of_the_mean(n):
    x = np.random.default_rng(n).normal(18.0, 1.5, n)
    got = t_interval(x)
    low, high = scipy_interval(x)
    assert got.n == n
    assert got.mean == pytest.approx(np.mean(x), rel=1e-12)
    assert got.sd == pytest.approx(np.std(x, ddof=1), rel=1e-12)
    assert (got.low, got.high) == pytest.approx((low, high), rel=1e-12)
    assert got.half_width == pytest.approx((high - low) / 2, rel=1e-12)


def test_the_interval_at_three_repetitions_uses_the_multiplier_4_30():
    got = t_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, sem 1/sqrt(3); t(0.975, 2) = 4.3027
    assert got.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_one_value_is_a_point_with_no_spread():
    got = t_interval([7.5])
    assert (got.n, got.mean, got.low, got.high) == (1, 7.5, 7.5, 7.5)
    assert math.isnan(got.sd)


def test_no_values_give_nan_and_n_0():
    got = t_interval([])
    assert got.n == 0 and all(math.isnan(v) for v in (got.mean, got.sd, got.low, got.high))


def test_nan_values_are_dropped_before_the_interval():
    x = [17.0, math.nan, 18.5, 19.0, math.nan]
    got = t_interval(x)
    assert got.n == 3
    assert (got.mean, got.low, got.high) == pytest.approx((np.mean([17, 18.5, 19]), *scipy_interval([17, 18.5, 19])))


def test_identical_values_give_a_point_interval():
    got = t_interval([0.25, 0.25, 0.25, 0.25])
    assert (got.n, got.mean, got.sd, got.low, got.high) == (4, 0.25, 0.0, 0.25, 0.25)


def test_paired_is_the_t_interval_of_the_differences_by_position():
    rng = np.random.default_rng(3)
    control = rng.normal(20, 3, 5)
    treated = control + rng.normal(0.5, 0.2, 5)
    got = paired(treated, control)
    assert got == t_interval(treated - control)
    assert (got.low, got.high) == pytest.approx(scipy_interval(treated - control), rel=1e-12)
    # the pairing matters: unpaired, the parents' spread (sd 3) swamps the +0.5 effect
    unpaired, _ = welch(treated, control)
    assert got.low > 0 and unpaired.low < 0 < unpaired.high


def test_paired_refuses_unequal_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        paired([1.0, 2.0, 3.0], [1.0, 2.0])


def test_welch_is_scipys_unequal_variance_t_test():
    rng = np.random.default_rng(11)
    a, b = rng.normal(21, 0.5, 3), rng.normal(20, 2.0, 4)
    got, p = welch(a, b)
    test = stats.ttest_ind(a, b, equal_var=False)
    expected = test.confidence_interval(0.95)
    assert got.mean == pytest.approx(a.mean() - b.mean(), rel=1e-12)
    assert (got.low, got.high) == pytest.approx((expected.low, expected.high), rel=1e-12)
    assert p == pytest.approx(test.pvalue, rel=1e-12)
    assert got.n == 3  # the smaller side
    # not the pooled-variance interval: with unequal spreads the two differ
    pooled = stats.ttest_ind(a, b, equal_var=True).confidence_interval(0.95)
    assert abs(pooled.low - got.low) > 1e-3


@pytest.mark.parametrize("a, b", [([20.0], [18.0, 19.0, 20.0]), ([20.0, 21.0, 22.0], [19.0])])
def test_welch_with_fewer_than_two_values_on_a_side_is_a_point_with_nan_p(a, b):
    got, p = welch(a, b)
    assert got.n == 1
    assert got.low == got.high == got.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert math.isnan(p)
    assert verdict(got, higher_is_better=True) is Verdict.UNCLEAR


def test_welch_drops_nan_values_as_the_t_interval_does():
    a, b = [21.0, 21.4, math.nan, 20.8], [19.0, 20.1, 19.5]
    got, p = welch(a, b)
    expected, expected_p = welch([21.0, 21.4, 20.8], b)
    assert (got.mean, got.low, got.high, p) == pytest.approx((expected.mean, expected.low, expected.high, expected_p))
    assert not math.isnan(got.low)


def test_a_child_one_db_up_on_every_repetition_is_better():
    parent = np.array([18.0, 19.5, 17.2])
    child = parent + np.array([1.02, 0.97, 1.01])
    assert verdict(paired(child, parent), higher_is_better=True) is Verdict.BETTER
    assert verdict(paired(parent, child), higher_is_better=True) is Verdict.WORSE


def test_differences_symmetric_around_zero_are_unclear():
    difference = t_interval([-1.0, 0.0, 1.0, -0.5, 0.5])
    assert difference.low < 0 < difference.high
    assert verdict(difference, higher_is_better=True) is Verdict.UNCLEAR
    assert verdict(difference, higher_is_better=False) is Verdict.UNCLEAR


def test_a_lower_is_better_metric_flips_the_direction():
    mse_down = t_interval([-0.010, -0.012, -0.011])  # child - parent MSE: lower on every repetition
    assert mse_down.high < 0
    assert verdict(mse_down, higher_is_better=False) is Verdict.BETTER
    assert verdict(mse_down, higher_is_better=True) is Verdict.WORSE
    mse_up = t_interval([0.010, 0.012, 0.011])
    assert verdict(mse_up, higher_is_better=False) is Verdict.WORSE


def test_one_repetition_is_unclear_however_large_the_difference():
    assert verdict(t_interval([5.0]), higher_is_better=True) is Verdict.UNCLEAR
    assert verdict(paired([25.0], [20.0]), higher_is_better=True) is Verdict.UNCLEAR


def test_an_interval_touching_zero_is_unclear():
    assert verdict(Interval(3, 1.0, 0.5, 0.0, 2.0), higher_is_better=True) is Verdict.UNCLEAR
    assert verdict(Interval(3, 1.0, 0.5, 1e-9, 2.0), higher_is_better=True) is Verdict.BETTER


def test_intervals_overlap_where_they_share_a_point():
    a = Interval(3, 1.0, 0.1, 0.5, 1.5)
    assert a.overlaps(Interval(3, 2.0, 0.1, 1.5, 2.5)) and Interval(3, 2.0, 0.1, 1.5, 2.5).overlaps(a)
    assert not a.overlaps(Interval(3, 2.0, 0.1, 1.6, 2.5))
    assert a.overlaps(Interval(3, 1.0, 0.1, 0.9, 1.1))  # one inside the other
    assert str(Verdict.BETTER) == "better"
