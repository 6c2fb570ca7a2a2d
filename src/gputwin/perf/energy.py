"""Energy of a training run, from the accelerator and host power curves of ``perf/power.py``.

Activity ``a = u + f·(1 − u)`` with ``u`` the compute share of the step and ``f`` the
partial activity while waiting on communication or in the pipeline bubble
(``wait_activity_frac`` in ``perf/power.yaml``). Each accelerator draws
``idle + (TDP − idle)·a``; each node's host (CPUs, NICs, fans) follows the same activity
between its idle and active share of ``System.host_power_w``. The job is charged its share
of the hosts of the nodes it occupies.
"""

from __future__ import annotations

from gputwin.perf.power import (
    accelerator_power_w,
    default_power_coefficients,
    host_power_w,
    training_activity_frac,
)
from gputwin.topology.hardware import HardwareSpec


def training_activity(compute_frac: float) -> float:
    """Accelerator activity (0 idle … 1 TDP) of a training step with this compute share."""
    return training_activity_frac(compute_frac, default_power_coefficients().wait_activity_frac)


def gpu_power_w(hw: HardwareSpec, compute_frac: float) -> float:
    """Average power of one accelerator at a given compute share of the step."""
    return accelerator_power_w(hw.accelerator, training_activity(compute_frac))


def run_energy_j(hw: HardwareSpec, *, num_gpus: int, num_nodes: int, duration_s: float,
                 compute_frac: float) -> float:
    """Joules drawn by the job's GPUs and its share of its nodes' hosts over ``duration_s``."""
    activity = training_activity(compute_frac)
    gpus = num_gpus * accelerator_power_w(hw.accelerator, activity)
    host_share = num_gpus / (num_nodes * hw.gpus_per_node)
    hosts = num_nodes * host_power_w(hw.system, activity) * host_share
    return (gpus + hosts) * duration_s
