"""The simulated optimum checkpoint interval: one job under Poisson faults, run many times.

A job needs ``work_s`` seconds of training. It writes a checkpoint (blocking ``δ`` s) after
every ``τ`` s of training; an unexpected fault (exponential gaps, mean ``mtbf_s``) costs the
work since the last completed checkpoint plus ``restart_s`` (detection included). Faults
can strike during a restart too. The ETTR of an interval is ``work_s`` / wall time; the
simulated optimum is the best interval of a grid around Young's, for comparison with the
closed forms in :mod:`gputwin.reliability.goodput`. Deterministic for a given generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gputwin.reliability.goodput import young_interval_s

__all__ = ["IntervalOutcome", "simulate_interval", "simulated_optimum"]


@dataclass(frozen=True, slots=True)
class IntervalOutcome:
    """Mean outcome of ``runs`` simulated trainings at one checkpoint interval."""

    interval_s: float
    ettr: float
    wall_s: float
    lost_work_s: float  # training redone after faults
    checkpoint_s: float  # time spent writing checkpoints
    interruptions: float


def simulate_interval(work_s: float, interval_s: float, checkpoint_s: float, mtbf_s: float,
                      restart_s: float, rng: np.random.Generator, runs: int = 8
                      ) -> IntervalOutcome:
    """Mean over ``runs`` trainings of ``work_s`` at ``interval_s``; raises ``ValueError``
    for a non-positive interval, work or MTBF."""
    if interval_s <= 0 or work_s <= 0 or mtbf_s <= 0:
        raise ValueError("interval, work and MTBF must be > 0")
    totals = np.zeros(4)
    for _ in range(runs):
        totals += _one_run(work_s, interval_s, checkpoint_s, mtbf_s, restart_s, rng)
    wall, lost, ckpt, faults = totals / runs
    return IntervalOutcome(interval_s, work_s / wall, wall, lost, ckpt, faults)


def _one_run(work_s: float, tau: float, delta: float, mtbf: float, restart: float,
             rng: np.random.Generator) -> np.ndarray:
    wall = lost = ckpt = faults = 0.0
    done = 0.0
    next_fault = rng.exponential(mtbf)
    while done < work_s:
        seg = min(tau, work_s - done)
        need = seg + (delta if done + seg < work_s else 0.0)  # no checkpoint at the end
        if next_fault >= need:
            wall += need
            next_fault -= need
            done += seg
            ckpt += need - seg
            continue
        wall += next_fault  # the fault strikes inside this segment: its work is lost
        lost += min(next_fault, seg)
        faults += 1
        next_fault = rng.exponential(mtbf)
        while next_fault < restart:  # a fault during the restart starts it over
            wall += next_fault
            faults += 1
            next_fault = rng.exponential(mtbf)
        wall += restart
        next_fault -= restart
    return np.array([wall, lost, ckpt, faults])


def simulated_optimum(work_s: float, checkpoint_s: float, mtbf_s: float, restart_s: float,
                      rng: np.random.Generator, *, runs: int = 8,
                      factors: tuple[float, ...] = (0.25, 0.35, 0.5, 0.7, 0.85, 1.0, 1.2,
                                                    1.4, 2.0, 2.8, 4.0)
                      ) -> tuple[float, list[IntervalOutcome]]:
    """The best interval of ``factors`` × Young's, and every outcome (same ``rng`` order)."""
    young = young_interval_s(checkpoint_s, mtbf_s)
    outcomes = [simulate_interval(work_s, f * young, checkpoint_s, mtbf_s, restart_s, rng, runs)
                for f in factors]
    best = max(outcomes, key=lambda o: o.ettr)
    return best.interval_s, outcomes
