"""Synthetic LLM request streams: arrival processes and length distributions.

Arrivals (rate in requests/s): ``poisson`` (exponential gaps), ``gamma`` (gamma gaps with
coefficient of variation ``cv``; cv = 1 is Poisson, > 1 burstier), ``bursty`` (a
Markov-modulated Poisson process: exponential *on* periods of mean ``on_s`` at
``rate · burst_factor`` and *off* periods of mean ``off_s`` at the rate that keeps the
long-run mean equal to ``rate``, floored at 0), ``diurnal`` (a Poisson process whose
rate follows the day: ``rate · (1 + amplitude · cos(2π (t − peak_s) / period_s))``, drawn by
thinning a Poisson process at the peak rate, so the mean rate over whole periods is
``rate``). Lengths: ``fixed``, ``uniform``
(integers in [low, high]) or ``lognormal`` fitted to a mean and a median
(σ² = 2·ln(mean/median), μ = ln(median)), clipped to [low, high].

Every draw comes from a named stream of :class:`RandomStreams` (``llm/<name>/arrivals``,
``.../prompt``, ``.../output``), so changing a length distribution never moves the
arrival times and the same seed gives the same requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gputwin.errors import InputError
from gputwin.limits import MAX_TOKENS
from gputwin.sim.rng import RandomStreams
from gputwin.workload.llm_request import MOONCAKE_HASH_BLOCK_TOKENS, LlmRequest

ArrivalKind = Literal["poisson", "gamma", "bursty", "fixed", "diurnal"]
LengthKind = Literal["fixed", "uniform", "lognormal"]


@dataclass(frozen=True, slots=True)
class ArrivalProcess:
    """How requests arrive. ``rate_per_s`` is the long-run mean rate (> 0)."""

    kind: ArrivalKind = "poisson"
    rate_per_s: float = 1.0
    cv: float = 1.0  # gamma only
    burst_factor: float = 4.0  # bursty only: on-rate / mean rate
    on_s: float = 10.0  # bursty only: mean on-period
    off_s: float = 30.0  # bursty only: mean off-period
    start_s: float = 0.0
    amplitude_frac: float = 0.5  # diurnal only: peak-to-mean swing, in [0, 1)
    period_s: float = 86400.0  # diurnal only
    peak_s: float = 14 * 3600.0  # diurnal only: time of the peak within the period

    def __post_init__(self) -> None:
        if not (self.rate_per_s > 0 and math.isfinite(self.rate_per_s)):
            raise InputError(f"arrival rate must be > 0 requests/s, got {self.rate_per_s!r}")
        if self.cv <= 0:
            raise InputError(f"arrival cv must be > 0, got {self.cv!r}")
        if self.burst_factor < 1 or self.on_s <= 0 or self.off_s < 0:
            raise InputError("bursty arrivals need burst_factor >= 1, on_s > 0, off_s >= 0")
        if not (0 <= self.amplitude_frac < 1 and self.period_s > 0):
            raise InputError("diurnal arrivals need 0 <= amplitude < 1 and period > 0, got "
                             f"{self.amplitude_frac!r}, {self.period_s!r}")

    def rate_at(self, t_s: np.ndarray) -> np.ndarray:
        """The instantaneous rate (requests/s) at ``t_s`` (constant unless diurnal)."""
        if self.kind != "diurnal":
            return np.full(np.shape(t_s), self.rate_per_s)
        phase = 2.0 * math.pi * (np.asarray(t_s) - self.peak_s) / self.period_s
        out: np.ndarray = self.rate_per_s * (1.0 + self.amplitude_frac * np.cos(phase))
        return out


@dataclass(frozen=True, slots=True)
class LengthDist:
    """A token-length distribution; draws are integers in [max(1, low), high]."""

    kind: LengthKind = "fixed"
    value: int = 128  # fixed
    low: int = 1
    high: int = 1_000_000
    mean: float = 0.0  # lognormal
    median: float = 0.0  # lognormal

    def __post_init__(self) -> None:
        if self.low < 1 or self.high < self.low:
            raise InputError(f"length bounds need 1 <= low <= high, got [{self.low}, "
                             f"{self.high}]")
        if self.kind == "fixed" and self.value < 1:
            raise InputError(f"fixed length must be >= 1 token, got {self.value}")
        if max(self.value, self.high) > MAX_TOKENS.value:
            # a draw is an int64 and a sum of them too; numpy refuses or wraps beyond
            raise InputError("length: " + MAX_TOKENS.message(max(self.value, self.high)))
        if self.kind == "lognormal" and not (0 < self.median <= self.mean):
            raise InputError("lognormal lengths need 0 < median <= mean, got "
                             f"mean {self.mean:g}, median {self.median:g}")
        if self.kind == "lognormal" and not self.low <= self.median <= self.high:
            # draws are clipped to [low, high]: with the median outside, most draws are
            # one bound, and neither the median nor the mean is what was asked
            raise InputError(f"lognormal median {self.median:g} lies outside [low, high] = "
                             f"[{self.low}, {self.high}]; draws are clipped to those bounds, "
                             "so the median must lie within them")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` integer lengths (int64 array)."""
        if self.kind == "fixed":
            values = np.full(n, float(self.value))
        elif self.kind == "uniform":
            values = rng.integers(self.low, self.high + 1, size=n).astype(float)
        else:
            sigma = math.sqrt(2.0 * math.log(self.mean / self.median))
            values = np.round(rng.lognormal(math.log(self.median), sigma, size=n))
        out: np.ndarray = np.clip(values, self.low, self.high).astype(np.int64)
        return out


