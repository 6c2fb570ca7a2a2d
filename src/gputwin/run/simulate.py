"""The composition root of a simulation run: scenario → wired world → events → results.

``simulate(scenario)`` is deterministic: the same scenario and seed give the same
:class:`SimulationResult` (except ``wall_time_s``). Per instant, events fire in the order
completions → arrivals → one scheduling pass, so GPUs freed at time *t* are visible to
jobs arriving at *t*.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.cluster.ledger import Ledger, Placement
from gputwin.cluster.snapshot import take_snapshot
from gputwin.reliability.injector import FaultInjector
from gputwin.run.checkpoints import CheckpointDriver
from gputwin.run.energy_accounting import EnergyRecorder
from gputwin.run.fabric import FabricContention
from gputwin.run.failures import FailureDriver
from gputwin.run.job_speed import JobSpeeds
from gputwin.run.job_state import JobState, close_segment
from gputwin.run.outputs import write_outputs
from gputwin.run.results import SimulationResult, Timeline
from gputwin.run.run_records import run_result
from gputwin.run.world import World, build_world
from gputwin.scenario.schema import Scenario
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.plugins.carbon_hooks import plugin_hooks
from gputwin.scheduling.plugins.fractional import SharedGpuPlacement
from gputwin.sim.kernel import EventHandle, Simulator
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec

__all__ = ["drive", "run_result", "simulate", "simulate_world", "write_outputs"]

PRIORITY_COMPLETION = 0
PRIORITY_ARRIVAL = 1
PRIORITY_SCHEDULE = 2
_CHUNK_EVENTS = 2000  # progress is reported between chunks of this many events


class _Run:
    """Mutable state of one run; callbacks are bound methods scheduled on the kernel."""

    def __init__(self, world: World, streams: RandomStreams | None = None) -> None:
        self.world = world
        self.sim = Simulator()
        self.ledger = Ledger(world.layout)
        self.states = {job.job_id: JobState(job) for job in world.jobs}
        self.running = 0
        self.pass_pending = False
        self.last_event_s = 0.0
        self.hooks = plugin_hooks(world.scheduler)  # time-driven plugins (carbon_hooks.py)
        self.wakes: set[float] = set()
        self.fgd_probe = _fgd_probe(world.scheduler)  # FGD fragmentation (sharing profiles)
        self.energy = None if world.site is None else EnergyRecorder(
            world.site, world.layout.total_gpus)
        self.speeds = JobSpeeds(self.sim, self.states, self.energy, self._complete_at)
        self.timeline = Timeline(time_s=[0.0], gpus_allocated=[0], queue_length=[0],
                                 running_jobs=[0])
        for job in world.jobs:
            self.sim.schedule_at(job.submit_time_s, _bind(self.arrive, job), PRIORITY_ARRIVAL)
        self.faults, self.ckpt, self.fabric = _drivers(self, streams)

    # -- event handlers ---------------------------------------------------------------------

    def arrive(self, job: JobSpec) -> None:
        now = self.last_event_s = self.sim.now
        self.states[job.job_id].arrived = True
        reason = self.world.runtime.infeasible_reason(job)
        if reason is None and self.faults is not None:
            reason = self.faults.pool_reason(job.num_gpus)
        if reason is None:
            rejection = self.world.scheduler.submit(job, now)
            reason = None if rejection is None else rejection.reason
        if reason is not None:
            self.fail(job, reason, now)
        self.request_pass()

    def fail(self, job: JobSpec, reason: str, now: float) -> None:
        state = self.states[job.job_id]
        state.status, state.reason, state.end_s = "failed", reason, now

    def complete(self, job: JobSpec) -> None:
        now = self.last_event_s = self.sim.now
        self.ledger.release(job.job_id)
        state = self.states[job.job_id]
        self._close_segment(state, now, done=True)
        state.status, state.end_s, state.handle = "completed", now, None
        self.running -= 1
        self.world.scheduler.finished(job.job_id, now)
        self.request_pass()

    def request_pass(self) -> None:
        if not self.pass_pending:
            self.pass_pending = True
            self.sim.schedule_in(0.0, self.schedule_pass, PRIORITY_SCHEDULE)

    def schedule_pass(self) -> None:
        self.pass_pending = False
        now = self.sim.now
        scheduler = self.world.scheduler
        snapshot = take_snapshot(self.ledger)
        result = scheduler.schedule(now, snapshot)
        hooks = self.hooks
        suspended = hooks is not None and hooks.after_cycle(now, snapshot, result)
        for preemption in result.preemptions:
            self.stop(preemption.job, preemption.reason, preemption.migrate_to,
                      getattr(preemption, "checkpoint_now", False))
        for decision in result.starts:
            self.start(decision.job, decision.placement, decision.remaining_frac)
        for rejection in result.rejections:
            self.fail(rejection.job, rejection.reason, now)
        if hooks is not None:
            for change in hooks.speed_changes(now):
                self.set_speed(change.job_id, change.throughput_frac, change.power_frac)
            self.wake_at(hooks.next_wakeup_s(now))
            if suspended:  # GPUs freed after the walk: offer them at once
                self.request_pass()
        _record_cycle_fragmentation(self.timeline.fragmentation, now,
                                    scheduler.fragmentation_frac)
        if self.fgd_probe is not None:
            _record_fragmentation(self.timeline.fgd_fragmentation, now, self.fgd_probe())
        self.timeline.record(self.sim.now, self.ledger.allocated_gpus,
                             self.world.scheduler.num_queued(), self.running)

    def start(self, job: JobSpec, placement: Placement, remaining_frac: float = 1.0) -> None:
        now = self.sim.now
        self.ledger.allocate(job.job_id, placement)
        plan = self.world.runtime.plan(job, placement, remaining_frac,
                                       self.world.restart_overhead_for(placement.num_nodes))
        if self.energy is not None:
            plan = self.energy.start(job, placement, plan, now)
        state = self.states[job.job_id]
        if state.start_s is None:
            state.start_s = now
        state.status, state.placement, state.plan = "running", placement, plan
        state.seg_start_s, state.remaining_frac = now, remaining_frac
        state.speed_frac = state.power_frac = 1.0
        state.speed_factors = None
        state.mark_s, state.work_s, state.energy_work_s = now, 0.0, 0.0
        self.running += 1
        state.handle = self._complete_at(job, now + plan.duration_s)
        state.paused_speed = None
        if self.fabric is not None:
            self.fabric.started(job.job_id, placement, plan.uplink_duty, plan.uplink_exposed,
                                now)
        if self.faults is not None:
            self.faults.wake()
        if self.ckpt is not None and self.faults is not None:
            ckpt = self.faults.checkpoint_job(job, placement.num_nodes,
                                              self.checkpoint_interval_s(job))
            if ckpt is not None:
                self.ckpt.started(job.job_id, ckpt)

    def stop(self, job: JobSpec, reason: str, migrate_to: Placement | None,
             checkpoint_now: bool = False) -> None:
        """Preempt (re-queue from the last checkpoint; ``checkpoint_now``: suspend at a
        checkpoint, nothing lost) or migrate (checkpoint, restart)."""
        now = self.sim.now
        state = self.states[job.job_id]
        assert state.handle is not None and state.plan is not None
        self.sim.cancel(state.handle)
        self.ledger.release(job.job_id)
        self.running -= 1
        left = self._close_segment(state, now, done=False,
                                   checkpoint_now=checkpoint_now or migrate_to is not None)
        if migrate_to is not None:
            state.migrations += 1
            self.start(job, migrate_to, left)
            return
        state.preemptions += 1
        state.status, state.reason, state.handle = "queued", reason, None
        rejection = self.world.scheduler.submit(job, now, left)
        if rejection is not None:
            self.fail(job, rejection.reason, now)

    def _close_segment(self, state: JobState, now: float, *, done: bool,
                       checkpoint_now: bool = False) -> float:
        """Account the segment that ends now (:func:`close_segment`); returns the work
        fraction left."""
        job_id = state.spec.job_id
        if self.fabric is not None:
            self.fabric.ended(job_id, now)
        if self.energy is not None:
            self.energy.stop(job_id, now)
        durable = None if self.ckpt is None else self.ckpt.stopped(job_id)
        return close_segment(state, now, done=done, checkpoint_now=checkpoint_now,
                             durable_s=durable,
                             interval_s=lambda: self.checkpoint_interval_s(state.spec))

    def _complete_at(self, job: JobSpec, at_s: float) -> EventHandle:
        """Put ``job``'s completion at ``at_s`` on the kernel."""
        return self.sim.schedule_at(at_s, _bind(self.complete, job), PRIORITY_COMPLETION)

    def checkpoint_interval_s(self, job: JobSpec) -> float | None:
        """The job's own interval, else the run's, else (with failures) Young/Daly."""
        own = job.checkpoint_interval_s or self.world.checkpoint_interval_s
        if own or self.faults is None:
            return own
        return self.faults.checkpoint_interval_s(job)

    def interrupt(self, job_id: str, reason: str, checkpoint_now: bool,
                  stall_limit: int | None = None) -> float | None:
        """A fault stops running ``job_id``: it goes back to the scheduler with the work
        left since its last checkpoint (all of it kept with ``checkpoint_now``), or fails
        when this is its ``stall_limit``-th interruption in a row that kept no work (a
        crash loop: faults strike before it can restart and reach a checkpoint). Returns
        the GPU-seconds lost, ``None`` if the job was not running."""
        state = self.states[job_id]
        if state.status != "running" or state.handle is None:
            return None
        now = self.last_event_s = self.sim.now
        self.sim.cancel(state.handle)
        self.ledger.release(job_id)
        self.running -= 1
        lost_before = state.lost_gpu_s
        left = self._close_segment(state, now, done=False, checkpoint_now=checkpoint_now)
        state.stalled_restarts = state.stalled_restarts + 1 if left >= state.remaining_frac else 0
        scheduler = self.world.scheduler
        scheduler.finished(job_id, now)
        state.status, state.reason, state.handle = "queued", reason, None
        if stall_limit is not None and state.stalled_restarts >= stall_limit:
            self.fail(state.spec, f"abandoned: {stall_limit} interruptions in a row kept no "
                      "work (faults strike before a restart reaches a checkpoint)", now)
        elif (rejection := scheduler.submit(state.spec, now, left)) is not None:
            self.fail(state.spec, rejection.reason, now)
        self.request_pass()
        return state.lost_gpu_s - lost_before

    def placement_now(self, job_id: str) -> Placement | None:
        """The placement ``job_id`` runs on now (``None`` unless running)."""
        state = self.states[job_id]
        return state.placement if state.status == "running" else None

    def idle(self) -> bool:
        """Nothing runs, waits or is still to arrive (faults stop drawing then)."""
        return (self.running == 0 and self.world.scheduler.num_queued() == 0
                and all(s.arrived for s in self.states.values()))

    def relocate(self, job_id: str, placement: Placement) -> None:
        """Running ``job_id`` continues on ``placement`` (as many GPUs; a hot spare took a
        node's place): ledger, scheduler and fabric follow; the plan keeps its speed."""
        state = self.states[job_id]
        self.ledger.release(job_id)
        self.ledger.allocate(job_id, placement)
        state.placement = placement
        now = self.sim.now
        self.world.scheduler.relocated(job_id, placement, now)
        if self.fabric is not None and state.plan is not None:
            self.fabric.ended(job_id, now)
            self.fabric.started(job_id, placement, state.plan.uplink_duty,
                                state.plan.uplink_exposed, now)

    def set_speed(self, job_id: str, throughput_frac: float, power_frac: float,
                  source: str = "scheduler") -> None:
        """From now on ``source`` (a power cap, a straggler, fabric contention) holds
        ``job_id`` at ``throughput_frac`` of its speed drawing ``power_frac`` of its power
        (:class:`JobSpeeds`); a checkpoint driver re-times the job's next checkpoint."""
        applied = self.speeds.set_speed(job_id, throughput_frac, power_frac, source)
        if applied and self.ckpt is not None:
            self.ckpt.speed_changed(job_id)

    def pause(self, job_id: str) -> bool:
        """A checkpoint (or a node swap) stops ``job_id``'s training (its GPUs stay held,
        near idle); False when it was not running or already paused."""
        return self.speeds.pause(job_id)

    def resume(self, job_id: str) -> None:
        self.speeds.resume(job_id)

    def time_at_work_s(self, job_id: str, work_s: float) -> float | None:
        """When ``job_id``'s training in this segment reaches ``work_s`` uncapped seconds."""
        return self.speeds.time_at_work_s(job_id, work_s)

    def wake_at(self, t_s: float | None) -> None:
        """Run a scheduling pass at ``t_s`` (a plugin asked); skipped when an earlier
        wake-up is pending (the plugin is asked again then)."""
        now = self.sim.now
        if t_s is None or t_s <= now or any(now < w <= t_s for w in self.wakes):
            return
        self.wakes.add(t_s)
        self.sim.schedule_at(t_s, lambda: self._woken(t_s), PRIORITY_SCHEDULE)

    def _woken(self, t_s: float) -> None:
        self.wakes.discard(t_s)
        self.request_pass()


