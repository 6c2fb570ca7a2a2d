"""Confidence intervals: Student-t critical values against published tables, CI coverage."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from gputwin.run.compare_stats import (
    T_TABLE_975,
    mean_ci,
    paired_difference,
    t_critical_95,
    t_quantile_expansion,
)

# Two-sided 95 % critical values for large ν (NIST/SEMATECH e-Handbook §1.3.6.7.2, 3 d.p.)
PUBLISHED_LARGE = {40: 2.021, 50: 2.009, 60: 2.000, 80: 1.990, 100: 1.984, 120: 1.980}


@pytest.mark.parametrize(("df", "published"), [(1, 12.706), (2, 4.303), (4, 2.776),
                                               (9, 2.262), (19, 2.093), (29, 2.045)])
def test_small_df_matches_published_table(df: int, published: float) -> None:
    assert t_critical_95(df) == pytest.approx(published, abs=6e-4)


@pytest.mark.parametrize(("df", "published"), sorted(PUBLISHED_LARGE.items()))
def test_expansion_matches_published_large_df(df: int, published: float) -> None:
    assert t_critical_95(df) == pytest.approx(published, abs=6e-4)


def test_expansion_agrees_with_table_where_they_meet() -> None:
    for df in range(15, 31):
        assert t_quantile_expansion(df) == pytest.approx(T_TABLE_975[df - 1], abs=2e-3)
    # and tends to the normal quantile
    assert t_critical_95(10**6) == pytest.approx(1.959964, abs=1e-5)


def test_critical_values_decrease_with_df() -> None:
    values = [t_critical_95(df) for df in range(1, 200)]
    assert all(a > b for a, b in itertools.pairwise(values))
    with pytest.raises(ValueError):
        t_critical_95(0)


def test_mean_ci_known_sample() -> None:
    # 1..5: mean 3, s = sqrt(2.5), half = t(4) * s / sqrt(5) = 2.7764 * 0.70711
    est = mean_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    assert est.mean == pytest.approx(3.0)
    assert est.half_width == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), rel=1e-9)
    assert est.n == 5 and est.low is not None and est.high is not None
    assert est.high - est.low == pytest.approx(2 * est.half_width)


def test_mean_ci_degenerate_cases() -> None:
    assert mean_ci([]).mean is None
    one = mean_ci([7.0])
    assert one.mean == 7.0 and one.half_width is None and one.low is None
    same = mean_ci([2.0, 2.0, 2.0])
    assert same.half_width == 0.0
    assert mean_ci([1.0, float("nan"), 3.0]).n == 2


@pytest.mark.parametrize("n", [3, 5, 10])
def test_ci_covers_the_true_mean_95_percent_of_the_time(n: int) -> None:
    rng = np.random.default_rng(12345 + n)
    reps = 2000
    hits = 0
    for _ in range(reps):
        est = mean_ci(list(rng.normal(10.0, 3.0, size=n)))
        assert est.low is not None and est.high is not None
        hits += est.low <= 10.0 <= est.high
    # binomial sd at p = 0.95 over 2000 reps is 0.0049: allow ~4 sd
    assert abs(hits / reps - 0.95) < 0.02


def test_paired_difference_cancels_common_noise() -> None:
    base = [100.0, 250.0, 80.0, 400.0]
    shifted = [b - 10.0 for b in base]  # same workload, always 10 better
    d = paired_difference(shifted, base)
    assert d.mean == pytest.approx(-10.0) and d.half_width == pytest.approx(0.0)
    assert d.significant is True
    assert d.rel == pytest.approx(-10.0 / (830.0 / 4))
    # an unpaired view of the same numbers could not separate them
    assert mean_ci(base).half_width is not None and mean_ci(base).half_width > 10.0


def test_paired_difference_not_significant_and_single_pair() -> None:
    d = paired_difference([1.0, 3.0, 2.0], [2.0, 2.0, 2.0])
    assert d.mean == pytest.approx(0.0) and d.significant is False
    single = paired_difference([5.0], [4.0])
    assert single.mean == 1.0 and single.half_width is None and single.significant is None
    missing = paired_difference([None, 3.0], [1.0, None])
    assert missing.mean is None and missing.n == 0
