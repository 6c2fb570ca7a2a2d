"""Confidence intervals over seeds: Student-t critical values without scipy.

``t_critical_95(df)`` is the two-sided 95 % critical value t₀.₉₇₅,ν. For ν ≤ 30 it comes
from the standard table (NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.6.7.2,
"Critical values of the Student's t distribution", column 0.975, rounded to 4 decimals);
above 30 from the Cornish–Fisher expansion of the t quantile in powers of 1/ν
(Abramowitz & Stegun, *Handbook of Mathematical Functions*, 26.7.5) around z = 1.959964,
which agrees with the table to < 5·10⁻⁴ at ν = 30 and improves as ν grows.

``mean_ci`` gives mean ± half-width (t · s / √n, s the sample standard deviation with
n − 1); ``paired_difference`` does the same for per-seed differences (variant − baseline
with the same seed: common random numbers, so the seed-to-seed workload noise cancels).
With fewer than two values the half-width is ``None`` (no interval can be given).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

Z_975 = 1.959963984540054  # standard normal 0.975 quantile

#: t₀.₉₇₅,ν for ν = 1..30 (NIST/SEMATECH e-Handbook §1.3.6.7.2).
T_TABLE_975: tuple[float, ...] = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)


def t_quantile_expansion(df: float, z: float = Z_975) -> float:
    """Cornish–Fisher approximation of the t quantile (A&S 26.7.5); good for ν ≳ 20."""
    g1 = (z**3 + z) / 4.0
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96.0
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384.0
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160.0
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def t_critical_95(df: int) -> float:
    """Two-sided 95 % Student-t critical value; raises ``ValueError`` for ``df < 1``."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T_TABLE_975):
        return T_TABLE_975[df - 1]
    return t_quantile_expansion(float(df))


@dataclass(frozen=True, slots=True)
class Estimate:
    """Mean of ``n`` values and the 95 % CI half-width (``None`` when n < 2)."""

    mean: float | None
    half_width: float | None
    n: int

    @property
    def low(self) -> float | None:
        if self.mean is None or self.half_width is None:
            return None
        return self.mean - self.half_width

    @property
    def high(self) -> float | None:
        if self.mean is None or self.half_width is None:
            return None
        return self.mean + self.half_width


def mean_ci(values: Sequence[float]) -> Estimate:
    """Mean ± t₀.₉₇₅,n−1 · s/√n of the finite values (non-finite ones are ignored)."""
    xs = [float(v) for v in values if math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return Estimate(None, None, 0)
    mean = statistics.fmean(xs)
    if n < 2:
        return Estimate(mean, None, 1)
    s = statistics.stdev(xs)
    return Estimate(mean, t_critical_95(n - 1) * s / math.sqrt(n), n)


@dataclass(frozen=True, slots=True)
class Difference:
    """Variant − baseline over paired seeds: mean, 95 % CI half-width, relative change.

    ``significant`` is ``True``/``False`` when an interval exists (it excludes 0 or not)
    and ``None`` otherwise (one pair: a deterministic difference, no sampling noise
    measured). ``rel`` = mean difference / baseline mean (``None`` if that mean is 0).
    """

    mean: float | None
    half_width: float | None
    n: int
    rel: float | None
    significant: bool | None
    base_mean: float | None = None  # baseline mean over the same pairs


def paired_difference(variant: Sequence[float | None],
                      baseline: Sequence[float | None]) -> Difference:
    """Per-seed differences where both values exist; CI by Student t over the pairs."""
    pairs = [(float(v), float(b)) for v, b in zip(variant, baseline, strict=True)
             if v is not None and b is not None and math.isfinite(v) and math.isfinite(b)]
    if not pairs:
        return Difference(None, None, 0, None, None, None)
    est = mean_ci([v - b for v, b in pairs])
    base_mean = statistics.fmean(b for _, b in pairs)
    rel = est.mean / base_mean if est.mean is not None and base_mean != 0 else None
    sig: bool | None = None
    if est.half_width is not None and est.mean is not None:
        sig = abs(est.mean) > est.half_width
    return Difference(est.mean, est.half_width, est.n, rel, sig, base_mean)
