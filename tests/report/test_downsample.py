"""Timeline downsampling keeps the step shape: real samples, ends and extremes."""

from __future__ import annotations

import bisect
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.report.downsample import downsample_step, drop_repeats, prepare_step


def _value_at(t: list[float], v: list[float], x: float) -> float:
    return v[bisect.bisect_right(t, x) - 1]


def _series(n: int, seed: int) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    t, v, level = [], [], 0.0
    for i in range(n):
        level = max(0.0, level + rng.choice((-1.0, 0.0, 1.0)))
        t.append(float(i))
        v.append(level)
    return t, v


@pytest.mark.parametrize("n,budget", [(50_000, 20_000), (1_001, 8), (100, 97), (7, 4)])
def test_downsample_keeps_ends_extremes_and_budget(n: int, budget: int) -> None:
    t, v = _series(n, seed=n)
    v[n // 3] = 1e6  # a one-sample spike must survive
    v[2 * n // 3] = -5.0
    dt, dv = downsample_step(t, v, budget)
    assert len(dt) <= budget
    assert (dt[0], dv[0]) == (t[0], v[0])
    assert (dt[-1], dv[-1]) == (t[-1], v[-1])
    assert max(dv) == 1e6 and min(dv) == -5.0
    assert dt == sorted(dt)
    original = dict(zip(t, v, strict=True))
    assert all(original[x] == y for x, y in zip(dt, dv, strict=True))  # only real samples


def test_small_series_are_untouched() -> None:
    t, v = _series(100, seed=1)
    assert downsample_step(t, v, 100) == (t, v)


def test_budget_below_four_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        downsample_step([0.0, 1.0], [1.0, 2.0], 3)


@given(st.lists(st.integers(0, 3), min_size=1, max_size=200))
def test_drop_repeats_is_lossless_for_step_functions(values: list[int]) -> None:
    t = [float(i) for i in range(len(values))]
    v = [float(x) for x in values]
    kt, kv = drop_repeats(t, v)
    assert kt[0] == t[0] and kt[-1] == t[-1]
    for x in t:
        assert _value_at(kt, kv, x) == _value_at(t, v, x)


def test_prepare_step_holds_last_value_until_end() -> None:
    assert prepare_step([5.0], [3.0], 100.0) == ([5.0, 100.0], [3.0, 3.0])
    assert prepare_step([], [], 100.0) == ([], [])
