"""Decode-skip planner: each pure function against its step-by-step definition."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gputwin.serving.decode_skip import (
    alloc_between,
    cut_at,
    decode_line,
    fit_steps,
    max_stretch,
    steps_done,
    stretch_costs,
    time_of,
)


def _allocs(cnt: list[int], step: int) -> int:
    """Blocks the decoders allocate in step ``step`` (those of phase (−step) % bs)."""
    return cnt[(-step) % len(cnt)]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 3, 16, 32]), st.data())
def test_block_allocations_between_steps_equal_the_per_step_sum(bs: int, data: Any) -> None:
    """The sliced phase-count sum equals allocating step by step (one block per decoder
    whose KV length crosses a block boundary)."""
    cnt = data.draw(st.lists(st.integers(0, 5), min_size=bs, max_size=bs))
    first = data.draw(st.integers(0, 200))
    last = first + data.draw(st.integers(-2, 90))
    want = sum(_allocs(cnt, j) for j in range(first, last)) if sum(cnt) else 0
    assert alloc_between(cnt, sum(cnt), first, last) == want


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 16]), st.data())
def test_fit_and_max_stretch_are_the_longest_runs_the_free_blocks_cover(
        bs: int, data: Any) -> None:
    cnt = data.draw(st.lists(st.integers(0, 4), min_size=bs, max_size=bs).filter(sum))
    n_dec = sum(cnt)
    first = data.draw(st.integers(0, 100))
    free = data.draw(st.integers(0, 60))
    limit = data.draw(st.integers(1, 120))

    def covered(start: int, steps: int) -> bool:
        return sum(_allocs(cnt, start + j) for j in range(steps)) <= free

    m = fit_steps(cnt, n_dec, first, free, limit)
    assert m <= limit and covered(first, m)
    assert m == limit or not covered(first, m + 1)
    # max_stretch counts the planned step (blocks taken already) and stops at n_fin
    n = max_stretch(cnt, n_dec, first, free, limit)
    assert 1 <= n <= max(1, limit) and (n == 1 or covered(first + 1, n - 1))
    assert n == max(1, limit) or not covered(first + 1, n)


@settings(max_examples=300, deadline=None)
@given(st.floats(1e-4, 1e-1), st.floats(0, 1e-4), st.integers(2, 400), st.floats(0, 1),
       st.booleans(), st.floats(1e-4, 1e-1))
def test_cut_is_the_first_step_boundary_at_or_after_the_arrival(
        a: float, b: float, n: int, where: float, pre: bool, c0: float) -> None:
    """The cut is the smallest k >= 1 whose end time is not before the arrival."""
    dt = where * time_of(n, a, b, c0, pre)
    k = cut_at(dt, n, a, b, c0, pre)
    want = next((j for j in range(1, n + 1) if time_of(j, a, b, c0, pre) >= dt), n)
    assert k == want
    done = steps_done(dt, n, a, b, c0, pre)
    assert done == sum(1 for j in range(1, n + 1) if time_of(j, a, b, c0, pre) <= dt)


def test_decode_line_accepts_linear_and_rejects_convex_costs() -> None:
    def linear(n: int, ctx: float) -> float:
        return 1e-3 + 1e-5 * n + 2e-8 * ctx

    def convex(n: int, ctx: float) -> float:
        return linear(n, ctx) + 1e-13 * ctx * ctx

    line = decode_line(linear, 4, 1000)
    assert line is not None and line[0] == 4.0
    assert abs(line[2] - 2e-8) < 1e-15
    assert decode_line(convex, 4, 1000) is None


def test_stretch_costs_halve_until_linear_and_remember_the_slope() -> None:
    def kinked(n: int, ctx: float) -> float:
        return 1e-3 + 2e-8 * ctx + (1e-8 * (ctx - 500) if ctx > 500 else 0.0)

    slopes: dict[int, float] = {}
    n, a, b = stretch_costs(kinked, 2, 400, 100.0, slopes)
    assert n < 400
    for j in range(n):  # exact on the stretch kept
        assert abs(kinked(2, 100.0 + 2 * j) - (a + b * j)) < 1e-12
    linear_slopes: dict[int, float] = {}
    n2, _, b2 = stretch_costs(lambda k, c: 1e-3 + 3e-8 * c, 2, 400, 100.0, linear_slopes)
    assert n2 == 400 and linear_slopes[2] == b2
