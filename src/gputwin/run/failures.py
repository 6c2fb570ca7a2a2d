"""Faults in a cluster run: the scenario's ``failures:`` applied to the ledger and the jobs.

A fault marks its nodes ``down`` at once (nothing new lands there); each running job on them
is interrupted after the model's detection time (a planned interruption checkpoints first
and loses nothing), goes back to the scheduler with the work left since its last checkpoint
and is re-placed by the scheduler on healthy nodes. A hot spare (a ``draining`` node held
out of the pool) is brought up for each failed node while spares last; a repaired node
refills the spare pool first. A straggler slows the jobs on its node: for a while (policy
``none``); until detection, then they checkpoint and move while the node is drained
(``exclude``); or until detection, then a hot spare takes the node's place in their
placements while they stall for the swap (``hot_swap``; ``exclude`` when no spare is
left). Faults stop while nothing runs and resume when a job starts, so a run
without a horizon still ends. Interruptions, lost GPU-hours per cause and ETTR per job go
to the summary's ``reliability`` section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gputwin.catalog.model_math import total_params
from gputwin.catalog.schema import StorageTier
from gputwin.cluster.ledger import Ledger, Placement, make_placement
from gputwin.perf.io import CHECKPOINT_BYTES_PER_PARAM
from gputwin.reliability import faults
from gputwin.reliability.faults import FaultModel
from gputwin.reliability.goodput import JobSpan, daly_interval_s, interruption_rates_per_s
from gputwin.reliability.injector import Fault, FaultInjector
from gputwin.run.checkpoints import CheckpointJob, checkpoint_cap
from gputwin.sim.kernel import Simulator
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec

PRIORITY_FAULT = 1  # with arrivals: after completions at the same instant


@dataclass(frozen=True, slots=True)
class FailurePlan:
    """What the scenario's ``failures:`` section resolves to (built in ``run.world``)."""

    models: tuple[FaultModel, ...]
    spares: int = 0
    straggler_policy: str = "none"
    hot_swap_s: float = 20.0  # the job's stall while a spare replaces a slow node
    checkpoint_storage: StorageTier | None = None  # for Young/Daly's checkpoint cost
    checkpoint_writes: str = "off"  # off | sync | async (run/checkpoints.py)
    checkpoint_bytes_per_param: float = CHECKPOINT_BYTES_PER_PARAM  # 14: mixed-precision Adam
    max_stalled_restarts: int = 100  # a job interrupted this often in a row, keeping nothing, fails


class RunHandle(Protocol):
    """What the driver needs of a run (``run.simulate._Run``)."""

    sim: Simulator
    ledger: Ledger

    def interrupt(self, job_id: str, reason: str, checkpoint_now: bool,
                  stall_limit: int | None = None) -> float | None: ...
    def set_speed(self, job_id: str, throughput_frac: float, power_frac: float,
                  source: str = "scheduler") -> None: ...
    def request_pass(self) -> None: ...
    def placement_now(self, job_id: str) -> Placement | None: ...
    def idle(self) -> bool: ...
    def relocate(self, job_id: str, placement: Placement) -> None: ...
    def pause(self, job_id: str) -> bool: ...
    def resume(self, job_id: str) -> None: ...


@dataclass(slots=True)
class _Cause:
    faults: int = 0
    interruptions: int = 0
    lost_gpu_s: float = 0.0


@dataclass(slots=True)
class FailureStats:
    causes: dict[str, _Cause] = field(default_factory=dict)
    interrupted: dict[str, int] = field(default_factory=dict)  # job → interruptions
    down_node_s: float = 0.0
    spares_used: int = 0
    hot_swaps: int = 0  # slow nodes replaced in place by a spare

    def cause(self, name: str) -> _Cause:
        return self.causes.setdefault(name, _Cause())


