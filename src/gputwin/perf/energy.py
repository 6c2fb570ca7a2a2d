"""Energy of a training run: GPUs between idle and TDP by how busy they are, plus hosts.

``P_gpu = idle + (TDP − idle) · a`` with activity ``a = u + f·(1 − u)``, ``u`` the compute
share of the step and ``f`` (``idle_activity_frac``) the partial activity while waiting on
communication or in the pipeline bubble. Each node adds its host power (CPUs, NICs, fans,
``System.host_power_w``) for the whole run. A later power model refines this.
"""

from __future__ import annotations

from gputwin.topology.hardware import HardwareSpec


def gpu_power_w(hw: HardwareSpec, compute_frac: float, idle_activity_frac: float) -> float:
    """Average power of one accelerator at a given compute share of the step."""
    u = min(1.0, max(0.0, compute_frac))
    activity = u + idle_activity_frac * (1.0 - u)
    acc = hw.accelerator
    return acc.idle_w + (acc.tdp_w - acc.idle_w) * activity


def run_energy_j(hw: HardwareSpec, *, num_gpus: int, num_nodes: int, duration_s: float,
                 compute_frac: float, idle_activity_frac: float) -> float:
    """Joules drawn by the job's GPUs and its nodes' hosts over ``duration_s``."""
    gpus = num_gpus * gpu_power_w(hw, compute_frac, idle_activity_frac)
    host_share = num_gpus / (num_nodes * hw.gpus_per_node)
    hosts = num_nodes * hw.system.host_power_w * host_share
    return (gpus + hosts) * duration_s
