"""Fit a synthetic job generator to a trace: ``fit_workload(jobs) -> FittedWorkload``.

What is fitted (all from the jobs' submit times, GPU requests and recorded durations):

* **Arrivals.** With a known time of day (``origin_s_of_day``) and a trace spanning at least
  two days whose hourly arrival rate varies by more than :data:`DIURNAL_MIN_RATIO` between
  the busiest and quietest hour, an *hourly rate profile* (24 rates, jobs/s) is fitted and
  time is rescaled by its cumulative intensity ("operational time", where the mean rate is
  1/gap). Inter-arrival gaps (in operational time, else in seconds) are then fitted by
  moments with an exponential (1 parameter), a gamma (shape 1/CV², scale mean·CV²) and a
  Weibull (shape from the CV, scale mean/Γ(1+1/k)); the family with the lowest AIC wins.
  Gaps are floored at 0.5 s (traces have 1 s resolution, so equal timestamps are common).
* **GPU counts**: the empirical categorical distribution.
* **Fractional requests**: the share of 1-GPU jobs with ``gpu_milli < 1000`` and the
  empirical distribution of their ``gpu_milli``.
* **Durations**: lognormal per GPU-count bucket (1, 2–4, 5–8, > 8, the buckets of the
  Philly analysis) when a bucket has at least ``min_bucket_jobs`` jobs, else the all-jobs
  fit; samples are capped at the longest duration seen in the bucket. Method
  ``median_mean`` (default): μ = ln(median), σ = √(2 ln(mean/median)), so the median and the
  mean (hence GPU-hours) are reproduced; ``log_moments``: μ, σ = mean and std of ln d
  (durations floored at 1 s). Real traces are not lognormal: on the Philly trace
  log-moments put the median 25 % low and the mean of multi-GPU buckets 5–10× high, which
  is why ``median_mean`` is the default (it falls back to log-moments when mean ≤ median).

:meth:`FittedWorkload.sample` draws fixed-duration jobs from named streams of
:class:`gputwin.sim.rng.RandomStreams` (``fit/arrivals``, ``fit/num_gpus``,
``fit/gpu_milli``, ``fit/durations``): the same seed gives the same jobs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from gputwin.errors import InputError
from gputwin.perf.training import ParallelConfig
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec

Family = Literal["exponential", "gamma", "weibull"]
DurationMethod = Literal["median_mean", "log_moments"]
DIURNAL_MIN_RATIO = 1.25
MIN_GAP_S = 0.5
MIN_DURATION_S = 1.0
BUCKETS: tuple[tuple[int, int], ...] = ((1, 1), (2, 4), (5, 8), (9, 1 << 30))
_DAY_S = 86_400.0
_HOUR_S = 3_600.0
_PARALLEL = ParallelConfig()


@dataclass(frozen=True, slots=True)
class ArrivalFit:
    """Renewal gaps (``family`` with ``mean``/``cv``/``shape``/``scale``, in seconds or, with
    ``hourly_rate_per_s``, in operational time) and an optional hourly rate profile."""

    family: Family
    mean: float
    cv: float
    shape: float
    scale: float
    hourly_rate_per_s: tuple[float, ...] | None = None
    origin_s_of_day: float = 0.0

    def gaps(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` renewal gaps (operational time when a profile is set)."""
        if self.family == "exponential":
            return rng.exponential(self.scale, size=n)
        if self.family == "gamma":
            return rng.gamma(self.shape, self.scale, size=n)
        return self.scale * rng.weibull(self.shape, size=n)

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` submit times in seconds, the first at 0."""
        if n <= 0:
            return np.zeros(0)
        ops = np.concatenate(([0.0], np.cumsum(self.gaps(n - 1, rng))))
        if self.hourly_rate_per_s is None:
            return ops
        clock = _Clock(self.hourly_rate_per_s, self.origin_s_of_day)
        return clock.inverse(ops)


@dataclass(frozen=True, slots=True)
class DurationFit:
    """Lognormal run time for jobs with ``min_gpus..max_gpus`` GPUs (``n`` jobs fitted)."""

    min_gpus: int
    max_gpus: int
    mu: float
    sigma: float
    n: int
    max_s: float = math.inf  #: samples are capped here (the longest duration seen)

    @property
    def median_s(self) -> float:
        return math.exp(self.mu)

    @property
    def mean_s(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2)


@dataclass(frozen=True, slots=True)
class FittedWorkload:
    """A generator fitted to a trace; :meth:`sample` draws jobs, :meth:`to_dict` saves it."""

    num_jobs_fitted: int
    span_s: float
    arrival: ArrivalFit
    num_gpus: tuple[tuple[int, float], ...]
    fractional_share: float
    gpu_milli: tuple[tuple[int, float], ...]
    durations: tuple[DurationFit, ...]
    overall_duration: DurationFit

    def duration_for(self, num_gpus: int) -> DurationFit:
        """The duration fit used for jobs of ``num_gpus`` GPUs."""
        for fit in self.durations:
            if fit.min_gpus <= num_gpus <= fit.max_gpus:
                return fit
        return self.overall_duration

    def sample(self, n: int, rng: RandomStreams | int, *, kind: str = "synthetic",
               tenant: str = "synthetic", model: str = "unknown",
               id_prefix: str = "fit") -> list[JobSpec]:
        """Draw ``n`` fixed-duration jobs (ids ``{id_prefix}-00001``... in submit order)."""
        streams = RandomStreams(rng) if isinstance(rng, int) else rng
        times = self.arrival.times(n, streams.stream("fit/arrivals"))
        values, probs = zip(*self.num_gpus, strict=True)
        gpus = streams.stream("fit/num_gpus").choice(np.array(values), size=n,
                                                     p=_norm(probs))
        milli_rng, dur_rng = streams.stream("fit/gpu_milli"), streams.stream("fit/durations")
        frac_u = milli_rng.random(n)
        milli_values, milli_probs = (zip(*self.gpu_milli, strict=True) if self.gpu_milli
                                     else ((1000,), (1.0,)))
        millis = milli_rng.choice(np.array(milli_values), size=n, p=_norm(milli_probs))
        normals = dur_rng.standard_normal(n)
        width = max(5, len(str(n)))
        jobs: list[JobSpec] = []
        for i in range(n):
            g = int(gpus[i])
            fit = self.duration_for(g)
            milli = int(millis[i]) if g == 1 and frac_u[i] < self.fractional_share else 1000
            jobs.append(JobSpec(
                job_id=f"{id_prefix}-{i + 1:0{width}d}", kind=kind, tenant=tenant, model=model,
                num_gpus=g, submit_time_s=float(times[i]), parallel=_PARALLEL,
                fixed_duration_s=min(fit.max_s,
                                     math.exp(fit.mu + fit.sigma * float(normals[i]))),
                gpu_milli=milli,
            ))
        return jobs

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (SI units); :meth:`from_dict` reads it back."""
        a = self.arrival
        return {
            "num_jobs_fitted": self.num_jobs_fitted,
            "span_s": self.span_s,
            "arrival": {"family": a.family, "mean": a.mean, "cv": a.cv, "shape": a.shape,
                        "scale": a.scale,
                        "hourly_rate_per_s": (list(a.hourly_rate_per_s)
                                              if a.hourly_rate_per_s is not None else None),
                        "origin_s_of_day": a.origin_s_of_day},
            "num_gpus": {str(g): p for g, p in self.num_gpus},
            "fractional_share": self.fractional_share,
            "gpu_milli": {str(m): p for m, p in self.gpu_milli},
            "durations": [_duration_dict(d) for d in self.durations],
            "overall_duration": _duration_dict(self.overall_duration),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FittedWorkload:
        """Inverse of :meth:`to_dict`. Raises :class:`InputError` for a malformed dict."""
        try:
            a = data["arrival"]
            rates = a.get("hourly_rate_per_s")
            return cls(
                num_jobs_fitted=int(data["num_jobs_fitted"]), span_s=float(data["span_s"]),
                arrival=ArrivalFit(a["family"], float(a["mean"]), float(a["cv"]),
                                   float(a["shape"]), float(a["scale"]),
                                   tuple(float(r) for r in rates) if rates else None,
                                   float(a.get("origin_s_of_day", 0.0))),
                num_gpus=tuple((int(g), float(p)) for g, p in data["num_gpus"].items()),
                fractional_share=float(data["fractional_share"]),
                gpu_milli=tuple((int(m), float(p)) for m, p in data["gpu_milli"].items()),
                durations=tuple(_duration_from(d) for d in data["durations"]),
                overall_duration=_duration_from(data["overall_duration"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"malformed fitted workload: {exc!r}") from None


def fit_workload(
    jobs: Sequence[JobSpec],
    *,
    origin_s_of_day: float | None = None,
    diurnal: bool | None = None,
    min_bucket_jobs: int = 50,
    duration_method: DurationMethod = "median_mean",
) -> FittedWorkload:
    """Fit a generator to fixed-duration ``jobs`` (see the module doc).

    ``origin_s_of_day``: time of day of simulated time 0 (``TraceWorkload.origin_s_of_day``);
    ``diurnal``: force (True) or forbid (False) the hourly profile (None = automatic; True
    needs ``origin_s_of_day``). Raises :class:`InputError` for fewer than 2 jobs or jobs
    without a recorded duration.
    """
    if len(jobs) < 2:
        raise InputError(f"fitting needs at least 2 jobs, got {len(jobs)}")
    if any(j.fixed_duration_s is None for j in jobs):
        raise InputError("fitting needs jobs with recorded durations (trace jobs)")
    if diurnal and origin_s_of_day is None:
        raise InputError("a diurnal fit needs the trace's time of day (origin_s_of_day)")
    times = np.sort(np.fromiter((j.submit_time_s for j in jobs), float, len(jobs)))
    times -= times[0]
    span = float(times[-1])
    profile = None
    if origin_s_of_day is not None and diurnal is not False and span > 0:
        rates = hourly_rates(times, origin_s_of_day)
        busy = max(rates) / max(min(rates), 1e-300)
        if diurnal or (span >= 2 * _DAY_S and busy >= DIURNAL_MIN_RATIO):
            profile = rates
    ops = times if profile is None else _Clock(profile, origin_s_of_day or 0.0).forward(times)
    floor = MIN_GAP_S * (len(times) - 1) / span if profile is not None and span > 0 else MIN_GAP_S
    arrival = fit_gaps(np.diff(ops), floor=floor, profile=profile,
                       origin_s_of_day=origin_s_of_day or 0.0)
    gpus = Counter(j.num_gpus for j in jobs)
    singles = [j for j in jobs if j.num_gpus == 1]
    fractional = [j.gpu_milli for j in singles if j.gpu_milli < 1000]
    milli_counts = Counter(fractional)
    durations = np.fromiter((j.fixed_duration_s or 0.0 for j in jobs), float, len(jobs))
    counts = np.fromiter((j.num_gpus for j in jobs), int, len(jobs))
    if duration_method not in ("median_mean", "log_moments"):
        raise InputError(f"duration_method: expected median_mean or log_moments, got "
                         f"{duration_method!r}")
    overall = _lognormal(durations, 1, BUCKETS[-1][1], duration_method)
    per_bucket = tuple(
        _lognormal(durations[(counts >= lo) & (counts <= hi)], lo, hi, duration_method)
        for lo, hi in BUCKETS
        if int(((counts >= lo) & (counts <= hi)).sum()) >= min_bucket_jobs)
    return FittedWorkload(
        num_jobs_fitted=len(jobs), span_s=span, arrival=arrival,
        num_gpus=tuple((g, c / len(jobs)) for g, c in sorted(gpus.items())),
        fractional_share=len(fractional) / len(singles) if singles else 0.0,
        gpu_milli=tuple((m, c / len(fractional)) for m, c in sorted(milli_counts.items())),
        durations=per_bucket, overall_duration=overall,
    )


def fit_gaps(gaps: np.ndarray, *, floor: float = MIN_GAP_S,
             profile: tuple[float, ...] | None = None,
             origin_s_of_day: float = 0.0) -> ArrivalFit:
    """Moment fits of exponential, gamma and Weibull to ``gaps``; the lowest AIC wins."""
    x = np.maximum(np.asarray(gaps, dtype=float), floor)
    mean = float(x.mean())
    cv = float(x.std() / mean) if x.size > 1 else 1.0
    cv = max(cv, 1e-3)
    logs = np.log(x)
    sum_log, sum_x = float(logs.sum()), float(x.sum())
    k_g = 1.0 / cv**2
    k_w = weibull_shape(cv)
    lam_w = mean / math.gamma(1.0 + 1.0 / k_w)
    candidates: list[tuple[float, Family, float, float]] = [
        (2 * 1 - 2 * (-x.size * math.log(mean) - sum_x / mean), "exponential", 1.0, mean),
        (2 * 2 - 2 * _gamma_ll(x.size, sum_log, sum_x, k_g, mean / k_g), "gamma", k_g,
         mean / k_g),
        (2 * 2 - 2 * _weibull_ll(x, logs, k_w, lam_w), "weibull", k_w, lam_w),
    ]
    _, family, shape, scale = min(candidates, key=lambda c: c[0])
    return ArrivalFit(family, mean, cv, shape, scale, profile, origin_s_of_day)


def weibull_shape(cv: float) -> float:
    """The Weibull shape k whose coefficient of variation is ``cv`` (bisection on ln k)."""
    target = math.log1p(cv**2)
    lo, hi = math.log(0.02), math.log(200.0)
    for _ in range(100):
        mid = (lo + hi) / 2
        k = math.exp(mid)
        value = math.lgamma(1 + 2 / k) - 2 * math.lgamma(1 + 1 / k)  # ln(1 + CV²)
        if value > target:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def hourly_rates(times: np.ndarray, origin_s_of_day: float) -> tuple[float, ...]:
    """Arrivals per second in each hour of the day (0–23), over the span of ``times``.

    Hours with no arrival get 1 % of the mean rate so the profile stays invertible.
    """
    clock = (np.asarray(times) + origin_s_of_day)
    hours = (np.floor(clock / _HOUR_S).astype(np.int64)) % 24
    counts = np.bincount(hours, minlength=24).astype(float)
    start, end = float(clock.min()), float(clock.max())
    exposure = np.zeros(24)
    t = start
    while t < end:
        nxt = min((math.floor(t / _HOUR_S) + 1) * _HOUR_S, end)
        exposure[int(t // _HOUR_S) % 24] += nxt - t
        t = nxt
    exposure = np.maximum(exposure, 1.0)
    rates = counts / exposure
    floor = 0.01 * float(counts.sum() / exposure.sum())
    return tuple(float(max(r, floor)) for r in rates)


class _Clock:
    """Cumulative intensity Λ of a 24-hour periodic piecewise-constant rate profile."""

    def __init__(self, rates: Sequence[float], origin_s_of_day: float) -> None:
        self.rates = np.asarray(rates, dtype=float)
        self.cum = np.concatenate(([0.0], np.cumsum(self.rates * _HOUR_S)))
        self.per_day = float(self.cum[-1])
        self.origin = origin_s_of_day
        self.base = float(self._absolute(np.array([origin_s_of_day]))[0])

    def _absolute(self, s: np.ndarray) -> np.ndarray:
        days = np.floor(s / _DAY_S)
        within = s - days * _DAY_S
        hour = np.minimum((within // _HOUR_S).astype(np.int64), 23)
        return np.asarray(days * self.per_day + self.cum[hour]
                          + self.rates[hour] * (within - hour * _HOUR_S))

    def forward(self, t: np.ndarray) -> np.ndarray:
        """Λ(t): expected arrivals in [0, t)."""
        return self._absolute(np.asarray(t, dtype=float) + self.origin) - self.base

    def inverse(self, u: np.ndarray) -> np.ndarray:
        """t with Λ(t) = u."""
        total = np.asarray(u, dtype=float) + self.base
        days = np.floor(total / self.per_day)
        rest = total - days * self.per_day
        hour = np.clip(np.searchsorted(self.cum, rest, side="right") - 1, 0, 23)
        s = days * _DAY_S + hour * _HOUR_S + (rest - self.cum[hour]) / self.rates[hour]
        return np.asarray(s - self.origin)


def _gamma_ll(n: int, sum_log: float, sum_x: float, k: float, theta: float) -> float:
    return ((k - 1) * sum_log - sum_x / theta - n * (math.lgamma(k) + k * math.log(theta)))


def _weibull_ll(x: np.ndarray, logs: np.ndarray, k: float, lam: float) -> float:
    z = x / lam
    return float(x.size * (math.log(k) - k * math.log(lam)) + (k - 1) * logs.sum()
                 - np.power(z, k).sum())


def _lognormal(durations: np.ndarray, lo: int, hi: int, method: DurationMethod) -> DurationFit:
    x = np.maximum(durations, MIN_DURATION_S)
    top = float(x.max())
    median, mean = float(np.median(x)), float(x.mean())
    if method == "median_mean" and mean > median:
        return DurationFit(lo, hi, math.log(median), math.sqrt(2 * math.log(mean / median)),
                           int(x.size), top)
    logs = np.log(x)
    sigma = float(logs.std()) if logs.size > 1 else 0.0
    return DurationFit(lo, hi, float(logs.mean()), sigma, int(logs.size), top)


def _norm(probs: Sequence[float]) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return np.asarray(p / p.sum())


def _duration_dict(d: DurationFit) -> dict[str, Any]:
    return {"min_gpus": d.min_gpus, "max_gpus": d.max_gpus, "mu": d.mu, "sigma": d.sigma,
            "n": d.n, "max_s": d.max_s, "median_s": d.median_s, "mean_s": d.mean_s}


def _duration_from(d: dict[str, Any]) -> DurationFit:
    return DurationFit(int(d["min_gpus"]), int(d["max_gpus"]), float(d["mu"]),
                       float(d["sigma"]), int(d["n"]), float(d.get("max_s", math.inf)))