def _record_cycle_fragmentation(samples: list[tuple[float, float]], now: float,
                                frac: float | None) -> None:
    """Record the scheduling cycle's fragmentation heuristic (one sample per instant)."""
    if frac is None:
        return
    if samples and samples[-1][0] == now:
        samples[-1] = (now, frac)
    else:
        samples.append((now, frac))


def _record_fragmentation(samples: list[tuple[float, float, float, float]], now: float,
                          value: tuple[float, float, float] | None) -> None:
    """Record FGD's fragmentation measure if it changed (one sample per instant)."""
    if value is None or (samples and samples[-1][1:] == value):
        return
    if samples and samples[-1][0] == now:
        samples[-1] = (now, *value)
    else:
        samples.append((now, *value))


def _fgd_probe(scheduler: object) -> Callable[[], tuple[float, float, float] | None] | None:
    """The sharing placement's FGD measure (fgd, bestfit, gpu-packing), else ``None``."""
    if isinstance(scheduler, Framework):
        placement = scheduler.plugins.placement
        if isinstance(placement, SharedGpuPlacement):
            return placement.fragmentation_sample
    return None


def _drivers(run: _Run, streams: RandomStreams | None
             ) -> tuple[FailureDriver | None, CheckpointDriver | None, FabricContention | None]:
    """What acts on a run besides its scheduler: faults (``failures:``,
    run/failures.py), checkpoint writes through the storage tier (run/checkpoints.py) and
    fabric contention (``cluster.network.contention``, run/fabric.py); ``None`` when off."""
    world = run.world
    plan = world.failures
    faults = ckpt = fabric = None
    if plan is not None:
        rng = (streams or RandomStreams(0)).stream("reliability/faults")
        faults = FailureDriver(run, plan, FaultInjector(plan.models, world.layout, rng),
                               world.runtime)
        faults.start()
        if plan.checkpoint_writes != "off":
            tier = plan.checkpoint_storage
            ckpt = CheckpointDriver(run, plan.checkpoint_writes,
                                    tier.aggregate_write_bandwidth_bytes_per_s
                                    if tier is not None else None)
    if world.fabric_contention:
        fabric = FabricContention(run, world.layout, world.hardware.network.oversubscription)
    return faults, ckpt, fabric


