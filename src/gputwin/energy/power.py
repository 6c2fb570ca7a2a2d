"""IT power of jobs and requests: accelerators plus their share of hosts, with power caps.

Built on the pure curve of :mod:`gputwin.perf.power`. A job holds ``num_gpus`` accelerators
on ``num_nodes`` nodes; it is charged its GPUs and its share ``num_gpus / (num_nodes ·
gpus_per_node)`` of those nodes' hosts. Under a per-GPU power cap the GPUs draw at most the
cap and the job runs ``1 / throughput_frac`` times longer (see ``apply_power_cap``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gputwin.catalog.schema import Accelerator, System
from gputwin.errors import InputError, check_number
from gputwin.perf.power import (
    PowerCoefficients,
    accelerator_power_w,
    apply_power_cap,
    default_power_coefficients,
    host_power_w,
    training_activity_frac,
)


@dataclass(frozen=True, slots=True)
class JobPower:
    """Average IT power of a job (W) and the throughput factor a power cap leaves (<= 1)."""

    gpu_power_w: float  # per accelerator
    gpus_w: float  # all of the job's accelerators
    hosts_w: float  # the job's share of its nodes' hosts
    throughput_frac: float

    @property
    def it_power_w(self) -> float:
        return self.gpus_w + self.hosts_w


def job_power(acc: Accelerator, system: System, *, num_gpus: int, num_nodes: int,
              activity_frac: float, cap_w: float | None = None,
              compute_bound_frac: float = 1.0,
              coeff: PowerCoefficients | None = None) -> JobPower:
    """IT power of a job whose accelerators run at ``activity_frac``. Raises InputError."""
    if num_gpus < 1 or num_nodes < 1:
        raise InputError(f"a job needs at least one GPU and node, got {num_gpus}/{num_nodes}")
    if num_gpus > num_nodes * system.num_accelerators:
        raise InputError(f"{num_gpus} GPUs do not fit on {num_nodes} x {system.name}")
    k = coeff or default_power_coefficients()
    point = apply_power_cap(acc, activity_frac, cap_w, compute_bound_frac=compute_bound_frac,
                            coeff=k)
    share = num_gpus / (num_nodes * system.num_accelerators)
    hosts = num_nodes * host_power_w(system, activity_frac, k) * share
    return JobPower(point.power_w, num_gpus * point.power_w, hosts, point.throughput_frac)


def training_job_power(acc: Accelerator, system: System, *, num_gpus: int, num_nodes: int,
                       compute_frac: float, cap_w: float | None = None,
                       coeff: PowerCoefficients | None = None) -> JobPower:
    """IT power of a training job whose step is ``compute_frac`` compute (training model's
    ``(compute + optimizer) / step``); the compute share is what a cap slows down."""
    k = coeff or default_power_coefficients()
    activity = training_activity_frac(compute_frac, k.wait_activity_frac)
    return job_power(acc, system, num_gpus=num_gpus, num_nodes=num_nodes,
                     activity_frac=activity, cap_w=cap_w, compute_bound_frac=compute_frac,
                     coeff=k)


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of time at one accelerator activity (e.g. a prefill or a decode step)."""

    duration_s: float
    activity_frac: float


def phases_energy_j(acc: Accelerator, phases: Iterable[Phase], *, num_gpus: int = 1) -> float:
    """Accelerator energy (J) of consecutive phases on ``num_gpus`` GPUs (hosts excluded)."""
    total = 0.0
    for ph in phases:
        check_number(ph.duration_s, "phase duration_s", 0)
        total += ph.duration_s * accelerator_power_w(acc, ph.activity_frac)
    return total * num_gpus
