"""MIG placement: jobs that ask for a MIG profile run in an instance of a GPU in MIG mode.

``placement/mig`` keeps, per MIG-mode GPU, the *configured* layout (an immutable
:class:`~gputwin.cluster.mig.MigState`, NVIDIA's GPU instances) and which instances are
busy; the ledger records only busy instances (a :class:`GpuShare` with ``mig_start`` /
``mig_size`` in memory slices, ``milli`` = compute share). For a job with
``JobSpec.mig_profile`` it picks, over the up nodes' MIG GPUs, the cheapest of:

1. an idle configured instance of that profile (no cost), on the busiest GPU;
2. a new instance in free slices (create: costs ``reconfiguration_time_s``);
3. :meth:`~gputwin.cluster.mig.MigGeometry.plan_reconfiguration`: destroy the fewest idle
   instances, then create (costs ``reconfiguration_time_s``).

Ties go to the lowest (node, GPU). A reconfigured instance is reserved for the job and
``permit/mig-reconfigure`` makes the job WAIT (holding it) until ``now + time``; the
framework asks the simulator for a cycle when the wait ends
(:meth:`~gputwin.scheduling.framework.Framework.next_wakeup_s`), so it starts then.
Jobs without a MIG profile get whole GPUs not in MIG mode (node-id order, or the score
plugins' order). Which GPUs are in MIG mode: the first ``mig_gpus_per_node`` of
every node (default all), of the cluster's accelerator (or ``accelerator``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from gputwin.cluster.ledger import GpuShare, Placement, make_placement
from gputwin.cluster.mig import MigGeometry, MigInstance, MigState
from gputwin.scheduling.api import (
    CycleState,
    PermitPlugin,
    PlacementPlugin,
    PluginArgs,
    PluginContext,
    QueuedJob,
    RunningJob,
)
from gputwin.scheduling.hooks import HasMigGeometry
from gputwin.scheduling.placement import place_ranked
from gputwin.scheduling.status import SUCCESS, Status

READY_KEY = "mig_ready_s"


class MigArgs(PluginArgs):
    accelerator: str | None = Field(default=None, description="MIG geometry (default: the "
                                    "cluster's GPU)")
    mig_gpus_per_node: int | None = Field(default=None, ge=0,
                                          description="GPUs per node in MIG mode (None = all)")
    reconfiguration_time_s: float | None = Field(
        default=None, ge=0, description="destroy+create cost (default: the MIG data file's "
        "assumption)")


@dataclass(slots=True)
class _Gpu:
    state: MigState
    busy: dict[MigInstance, str]  # instance -> job id (running or reserved)


@dataclass(frozen=True, slots=True)
class _Choice:
    key: tuple[float, int, int, int, int]
    node: int
    gpu: int
    instance: MigInstance
    new_state: MigState
    time_s: float


class MigPlacement(PlacementPlugin, HasMigGeometry):
    """MIG instance placement with reconfiguration (see the module doc)."""

    name = "placement/mig"
    Args = MigArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, MigArgs)
        self.geo = MigGeometry.for_gpu(args.accelerator or ctx.gpu_type)
        self.time_s = (self.geo.reconfiguration_time_s if args.reconfiguration_time_s is None
                       else args.reconfiguration_time_s)
        layout = ctx.layout
        per = layout.gpus_per_node if args.mig_gpus_per_node is None else min(
            args.mig_gpus_per_node, layout.gpus_per_node)
        self.mig_per_node = per
        self.gpus: dict[tuple[int, int], _Gpu] = {
            (n, g): _Gpu(MigState(), {}) for n in range(layout.num_nodes) for g in range(per)}
        self.where: dict[str, tuple[int, int, MigInstance]] = {}  # job -> its instance
        self.num_reconfigurations = 0
        self.reconfiguration_s = 0.0
        self.num_destroyed = 0
        self._running: dict[tuple[int, int], int] = {}  # MIG GPU -> running instances
        self._running_gpus = np.zeros(layout.num_nodes, dtype=np.int64)

    def mig_geometry(self) -> MigGeometry:
        return self.geo

    # -- placement ----------------------------------------------------------------------------

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        spec = job.spec
        if spec.mig_profile is None:
            return place_ranked(state.layout, self._non_mig_free(free), spec.num_gpus, scores)
        held = self.where.get(spec.job_id)
        if held is None:
            choice = self._choose(spec.mig_profile, state)
            if choice is None:
                return None
            gpu = self.gpus[(choice.node, choice.gpu)]
            if choice.time_s > 0:
                self.num_reconfigurations += 1
                self.reconfiguration_s += choice.time_s
                self.num_destroyed += len(gpu.state.instances) + 1 - len(
                    choice.new_state.instances)
                job.data[READY_KEY] = state.now_s + choice.time_s
            gpu.state = choice.new_state
            gpu.busy[choice.instance] = spec.job_id
            held = (choice.node, choice.gpu, choice.instance)
            self.where[spec.job_id] = held
        node, g, inst = held
        prof = self.geo.profile(inst.profile)
        milli = round(1000 * prof.compute_slices / self.geo.compute_slices)
        share = GpuShare(node, g, milli, mig_start=inst.start, mig_size=prof.memory_slices)
        return make_placement(state.layout, {}, (share,))

    def _choose(self, profile: str, state: CycleState) -> _Choice | None:
        up = state.snapshot.health == 0
        best: _Choice | None = None
        for (node, g), gpu in self.gpus.items():
            if not up[node]:
                continue
            choice = self._option(profile, node, g, gpu)
            if choice is not None and (best is None or choice.key < best.key):
                best = choice
        return best

    def _option(self, profile: str, node: int, g: int, gpu: _Gpu) -> _Choice | None:
        busy = [i for i in gpu.state.instances if i in gpu.busy]
        load = -len(busy)  # prefer the busiest GPU (keeps empty GPUs whole)
        plan = self.geo.plan_reconfiguration(gpu.state, busy, profile,
                                             reconfiguration_time_s=self.time_s)
        if plan is None:
            return None
        key = (plan.time_s, len(plan.destroy), load, node, g)
        return _Choice(key, node, g, plan.create, plan.new_state, plan.time_s)

    def _non_mig_free(self, free: np.ndarray) -> np.ndarray:
        """Free whole GPUs not in MIG mode: a MIG GPU without a running instance is still in
        the ledger's whole-GPU pool, so it is taken out here."""
        idle = self.mig_per_node - self._running_gpus
        return np.maximum(free - idle, 0)

    # -- hooks --------------------------------------------------------------------------------

    def on_start(self, job: RunningJob, now_s: float) -> None:
        held = self.where.get(job.job_id)
        if held is not None:
            key = (held[0], held[1])
            self._running[key] = self._running.get(key, 0) + 1
            if self._running[key] == 1:
                self._running_gpus[held[0]] += 1

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        held = self.where.pop(job.job_id, None)
        if held is not None:  # the instance stays configured, now idle
            node, g, inst = held
            self.gpus[(node, g)].busy.pop(inst, None)
            self._running[(node, g)] -= 1
            if not self._running[(node, g)]:
                del self._running[(node, g)]
                self._running_gpus[node] -= 1

    # -- reads --------------------------------------------------------------------------------

    def layout_of(self, node: int, gpu: int) -> MigState:
        return self.gpus[(node, gpu)].state

    def busy_of(self, node: int, gpu: int) -> dict[MigInstance, str]:
        return dict(self.gpus[(node, gpu)].busy)


class MigReconfigurePermit(PermitPlugin):
    """Hold a job whose MIG instance is being (re)configured until it is ready."""

    name = "permit/mig-reconfigure"

    def permit(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        ready = float(job.data.get(READY_KEY, 0.0))
        if state.now_s >= ready:
            return SUCCESS
        return Status.wait(f"MIG reconfiguration until t={ready:g} s",
                           ready - state.now_s + 1e-9, self.name)