def arrival_times(proc: ArrivalProcess, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` non-decreasing arrival times (seconds), the first at ``start_s`` (diurnal:
    from ``start_s`` on, the first a random gap after it)."""
    if n <= 0:
        return np.zeros(0)
    mean_gap = 1.0 / proc.rate_per_s
    if proc.kind == "fixed":
        gaps = np.full(n - 1, mean_gap)
    elif proc.kind == "poisson":
        gaps = rng.exponential(mean_gap, size=n - 1)
    elif proc.kind == "gamma":
        shape = 1.0 / (proc.cv * proc.cv)
        gaps = rng.gamma(shape, mean_gap / shape, size=n - 1)
    elif proc.kind == "diurnal":
        return _diurnal(proc, n, rng)
    else:
        return proc.start_s + _bursty(proc, n, rng)
    return proc.start_s + np.concatenate(([0.0], np.cumsum(gaps)))


def _diurnal(proc: ArrivalProcess, n: int, rng: np.random.Generator) -> np.ndarray:
    """Lewis-Shedler thinning: candidates at the peak rate, each kept with probability
    rate(t) / peak rate. Times are absolute (the rate's phase is wall time of day)."""
    peak = proc.rate_per_s * (1.0 + proc.amplitude_frac)
    out: list[np.ndarray] = []
    count, t = 0, proc.start_s
    while count < n:
        batch = int((n - count) * (1.0 + proc.amplitude_frac) * 1.1) + 64
        cand = t + np.cumsum(rng.exponential(1.0 / peak, size=batch))
        keep = cand[rng.uniform(size=batch) * peak < proc.rate_at(cand)]
        out.append(keep[: n - count])
        count += min(len(keep), n - count)
        t = float(cand[-1])
    return np.concatenate(out)


def _bursty(proc: ArrivalProcess, n: int, rng: np.random.Generator) -> np.ndarray:
    on_rate = proc.rate_per_s * proc.burst_factor
    total = proc.on_s + proc.off_s
    off_rate = max(0.0, (proc.rate_per_s * total - on_rate * proc.on_s) / proc.off_s) \
        if proc.off_s > 0 else 0.0
    out = np.empty(n)
    count, t, on = 0, 0.0, True
    while count < n:
        period = rng.exponential(proc.on_s if on else proc.off_s) if (on or proc.off_s) else 0
        rate = on_rate if on else off_rate
        if rate > 0 and period > 0:
            k = int(rng.poisson(rate * period))
            if k:
                pts = np.sort(rng.uniform(t, t + period, size=k))
                take = min(k, n - count)
                out[count:count + take] = pts[:take]
                count += take
        t += period
        on = not on
    rel: np.ndarray = out - out[0]
    return rel


def generate_requests(
    n: int,
    arrivals: ArrivalProcess,
    prompt: LengthDist,
    output: LengthDist,
    streams: RandomStreams,
    *,
    name: str = "synthetic",
    service: str = "default",
    priority: int = 0,
    lengths: tuple[np.ndarray, np.ndarray] | None = None,
    repeat: int = 1,
    closed_loop: int = -1,
) -> list[LlmRequest]:
    """``n`` requests, ids 0..n-1 by arrival; unique prompts (no shared prefixes) unless
    ``repeat`` > 1.

    ``lengths`` (``n`` prompt and ``n`` output lengths, e.g. from
    :func:`lengths_from_trace`) replaces the ``prompt`` and ``output`` draws; the
    arrival times are the same either way. ``repeat`` = k sends each of ``ceil(n/k)``
    distinct prompts k times in a seeded random order (vLLM's
    ``benchmark_prefix_caching --repeat-count``): a copy finds its twin's KV blocks in
    the prefix cache once the twin's prefill has run. ``closed_loop`` >= 0 marks the
    requests as that closed-loop client group's (sent as earlier ones complete; their
    drawn arrival times only order them)."""
    if n < 0:
        raise InputError(f"number of requests must be >= 0, got {n}")
    if repeat < 1:
        raise InputError(f"repeat must be >= 1, got {repeat}")
    times = arrival_times(arrivals, n, streams.stream(f"llm/{name}/arrivals"))
    if lengths is not None:
        prompts, outputs = lengths
    else:
        prompts = prompt.draw(streams.stream(f"llm/{name}/prompt"), n)
        outputs = output.draw(streams.stream(f"llm/{name}/output"), n)
    if repeat > 1:
        return _repeated(times, prompts, outputs, repeat, streams.stream(f"llm/{name}/repeat"),
                         priority, service, closed_loop)
    # tolist() gives Python floats/ints already; positional arguments (fields in order)
    return [LlmRequest(i, t, p, o, (), MOONCAKE_HASH_BLOCK_TOKENS, None, priority, service,
                       0.0, closed_loop)
            for i, (t, p, o) in enumerate(zip(times.tolist(), prompts.tolist(),
                                              outputs.tolist(), strict=True))]


#: Tokens per prefix id of a repeated synthetic prompt (any block size divides the key space)
REPEAT_HASH_BLOCK_TOKENS = 16


def _repeated(times: np.ndarray, prompts: np.ndarray, outputs: np.ndarray, repeat: int,
              rng: np.random.Generator, priority: int, service: str,
              closed_loop: int) -> list[LlmRequest]:
    """The first ``ceil(n/repeat)`` drawn prompts (and their outputs), each ``repeat``
    times, shuffled over the ``n`` arrival times; a prompt's blocks get ids of their own
    (a fresh range per distinct prompt), shared by its copies."""
    n = len(times)
    distinct = -(-n // repeat)
    # prompt i % distinct for send slot i: each prompt ``repeat`` times (the last fewer);
    # never an array of distinct x repeat, which a huge ``repeat`` cannot size
    order = rng.permutation(np.arange(n) % distinct if n else np.arange(0))
    h = REPEAT_HASH_BLOCK_TOKENS
    blocks = -(-prompts[:distinct].astype(np.int64) // h)
    first_id = np.concatenate(([0], np.cumsum(blocks)[:-1])) if distinct else blocks
    out = []
    for i, (t, d) in enumerate(zip(times.tolist(), order.tolist(), strict=True)):
        base = int(first_id[d])
        out.append(LlmRequest(i, t, int(prompts[d]), int(outputs[d]),
                              tuple(range(base, base + int(blocks[d]))), h, None, priority,
                              service, 0.0, closed_loop))
    return out


def lengths_from_trace(trace: Sequence[LlmRequest], n: int, *, sample: str = "sequential",
                       rng: np.random.Generator | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (prompt, output) length pairs taken from ``trace`` (requests in arrival
    order): ``sequential`` takes them in order and starts again at the first when the
    trace runs out; ``random`` draws pairs with replacement from ``rng``. A pair is kept
    together (a long prompt keeps its own output length). Raises :class:`InputError` for
    an empty trace or an unknown ``sample``."""
    if not trace:
        raise InputError("the length trace holds no usable request")
    prompts = np.fromiter((r.num_prompt_tokens for r in trace), np.int64, len(trace))
    outputs = np.fromiter((r.num_output_tokens for r in trace), np.int64, len(trace))
    if sample == "sequential":
        idx = np.arange(n) % len(trace)
    elif sample == "random":
        if rng is None:
            raise InputError("random length sampling needs a random stream")
        idx = rng.integers(0, len(trace), size=n)
    else:
        raise InputError(f"length sampling must be sequential or random, got {sample!r}")
    return prompts[idx], outputs[idx]
