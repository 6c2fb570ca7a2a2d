"""Synthetic workloads: an arrival process and a weighted mix of job templates.

Every random draw comes from a named stream of :class:`gputwin.sim.RandomStreams`
(``workload/arrivals``, ``workload/templates``, ``workload/num_gpus``,
``workload/tokens``), so the same seed gives the same jobs, and changing e.g. the token
range does not move the arrival times.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gputwin.perf.training import ParallelConfig, TrainingConfig
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec

ArrivalProcess = Literal["poisson", "fixed"]


@dataclass(frozen=True, slots=True)
class JobTemplate:
    """A kind of job. ``num_gpus_choices`` is drawn uniformly; ``tokens`` log-uniformly
    in ``[tokens_min, tokens_max]`` (equal bounds = a fixed amount)."""

    weight: float
    kind: str
    model: str
    tenant: str
    num_gpus_choices: tuple[int, ...]
    tokens_min: float
    tokens_max: float
    parallel: ParallelConfig
    training: TrainingConfig
    startup_overhead_s: float = 0.0
    deferrable_slack_s: float | None = None  #: carbon-aware: start may be this much later
    interruptible: bool = False  #: carbon-aware: may be suspended and resumed
    data_bytes: float = 0.0  #: dataset moved when run outside ``region``
    region: str | None = None  #: where the data lives
    gpu_type: str | None = None  #: mixed fleets: GPU type(s) allowed ("a|b"; None = any)
    fixed_duration_s: float | None = None  #: a fixed run time instead of tokens (pods)
    gpu_milli: int = 1000  #: part of one GPU (fractional request), 1000 = whole GPUs
    mig_profile: str | None = None  #: a MIG instance of one GPU
    #: per GPU count, a (parallel, training) layout replacing the template's (planned ones)
    layouts: Mapping[int, tuple[ParallelConfig, TrainingConfig]] | None = None

    def layout_for(self, num_gpus: int) -> tuple[ParallelConfig, TrainingConfig]:
        if self.layouts is not None and num_gpus in self.layouts:
            return self.layouts[num_gpus]
        return self.parallel, self.training


@dataclass(frozen=True, slots=True)
class ArrivalSpec:
    """``poisson``: exponential gaps with mean ``mean_interarrival_s``; ``fixed``: equal gaps.
    The first job arrives at ``start_s``."""

    process: ArrivalProcess
    mean_interarrival_s: float
    start_s: float = 0.0


def arrival_times(spec: ArrivalSpec, num_jobs: int, rng: np.random.Generator) -> list[float]:
    """``num_jobs`` non-decreasing submit times in seconds."""
    if num_jobs <= 0:
        return []
    if spec.process == "fixed":
        return [spec.start_s + i * spec.mean_interarrival_s for i in range(num_jobs)]
    gaps = rng.exponential(spec.mean_interarrival_s, size=num_jobs - 1)
    times = np.concatenate(([0.0], np.cumsum(gaps))) + spec.start_s
    return [float(t) for t in times]


def generate_synthetic(
    num_jobs: int,
    arrival: ArrivalSpec,
    templates: Sequence[JobTemplate],
    streams: RandomStreams,
    *,
    id_prefix: str = "job",
) -> list[JobSpec]:
    """Draw ``num_jobs`` jobs; ids are ``{id_prefix}-00001``... in submit order."""
    if not templates:
        raise ValueError("need at least one job template")
    times = arrival_times(arrival, num_jobs, streams.stream("workload/arrivals"))
    weights = np.array([t.weight for t in templates], dtype=float)
    picks = streams.stream("workload/templates").choice(
        len(templates), size=num_jobs, p=weights / weights.sum()
    )
    gpu_rng = streams.stream("workload/num_gpus")
    token_rng = streams.stream("workload/tokens")
    width = max(5, len(str(num_jobs)))
    jobs: list[JobSpec] = []
    for index, (submit_s, pick) in enumerate(zip(times, picks, strict=True)):
        tpl = templates[int(pick)]
        num_gpus = tpl.num_gpus_choices[int(gpu_rng.integers(len(tpl.num_gpus_choices)))]
        parallel, training = tpl.layout_for(num_gpus)
        tokens = _draw_tokens(tpl, token_rng)
        fixed = tpl.fixed_duration_s
        jobs.append(
            JobSpec(
                job_id=f"{id_prefix}-{index + 1:0{width}d}",
                kind=tpl.kind,
                tenant=tpl.tenant,
                model=tpl.model,
                num_gpus=num_gpus,
                submit_time_s=submit_s,
                parallel=parallel,
                training=None if fixed is not None else training,
                tokens=None if fixed is not None else tokens,
                fixed_duration_s=fixed,
                gpu_milli=tpl.gpu_milli,
                mig_profile=tpl.mig_profile,
                startup_overhead_s=tpl.startup_overhead_s,
                deferrable_slack_s=tpl.deferrable_slack_s,
                interruptible=tpl.interruptible,
                data_bytes=tpl.data_bytes,
                region=tpl.region,
                gpu_type=tpl.gpu_type,
            )
        )
    return jobs


def _draw_tokens(tpl: JobTemplate, rng: np.random.Generator) -> float:
    # Always draw, so a fixed template does not shift the stream for the others.
    u = float(rng.random())
    if tpl.tokens_max <= tpl.tokens_min:
        return tpl.tokens_min
    lo, hi = math.log(tpl.tokens_min), math.log(tpl.tokens_max)
    return float(math.exp(lo + u * (hi - lo)))