class FailureDriver:
    """Schedules faults on the kernel and applies them to a run."""

    def __init__(self, run: RunHandle, plan: FailurePlan, injector: FaultInjector,
                 runtime: TrainingRuntime) -> None:
        self.run, self.plan, self.injector, self.runtime = run, plan, injector, runtime
        self.stats = FailureStats()
        self._down: dict[int, int] = {}  # node → faults holding it down
        self._down_since: dict[int, float] = {}
        self._spares: list[int] = []
        self._armed = False
        self._intervals: dict[tuple[str, int], float] = {}

    def start(self) -> None:
        """Hold the spares out of the pool (last nodes) and draw the first fault."""
        ledger = self.run.ledger
        num_nodes = ledger.layout.num_nodes
        self._spares = list(range(max(0, num_nodes - self.plan.spares), num_nodes))
        for node in self._spares:
            ledger.set_health(node, "draining")
        self.wake()

    def pool_reason(self, num_gpus: int) -> str | None:
        """Why a job of ``num_gpus`` can never start (``None`` when it can): the spares are
        held out of the pool and only replace failed nodes, so the pool never grows."""
        if not self.plan.spares:
            return None
        layout = self.run.ledger.layout
        pool = sum(layout.gpus_on(n) for n in range(layout.num_nodes - self.plan.spares))
        if num_gpus <= pool:
            return None
        return (f"needs {num_gpus} GPUs, the pool has {pool} "
                f"({self.plan.spares} hot-spare node(s) held out)")

    def wake(self) -> None:
        """Resume drawing faults (a job started)."""
        if not self._armed:
            self._arm(self.run.sim.now)

    def _arm(self, now_s: float) -> None:
        fault = self.injector.next_fault(now_s)
        self._armed = fault is not None
        if fault is not None:
            self.run.sim.schedule_at(fault.time_s, _call(self._on_fault, fault), PRIORITY_FAULT)

    def _on_fault(self, fault: Fault) -> None:
        self._armed = False
        if not self.run.idle():
            self._arm(fault.time_s)
        model = fault.model
        self.stats.cause(model.name).faults += 1
        ledger = self.run.ledger
        jobs = sorted({j for n in fault.nodes for j in ledger.jobs_on(n)})
        if model.is_straggler:
            self._straggle(fault, jobs)
            return
        for node in fault.nodes:
            self._node_down(node)
        for job_id in jobs:
            placement = self.run.placement_now(job_id)
            self.run.sim.schedule_in(model.detect_s, _call(
                self._interrupt, (job_id, placement, model)), PRIORITY_FAULT)
        self.run.sim.schedule_in(model.repair_s, _call(self._repair, fault.nodes),
                                 PRIORITY_FAULT)

    def _interrupt(self, args: tuple[str, Placement | None, FaultModel]) -> None:
        job_id, placement, model = args
        if placement is None or self.run.placement_now(job_id) is not placement:
            return  # ended or moved before the fault was detected
        # planned: the job checkpoints first; a straggler is slow, not dead: it can too
        lost = self.run.interrupt(job_id, f"interrupted: {model.name} fault",
                                  model.planned or model.is_straggler,
                                  self.plan.max_stalled_restarts)
        if lost is None:
            return
        cause = self.stats.cause(model.name)
        cause.interruptions += 1
        cause.lost_gpu_s += lost
        self.stats.interrupted[job_id] = self.stats.interrupted.get(job_id, 0) + 1
        self.wake()

    def _node_down(self, node: int, replace: bool = True) -> None:
        """``node`` leaves service; a spare takes its place in the pool (``replace``)."""
        ledger = self.run.ledger
        count = self._down.get(node, 0)
        self._down[node] = count + 1
        if count:
            return
        self._down_since[node] = self.run.sim.now
        was_spare = node in self._spares
        ledger.set_health(node, "down")
        if was_spare:
            self._spares.remove(node)
        elif self._spares and replace:
            ledger.set_health(self._spares.pop(0), "up")
            self.stats.spares_used += 1

    def _repair(self, nodes: tuple[int, ...]) -> None:
        ledger = self.run.ledger
        for node in nodes:
            count = self._down.get(node, 0) - 1
            if count > 0:
                self._down[node] = count
                continue
            self._down.pop(node, None)
            self.stats.down_node_s += self.run.sim.now - self._down_since.pop(node)
            if len(self._spares) < self.plan.spares and not ledger.jobs_on(node):
                self._spares.append(node)
                ledger.set_health(node, "draining")
            else:
                ledger.set_health(node, "up")
        self.run.request_pass()

    def _straggle(self, fault: Fault, jobs: list[str]) -> None:
        model = fault.model
        placements = {job_id: self.run.placement_now(job_id) for job_id in jobs}
        for job_id in jobs:  # slow until it recovers, or until detection
            self.run.set_speed(job_id, model.slowdown_frac, 1.0, "straggler")
            self.run.sim.schedule_in(model.repair_s, _call(self._recover, (
                job_id, placements[job_id])), PRIORITY_FAULT)
        if self.plan.straggler_policy != "none":
            self.run.sim.schedule_in(model.detect_s, _call(self._mitigate, (
                fault, placements)), PRIORITY_FAULT)

    def _mitigate(self, args: tuple[Fault, dict[str, Placement | None]]) -> None:
        """A straggler found: swap its node for a hot spare in every placement on it
        (``hot_swap`` while spares last), else drain it and re-place its jobs."""
        fault, placements = args
        model = fault.model
        live = [j for j, p in placements.items()
                if p is not None and self.run.placement_now(j) is p]
        spare = None
        if (self.plan.straggler_policy == "hot_swap" and self._spares
                and len(fault.nodes) == 1 and not self._down.get(fault.nodes[0])):
            spare = self._spares.pop(0)
            self.run.ledger.set_health(spare, "up")
            self.stats.spares_used += 1
            self.stats.hot_swaps += 1
        for node in fault.nodes:
            self._node_down(node, replace=spare is None)
        for job_id in live:
            swapped = None if spare is None else _swapped(
                placements[job_id], fault.nodes[0], spare, self.run.ledger)
            if swapped is None:
                self._interrupt((job_id, placements[job_id], model))
                continue
            self.run.relocate(job_id, swapped)
            self.run.set_speed(job_id, 1.0, 1.0, "straggler")
            if self.plan.hot_swap_s > 0 and self.run.pause(job_id):  # the swap's stall
                self.run.sim.schedule_in(self.plan.hot_swap_s, _call(self.run.resume, job_id),
                                         PRIORITY_FAULT)
        self.run.sim.schedule_in(model.repair_s, _call(self._repair, fault.nodes),
                                 PRIORITY_FAULT)

    def _recover(self, args: tuple[str, Placement | None]) -> None:
        job_id, placement = args
        if placement is not None and self.run.placement_now(job_id) is placement:
            self.run.set_speed(job_id, 1.0, 1.0, "straggler")

    def checkpoint_interval_s(self, job: JobSpec) -> float:
        """Daly's optimum for ``job``'s span and checkpoint size (1 h for trace jobs)."""
        key = (job.model, job.num_gpus)
        if key not in self._intervals:
            self._intervals[key] = self._daly(job)
        return self._intervals[key]

    def checkpoint_job(self, job: JobSpec, num_nodes: int, interval_s: float | None
                       ) -> CheckpointJob | None:
        """What ``job`` writes at each checkpoint on ``num_nodes`` nodes (``None`` for jobs
        without a model or an interval, or without checkpoint writes)."""
        tier = self.plan.checkpoint_storage
        if (self.plan.checkpoint_writes == "off" or tier is None or not job.is_modelled
                or not interval_s):
            return None
        size = self.plan.checkpoint_bytes_per_param * total_params(
            self.runtime.model_spec(job.model))
        cap = checkpoint_cap(num_nodes, tier.write_bandwidth_bytes_per_s_per_node,
                             tier.aggregate_write_bandwidth_bytes_per_s)
        return CheckpointJob(size, interval_s, cap, job.num_gpus)

    def _daly(self, job: JobSpec) -> float:
        tier = self.plan.checkpoint_storage
        if not job.is_modelled or tier is None:
            return 3600.0
        lay = self.run.ledger.layout
        nodes = -(-job.num_gpus // lay.gpus_per_node)
        span = JobSpan(job.num_gpus, nodes, -(-nodes // lay.nodes_per_leaf))
        rates = interruption_rates_per_s([m for m in self.plan.models if not m.planned], span)
        lam = sum(rates.values())
        if lam <= 0:
            return 3600.0
        ckpt = self.plan.checkpoint_bytes_per_param * total_params(
            self.runtime.model_spec(job.model))
        write = nodes * tier.write_bandwidth_bytes_per_s_per_node
        if tier.aggregate_write_bandwidth_bytes_per_s:
            write = min(write, tier.aggregate_write_bandwidth_bytes_per_s)
        return max(1.0, daly_interval_s(ckpt / write + tier.latency_s, 1.0 / lam))

    def report(self, ettr: dict[str, float], kept_s: float, wall_s: float,
               end_s: float) -> dict[str, Any]:
        """The summary's ``reliability`` section."""
        s = self.stats
        down = s.down_node_s + sum(end_s - t for t in self._down_since.values())
        return {
            "faults": sum(c.faults for c in s.causes.values()),
            "interruptions": sum(c.interruptions for c in s.causes.values()),
            "lost_gpu_hours": sum(c.lost_gpu_s for c in s.causes.values()) / 3600.0,
            "by_cause": {n: {"faults": c.faults, "interruptions": c.interruptions,
                             "lost_gpu_hours": c.lost_gpu_s / 3600.0}
                         for n, c in sorted(s.causes.items())},
            "jobs_interrupted": len(s.interrupted),
            "node_down_hours": down / 3600.0,
            "spares_used": s.spares_used,
            "hot_swaps": s.hot_swaps,
            "ettr_cluster": kept_s / wall_s if wall_s > 0 else None,
            "ettr_per_job": ettr,
            "fault_rates": faults.rates_used(list(self.plan.models)),
        }


def _swapped(placement: Placement | None, old: int, new: int,
             ledger: Ledger) -> Placement | None:
    """``placement`` with its whole GPUs on node ``old`` moved to node ``new`` (a hot spare),
    or ``None`` when it cannot be: not on ``old``, partial GPUs there, already on ``new``,
    or too few free GPUs on ``new``."""
    if (placement is None or old not in placement.nodes or new in placement.nodes
            or any(share.node == old for share in placement.shares)):
        return None
    per_node = dict(zip(placement.nodes, placement.gpus, strict=True))
    count = per_node.pop(old)
    if ledger.free_on(new) < count:
        return None
    per_node[new] = count
    return make_placement(ledger.layout, per_node, placement.shares)


def _call(func: Callable[[Any], None], arg: Any) -> Callable[[], None]:
    return lambda: func(arg)