def _bind(method: Callable[[JobSpec], None], job: JobSpec) -> Callable[[], None]:
    return lambda: method(job)


def simulate(
    scenario: Scenario,
    *,
    progress: Callable[[float], None] | None = None,
    catalog: Catalog | None = None,
) -> SimulationResult:
    """Run ``scenario`` to its horizon (or until every job is done).

    ``progress(now_s)`` is called now and then with the simulated time. Raises
    :class:`gputwin.errors.InputError` for problems found while wiring (e.g. a bad trace).
    """
    if scenario.experiment is not None:  # a packing experiment, not a time replay
        from gputwin.run.inflation_run import simulate_inflation

        return simulate_inflation(scenario, catalog or default_catalog())
    if scenario.serving is not None:  # training and inference on one fleet
        from gputwin.run.shared_fleet import simulate_shared

        return simulate_shared(scenario, progress=progress, catalog=catalog)
    wall_start = time.perf_counter()
    world = build_world(scenario, catalog or default_catalog(), RandomStreams(scenario.seed))
    return simulate_world(world, name=scenario.name, seed=scenario.seed,
                          horizon_s=scenario.horizon, progress=progress, wall_start=wall_start)


def simulate_world(
    world: World,
    *,
    name: str,
    seed: int,
    horizon_s: float | None,
    progress: Callable[[float], None] | None = None,
    wall_start: float | None = None,
) -> SimulationResult:
    """Run an already wired :class:`World` (lets tests and sweeps swap components).

    The cyclic garbage collector is paused while the events fire (and restored after), as
    in serving runs: the run allocates hundreds of thousands of short-lived acyclic objects
    (callbacks, placements, snapshots) that reference counting frees, and the collector's
    passes over the long-lived job states cost several per cent of the wall time."""
    wall_start = time.perf_counter() if wall_start is None else wall_start
    run = _Run(world, RandomStreams(seed))
    enabled = gc.isenabled()
    gc.disable()
    try:
        num_events = drive(run.sim, horizon_s, progress)
    finally:
        if enabled:
            gc.enable()
    unfinished = run.sim.num_pending > 0 or world.scheduler.num_queued() > 0
    end_s = horizon_s if (horizon_s is not None and unfinished) else run.last_event_s
    return run_result(run, name=name, seed=seed, end_s=end_s, num_events=num_events,
                      wall_start=wall_start)


def drive(sim: Simulator, horizon_s: float | None,
          progress: Callable[[float], None] | None = None) -> int:
    """Fire events until the horizon (or none are left), reporting progress between
    chunks; returns the number fired."""
    num_events = 0
    while True:
        fired = sim.run(until_s=horizon_s, max_events=_CHUNK_EVENTS)
        num_events += fired
        if progress is not None:
            progress(sim.now)
        if fired < _CHUNK_EVENTS:
            return num_events
