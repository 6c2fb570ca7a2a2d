"""A live cluster twin: the simulator of :func:`gputwin.run.simulate.simulate`, held open
and advanced on demand, with jobs submitted and nodes drained or failed while it runs.

Used by the REST server's ``/v1/twins`` (docs/server.md). Not thread-safe: the caller
serialises access (one lock per twin).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.cluster.ledger import NodeHealth
from gputwin.errors import InputError
from gputwin.run.job_state import JobState
from gputwin.run.simulate import PRIORITY_ARRIVAL, _bind, _Run
from gputwin.run.world import build_world
from gputwin.scenario.schema import Scenario
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec


@dataclass(frozen=True, slots=True)
class LiveJob:
    """A job submitted to a live twin: it holds ``num_gpus`` for ``duration_s``."""

    num_gpus: int
    duration_s: float
    tenant: str = "live"
    priority: int = 0


class LiveTwin:
    """The scenario's cluster and workload, advanced only when asked (``run_until``)."""

    def __init__(self, scenario: Scenario, *, catalog: Catalog | None = None) -> None:
        if scenario.serving is not None:
            raise InputError("a live twin of a shared fleet (training beside serving) is "
                             "not supported yet: run it with `gputwin simulate`",
                             where="serving")
        world = build_world(scenario, catalog or default_catalog(),
                            RandomStreams(scenario.seed))
        self.name = scenario.name
        self._run = _Run(world)
        self._num_live = 0

    @property
    def now_s(self) -> float:
        return self._run.sim.now

    def run_until(self, time_s: float, max_events: int = 2_000_000) -> int:
        """Advance the clock to ``time_s`` (no further than ``max_events`` events); returns
        the events fired. Raises InputError for a time in the past."""
        if not time_s >= self.now_s:
            raise InputError(f"expected a time >= now ({self.now_s:g} s), got {time_s:g}",
                             where="time_s")
        return self._run.sim.run(until_s=time_s, max_events=max_events)

    def submit(self, job: LiveJob) -> str:
        """Queue ``job`` now; returns its id (``live-00001`` ...)."""
        if job.num_gpus <= 0 or job.duration_s <= 0:
            raise InputError("expected num_gpus > 0 and duration_s > 0", where="job")
        self._num_live += 1
        spec = JobSpec(job_id=f"live-{self._num_live:05d}", kind="live", tenant=job.tenant,
                       model="external", num_gpus=job.num_gpus, submit_time_s=self.now_s,
                       fixed_duration_s=job.duration_s, priority=job.priority)
        self._run.states[spec.job_id] = JobState(spec)
        self._run.sim.schedule_at(self.now_s, _bind(self._run.arrive, spec), PRIORITY_ARRIVAL)
        return spec.job_id

    def set_node_health(self, node: int, health: NodeHealth) -> list[str]:
        """``draining``: runs what it has, takes nothing new; ``down``: its jobs are stopped
        and re-queued (from their last checkpoint); ``up``: back in service. Returns the
        ids of the jobs stopped."""
        run = self._run
        if not 0 <= node < run.ledger.layout.num_nodes:
            raise InputError(f"no node {node} (0..{run.ledger.layout.num_nodes - 1})",
                             where="node")
        stopped = []
        if health == "down":
            for job_id in list(run.ledger.jobs_on(node)):
                run.stop(run.states[job_id].spec, f"node {node} failed", None)
                stopped.append(job_id)
        run.ledger.set_health(node, health)
        run.request_pass()
        return stopped

    def state(self) -> dict[str, Any]:
        """Counts at the current time (SI units)."""
        run = self._run
        statuses = [s.status for s in run.states.values()]
        health = [int(h) for h in run.ledger.health_codes()]
        return {
            "name": self.name, "time_s": self.now_s,
            "gpus_total": run.world.layout.total_gpus,
            "gpus_allocated": run.ledger.allocated_total,
            "queue_length": run.world.scheduler.num_queued(),
            "running_jobs": run.running,
            "completed_jobs": statuses.count("completed"),
            "failed_jobs": statuses.count("failed"),
            "pending_events": run.sim.num_pending,
            "nodes_up": health.count(0), "nodes_draining": health.count(1),
            "nodes_down": health.count(2),
            "gpu_power_w": self._gpu_power_w(),
        }

    def _gpu_power_w(self) -> float | None:
        """GPU power drawn now (W; start-up and training segments of running jobs, idle
        GPUs at idle power), ``None`` without a scenario ``site:``. Facility overhead (PUE)
        and grid carbon are applied only at the end of a run, so they are not here."""
        rec = self._run.energy
        if rec is None:
            return None
        now = self.now_s
        segments = list(rec._open.values())
        busy = sum(seg.gpus for seg in segments)
        drawn = sum(seg.p_start_w if now < seg.ts else seg.p_train_w for seg in segments)
        return drawn + max(rec.total_gpus - busy, 0.0) * rec._idle_gpu_w
