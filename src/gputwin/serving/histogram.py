"""A log-binned weighted histogram for latency percentiles (1 % relative resolution).

Used for inter-token latencies, which are too many to keep one by one (one per token).
Percentiles are read at bin centres, so they are within ~0.5 % of the exact value; the mean
is exact: ``sum_s`` keeps the weighted sum of the values (a spread over equally spaced steps
adds its midpoint times its weight, which is exact for them).
"""

from __future__ import annotations

import math

_RATIO = 1.01
_LOG_RATIO = math.log(_RATIO)
_MIN_S = 1e-7
_floor, _log = math.floor, math.log


class LogHistogram:
    __slots__ = ("bins", "sum_s", "total")

    def __init__(self) -> None:
        self.bins: dict[int, float] = {}
        self.total = 0.0
        self.sum_s = 0.0

    @staticmethod
    def _index(x: float) -> int:
        return math.floor(math.log(max(x, _MIN_S)) / _LOG_RATIO)

    def add(self, x: float, weight: float = 1.0) -> None:
        if weight <= 0:
            return
        i = _floor(_log(x if x > _MIN_S else _MIN_S) / _LOG_RATIO)  # = _index(x), inlined
        bins = self.bins
        bins[i] = bins.get(i, 0.0) + weight
        self.total += weight
        self.sum_s += x * weight

    def add_uniform(self, lo: float, hi: float, weight: float) -> None:
        """Spread ``weight`` uniformly over ``[lo, hi]`` (values of equally spaced steps)."""
        if weight <= 0:
            return
        if hi <= lo:
            self.add(lo, weight)
            return
        self.sum_s += (lo + hi) * 0.5 * weight
        i0 = _floor(_log(lo if lo > _MIN_S else _MIN_S) / _LOG_RATIO)  # _index, inlined
        i1 = _floor(_log(hi if hi > _MIN_S else _MIN_S) / _LOG_RATIO)
        bins = self.bins
        if i0 == i1:
            bins[i0] = bins.get(i0, 0.0) + weight
            self.total += weight
            return
        span = hi - lo
        for i in range(i0, i1 + 1):
            a = _RATIO ** i
            if a < lo:
                a = lo
            b = _RATIO ** (i + 1)
            if b > hi:
                b = hi
            if b > a:
                w = weight * (b - a) / span
                bins[i] = bins.get(i, 0.0) + w
                self.total += w

    def quantile(self, q: float) -> float | None:
        """Value below which a share ``q`` of the weight lies (None when empty)."""
        if self.total <= 0:
            return None
        target = q * self.total
        acc = 0.0
        keys = sorted(self.bins)
        for i in keys:
            acc += self.bins[i]
            if acc >= target:
                return float(_RATIO ** (i + 0.5))
        return float(_RATIO ** (keys[-1] + 0.5))

    def absorb(self, other: LogHistogram) -> None:
        """Add ``other``'s weights and sum to this histogram's."""
        bins = self.bins
        for i, w in other.bins.items():
            bins[i] = bins.get(i, 0.0) + w
        self.total += other.total
        self.sum_s += other.sum_s

    def mean(self) -> float | None:
        """The exact weighted mean of the values fed (``sum_s / total``), not a bin-centre
        estimate."""
        if self.total <= 0:
            return None
        return self.sum_s / self.total
