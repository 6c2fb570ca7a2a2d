"""Decode-skip planning: pure functions of the implicit decoder state.

Decoders are not touched per step. With the replica's step index ``S``, a decoder that
started decoding at step ``s0`` with ``x0`` tokens in KV holds ``x0 + (S − s0)`` tokens,
so it allocates a new block when that crosses a multiple of ``block_size``: every
``block_size`` steps, at the step whose index has *phase* ``(−S) % block_size`` equal to
its own. ``cnt[p]`` counts the decoders of phase ``p``; block allocations between two
steps are slice sums of ``cnt`` (O(block_size), not O(steps)).

A decode-only *stretch* of ``n`` steps costs ``a + b·j`` for its step ``j`` (the decode
context grows by one token per sequence per step and the step model is linear in it), so
it ends ``n·a + b·n(n−1)/2`` seconds after it starts. A *segment* is a prefill step of
cost ``c0`` (applied when planned) followed by ``n − 1`` such decode steps.

Everything here is a pure function of its arguments (no replica, no clock), so each piece
is property-tested on its own (``tests/serving/test_decode_skip.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: ``(ctx0, cost(ctx0), slope)`` of a decode-only step cost linear in the context.
CostLine = tuple[float, float, float]
DecodeCost = Callable[[int, float], float]

_sqrt = math.sqrt


def alloc_between(cnt: list[int], n_dec: int, first: int, last: int) -> int:
    """Decoder block allocations of steps ``first .. last − 1``."""
    n = last - first
    if n <= 0 or n_dec == 0:
        return 0
    bs = len(cnt)
    total = (n // bs) * n_dec
    rest = n % bs
    if rest:
        # steps j = last − rest .. last − 1 use phases (−j) % bs: a cyclic run of
        # indices from (1 − last) % bs up to (rest − last) % bs
        lo = (1 - last) % bs
        hi = lo + rest
        total += sum(cnt[lo:hi]) if hi <= bs else sum(cnt[lo:]) + sum(cnt[:hi - bs])
    return total


def fit_steps(cnt: list[int], n_dec: int, first: int, free: int, limit: int) -> int:
    """How many consecutive decode steps from ``first`` (at most ``limit``) can take
    their blocks out of ``free`` (one block per decoder every ``block_size`` steps)."""
    bs = len(cnt)
    cycles = free // n_dec
    if cycles * bs >= limit:
        return max(0, limit)
    m = cycles * bs
    used = cycles * n_dec
    for _ in range(bs):
        add = cnt[(-(first + m)) % bs]
        if used + add > free:
            break
        used += add
        m += 1
    return min(limit, m)


def max_stretch(cnt: list[int], n_dec: int, step: int, free: int, n_fin: int) -> int:
    """Steps of a decode-only stretch planned at ``step`` (≥ 1, counting that step, whose
    blocks are taken already): at most ``n_fin`` and no more than ``free`` blocks cover."""
    if n_fin <= 1 or n_dec == 0:
        return 1
    bs = len(cnt)
    cycles = free // n_dec
    if cycles >= n_fin // bs + 1:
        return n_fin
    base = cycles * bs  # steps step+1 .. step+base allocate cycles·n_dec blocks
    m = base
    used = cycles * n_dec
    for j in range(1, bs):
        add = cnt[(-(step + base + j)) % bs]
        if used + add > free:
            break
        used += add
        m += 1
    return max(1, min(n_fin, m + 1))


def stretch_s(n: int, a: float, b: float) -> float:
    """Length of ``n`` decode steps costing ``a, a + b, a + 2b, ...``."""
    return n * a + b * n * (n - 1) / 2.0


def time_of(k: int, a: float, b: float, c0: float, pre: bool) -> float:
    """End of step ``k`` (1-based) after the start; with ``pre`` step 1 is a prefill
    step of cost ``c0`` followed by decode steps costing ``a, a + b, ...``."""
    if pre:
        if k <= 0:
            return 0.0
        k -= 1
        return c0 + k * a + b * k * (k - 1) / 2.0
    return k * a + b * k * (k - 1) / 2.0


def steps_done(dt: float, n: int, a: float, b: float, c0: float, pre: bool) -> int:
    """Steps of an ``n``-step stretch (or segment) finished ``dt`` after its start."""
    if dt <= 0:
        return 0
    if pre:  # the prefill step (c0) comes first: decode steps start at c0
        if dt < c0:
            return 0
        shift, base = 1, c0
    else:
        shift, base = 0, 0.0
    rest = dt - base
    if b == 0.0:
        j = int(rest // a) if a > 0 else n
    else:
        h = a - b / 2.0
        j = int((-h + _sqrt(h * h + 2.0 * b * rest)) / b)
    # j decode steps done by the closed form; settle on the exact end times (time_of,
    # inlined, same arithmetic), which floating point can put one step either side
    m = n - shift
    j = max(0, min(m, j))
    while j < m and base + (j + 1) * a + b * (j + 1) * j / 2.0 <= dt:
        j += 1
    while j > 0 and base + j * a + b * j * (j - 1) / 2.0 > dt:
        j -= 1
    return j + shift

def cut_at(dt: float, n: int, a: float, b: float, c0: float, pre: bool) -> int:
    """Steps kept when an arrival ``dt`` after the start cuts the stretch: the first
    step boundary at or after ``dt`` (≥ 1; the step in progress completes)."""
    if pre and dt <= c0:
        return 1  # during the (applied) prefill step: cut right after it
    k = steps_done(dt, n, a, b, c0, pre)
    if k < n:
        j, base = (k - 1, c0) if pre else (k, 0.0)  # time_of(k), inlined
        if base + j * a + b * j * (j - 1) / 2.0 < dt:
            k += 1
    return k if k >= 1 else 1

def decode_line(cost: DecodeCost, n_dec: int, max_model_len: int,
                kink: float = math.inf) -> CostLine | None:
    """``(ctx0, cost(ctx0), slope)`` when the decode-only cost of ``n_dec`` sequences is
    linear in the context over its whole feasible range, else None.

    The roofline step model is a sum of maxima of linear terms, hence convex in the
    context; a convex function equal to its chord at the midpoint is linear on the whole
    interval, so three calls prove it (within 1e-9 relative). Local-attention layers
    flatten at ``kink`` context tokens (concave there), so a range across it is never
    taken as a line."""
    lo = float(n_dec)
    hi = float(n_dec) * (max_model_len + 1)
    if lo < kink < hi:
        return None
    f_lo = cost(n_dec, lo)
    f_hi = cost(n_dec, hi)
    f_mid = cost(n_dec, (lo + hi) / 2.0)
    if abs(f_mid - (f_lo + f_hi) / 2.0) <= 1e-9 * max(f_mid, 1e-12):
        return (lo, f_lo, (f_hi - f_lo) / (hi - lo))
    return None


def stretch_costs(cost: DecodeCost, n_dec: int, n: int, ctx: float,
                  slopes: dict[int, float],
                  kink: float = math.inf) -> tuple[int, float, float]:
    """``(n, a, b)``: step ``j`` of the stretch costs ``a + b·j``; ``n`` halves until that
    is exact (checked at the midpoint). A slope found for a batch size is kept in
    ``slopes`` and reused once the end point confirms it (one model call). A stretch
    starting below ``kink`` context tokens ends at it, so each one lies on one side of
    the bend, where the cost is convex and the midpoint check proves it linear."""
    if ctx < kink < math.inf:
        n = min(n, int((kink - ctx) // n_dec) + 1)
    a = cost(n_dec, ctx)
    slope = slopes.get(n_dec)
    if slope is not None and n > 1:
        last = cost(n_dec, ctx + n_dec * (n - 1))
        if abs(last - (a + slope * (n - 1))) <= 1e-9 * max(a, 1e-12):
            return n, a, slope
    while n > 1:
        last = cost(n_dec, ctx + n_dec * (n - 1))
        b = (last - a) / (n - 1)
        mid = (n - 1) // 2
        if mid == 0:
            return n, a, b
        at_mid = cost(n_dec, ctx + n_dec * mid)
        if abs(at_mid - (a + b * mid)) <= 1e-9 * max(a, 1e-12):
            slopes[n_dec] = b
            return n, a, b
        n = mid + 1
    return 1, a, 0.0
