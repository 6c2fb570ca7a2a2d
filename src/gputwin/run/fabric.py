"""Fabric contention in cluster runs: jobs crossing the same leaf uplinks share them.

The training model prices a job's communication across leaves at ``NIC / oversubscription``
per node: what each node of a leaf gets when every node under the leaf sends through its
uplinks at once. In a cluster run the traffic on each leaf is known, so with
``cluster.network.contention: true`` that price is replaced by the share the running jobs
actually leave (a fluid model, recomputed whenever a job starts, ends or moves):

- a job spanning two or more leaves sends across them for a share ``d`` of its step (its
  data-parallel communication time over its step time; ``RunPlan.uplink_duty``), of which
  ``e`` is not hidden behind compute (``RunPlan.uplink_exposed``);
- a leaf with ``N`` nodes has uplinks for ``N · NIC / oversubscription``. While a job with
  ``n`` nodes under the leaf sends, the other jobs crossing the leaf send with probability
  their duty, so on average ``n + Σ n_j·d_j`` nodes share the uplinks and each node gets
  ``min(NIC, N · NIC / oversubscription / (n + Σ n_j·d_j))``: ``f = min(oversubscription,
  N / (n + Σ n_j·d_j))`` times the model's price (its most loaded leaf sets it);
- the job's cross-leaf communication takes ``d / f`` of the old step: faster (``f > 1``)
  shortens only the exposed part, slower (``f < 1``) lengthens the step by all of it.

Alone on a quiet fabric a job gets up to the full NIC (``f`` up to the oversubscription);
each job that crosses the same leaves takes a share of that. With a non-blocking fabric
(oversubscription 1) nothing changes unless jobs share nodes. The summary's ``fabric``
section reports the jobs that crossed leaves, their time-weighted speed against running
alone on their leaves, and the GPU-hours that contention cost against running alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement

SOURCE = "fabric"


class SpeedHandle(Protocol):
    """What contention needs of a run (``run.simulate._Run``)."""

    def set_speed(self, job_id: str, throughput_frac: float, power_frac: float,
                  source: str = "scheduler") -> None: ...


@dataclass(slots=True)
class _Job:
    nodes_on: dict[int, int]  # leaf -> this job's nodes under it
    duty: float
    exposed: float
    gpus: float
    speed: float = 1.0  # against the training model's price
    alone: float = 1.0  # the speed it would have alone on its leaves
    since_s: float = 0.0


def step_speed(duty: float, exposed: float, f: float) -> float:
    """The job's speed when its cross-leaf communication (``duty`` of a step, ``exposed``
    of it not hidden) runs ``f`` times as fast as the model priced it."""
    if f >= 1.0:
        return 1.0 / (1.0 - min(exposed, duty * (1.0 - 1.0 / f)))
    return 1.0 / (1.0 + duty * (1.0 / f - 1.0))


@dataclass(slots=True)
class FabricContention:
    """Who sends across which leaf, and the speeds that implies."""

    run: SpeedHandle
    layout: ClusterLayout
    oversubscription: float
    _jobs: dict[str, _Job] = field(default_factory=dict)
    _load: dict[int, float] = field(default_factory=dict)  # leaf -> Σ nodes × duty
    _on_leaf: dict[int, set[str]] = field(default_factory=dict)
    crossed: set[str] = field(default_factory=set)
    lost_gpu_s: float = 0.0  # against running alone on its leaves
    job_s: float = 0.0  # time of cross-leaf jobs
    rel_speed_s: float = 0.0  # the same, weighted by speed / speed alone

    def started(self, job_id: str, placement: Placement, duty: float, exposed: float,
                now_s: float) -> None:
        """``job_id`` runs on ``placement`` from ``now_s``."""
        if duty <= 0 or placement.num_leaves < 2:
            return
        nodes_on: dict[int, int] = {}
        for node in placement.nodes:
            leaf = self.layout.leaf_of(node)
            nodes_on[leaf] = nodes_on.get(leaf, 0) + 1
        job = _Job(nodes_on, duty, exposed, placement.gpu_equivalents, since_s=now_s)
        job.alone = step_speed(duty, exposed, self._factor(job, 0.0, exclude=None))
        self._jobs[job_id] = job
        self.crossed.add(job_id)
        for leaf, n in nodes_on.items():
            self._load[leaf] = self._load.get(leaf, 0.0) + n * duty
            self._on_leaf.setdefault(leaf, set()).add(job_id)
        self._update(tuple(nodes_on), now_s)

    def ended(self, job_id: str, now_s: float) -> None:
        """``job_id`` stopped (completed, preempted, interrupted, or about to move)."""
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        self._account(job, now_s)
        for leaf, n in job.nodes_on.items():
            self._load[leaf] -= n * job.duty
            self._on_leaf[leaf].discard(job_id)
        self._update(tuple(job.nodes_on), now_s)

    def _factor(self, job: _Job, others_scale: float, exclude: str | None) -> float:
        """Bandwidth per node over the model's price on the job's most loaded leaf
        (``others_scale`` 0: alone)."""
        f = self.oversubscription
        for leaf, n in job.nodes_on.items():
            others = self._load.get(leaf, 0.0) - (n * job.duty if exclude else 0.0)
            size = len(self.layout.leaf_nodes(leaf))
            f = min(f, size / (n + others_scale * max(0.0, others)))
        return f

    def _update(self, leaves: tuple[int, ...], now_s: float) -> None:
        """New speeds of the jobs crossing ``leaves`` (set only where they changed)."""
        touched = sorted({j for leaf in leaves for j in self._on_leaf.get(leaf, ())})
        for job_id in touched:
            job = self._jobs[job_id]
            speed = step_speed(job.duty, job.exposed, self._factor(job, 1.0, exclude=job_id))
            if abs(speed - job.speed) < 1e-12:
                continue
            self._account(job, now_s)
            job.speed = speed
            self.run.set_speed(job_id, speed, 1.0, SOURCE)

    def _account(self, job: _Job, now_s: float) -> None:
        dt = now_s - job.since_s
        if dt > 0:
            rel = job.speed / job.alone
            self.job_s += dt
            self.rel_speed_s += dt * rel
            self.lost_gpu_s += job.gpus * dt * max(0.0, 1.0 - rel)
        job.since_s = now_s

    def report(self, now_s: float) -> dict[str, Any]:
        """The summary's ``fabric`` section (running jobs counted up to ``now_s``)."""
        for job in self._jobs.values():
            self._account(job, now_s)
        return {
            "jobs_crossing_leaves": len(self.crossed),
            "speed_vs_alone_mean": self.rel_speed_s / self.job_s if self.job_s > 0 else 1.0,
            "contention_lost_gpu_hours": self.lost_gpu_s / 3600.0,
        }
