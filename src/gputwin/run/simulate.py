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
from dataclasses import asdict
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.cluster.ledger import Ledger, Placement
from gputwin.cluster.snapshot import take_snapshot
from gputwin.reliability.injector import FaultInjector
from gputwin.run.checkpoints import CheckpointDriver
from gputwin.run.energy_accounting import EnergyRecorder, empty_summary
from gputwin.run.fabric import FabricContention
from gputwin.run.failures import FailureDriver
from gputwin.run.job_state import JobState, combine_speed, progress, rebase, time_at_work_s
from gputwin.run.outputs import write_outputs
from gputwin.run.results import JobRecord, SimulationResult, Timeline
from gputwin.run.summary import summarize
from gputwin.run.world import World, build_world
from gputwin.scenario.schema import Scenario
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.plugins.carbon_hooks import plugin_hooks
from gputwin.scheduling.plugins.fractional import SharedGpuPlacement
from gputwin.sim.kernel import Simulator
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
        frag = scheduler.fragmentation_frac
        if frag is not None:
            samples = self.timeline.fragmentation
            if samples and samples[-1][0] == now:
                samples[-1] = (now, frag)
            else:
                samples.append((now, frag))
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
        state.handle = self.sim.schedule_at(now + plan.duration_s, _bind(self.complete, job),
                                            PRIORITY_COMPLETION)
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
        """Account the segment that ends now; returns the work fraction left."""
        plan, placement = state.plan, state.placement
        assert plan is not None and placement is not None
        if self.fabric is not None:
            self.fabric.ended(state.spec.job_id, now)
        if self.energy is not None:
            self.energy.stop(state.spec.job_id, now)
        held_s = now - state.seg_start_s
        gpus = placement.gpu_equivalents
        state.gpu_s += gpus * held_s
        state.held_s += held_s
        train_s = plan.duration_s - plan.startup_s
        work_s, full_power_s = progress(state, now)
        trained_s = min(work_s, train_s)
        durable = None if self.ckpt is None else self.ckpt.stopped(state.spec.job_id)
        if done or checkpoint_now:
            kept_s = trained_s
        elif durable is not None:  # checkpoints written through the storage tier
            kept_s = min(durable, trained_s)
        else:
            interval = self.checkpoint_interval_s(state.spec)
            kept_s = (trained_s // interval) * interval if interval else 0.0
        state.kept_s += kept_s
        if not done:
            state.lost_gpu_s += gpus * (held_s - kept_s)
        if plan.energy_j is not None:
            used = plan.energy_j * (min(full_power_s, train_s) / train_s if train_s > 0 else 1.0)
            state.energy_j = (state.energy_j or 0.0) + used
        kept_frac = kept_s / train_s if train_s > 0 else (1.0 if done else 0.0)
        return state.remaining_frac * (1.0 - kept_frac)

    def checkpoint_interval_s(self, job: JobSpec) -> float | None:
        """The job's own interval, else the run's, else (with failures) Young/Daly."""
        own = job.checkpoint_interval_s or self.world.checkpoint_interval_s
        if own or self.faults is None:
            return own
        return self.faults.checkpoint_interval_s(job)

    def interrupt(self, job_id: str, reason: str, checkpoint_now: bool) -> float | None:
        """A fault stops running ``job_id``: it goes back to the scheduler with the work
        left since its last checkpoint (all of it kept with ``checkpoint_now``). Returns
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
        scheduler = self.world.scheduler
        scheduler.finished(job_id, now)
        state.status, state.reason, state.handle = "queued", reason, None
        rejection = scheduler.submit(state.spec, now, left)
        if rejection is not None:
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
        ``job_id`` at ``throughput_frac`` of its speed drawing ``power_frac`` of its power;
        the job runs at the product over sources and its end is recomputed. While a
        checkpoint stalls the job the new speed applies when it resumes."""
        state = self.states[job_id]
        speed, power = combine_speed(state, source, throughput_frac, power_frac)
        if state.paused_speed is not None:
            state.paused_speed = (speed, power)
            return
        self._set_speed(state, speed, power)
        if self.ckpt is not None:
            self.ckpt.speed_changed(job_id)

    def pause(self, job_id: str) -> bool:
        """A checkpoint (or a node swap) stops ``job_id``'s training (its GPUs stay held,
        near idle); False when it was not running or already paused."""
        state = self.states[job_id]
        if state.paused_speed is None and state.status == "running":
            saved = (state.speed_frac, state.power_frac)
            self._set_speed(state, 0.0, 0.0)
            state.paused_speed = saved
            return True
        return False

    def resume(self, job_id: str) -> None:
        state = self.states[job_id]
        saved, state.paused_speed = state.paused_speed, None
        if saved is not None and state.status == "running":
            self._set_speed(state, *saved)

    def time_at_work_s(self, job_id: str, work_s: float) -> float | None:
        """When ``job_id``'s training in this segment reaches ``work_s`` uncapped seconds at
        its current speed (after its start-up); ``None`` if it is not training now."""
        return time_at_work_s(self.states[job_id], self.sim.now, work_s)

    def _set_speed(self, state: JobState, throughput_frac: float, power_frac: float) -> None:
        plan = state.plan
        if state.status != "running" or state.handle is None or plan is None:
            return
        now = self.sim.now
        end_s = rebase(state, now, throughput_frac, power_frac)
        if self.energy is not None:  # accounting: training power changes from now
            self.energy.speed_change(state.spec.job_id, now, power_frac)
        self.sim.cancel(state.handle)
        state.handle = self.sim.schedule_at(end_s, _bind(self.complete, state.spec),
                                            PRIORITY_COMPLETION)

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


def _record_fragmentation(samples: list[tuple[float, float, float, float]], now: float,
                          value: tuple[float, float, float] | None) -> None:
    """Record FGD's fragmentation measure if it changed (one sample per instant)."""
    if value is None or (samples and samples[-1][1:] == value):
        return
    if samples and samples[-1][0] == now:
        samples[-1] = (now, *value)
    else:
        samples.append((now, *value))


def _records(run: _Run, end_s: float,
             energy: dict[str, dict[str, float]] | None = None) -> list[JobRecord]:
    """One record per job; ``energy``: per-job accounts (co2e_g, cost_usd, water_l)."""
    scheduler = run.world.scheduler
    out = []
    for job in run.world.jobs:
        state = run.states[job.job_id]
        if state.status == "queued":
            state.reason = (scheduler.waiting_reason(job) or state.reason if state.arrived
                            else "not submitted yet: arrives after the horizon")
        out.append(_record(state, end_s, None if energy is None
                           else energy.get(job.job_id)))
    return out


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


def _record(state: JobState, end_s: float,
            account: dict[str, float] | None = None) -> JobRecord:
    job, plan, placement = state.spec, state.plan, state.placement
    energy = state.energy_j
    gpu_s, total_held_s = state.gpu_s, state.held_s
    if state.status == "running" and plan is not None and placement is not None:
        # Charge the part of the current segment inside the window.
        held_s = max(0.0, end_s - state.seg_start_s)
        gpu_s += placement.gpu_equivalents * held_s
        total_held_s += held_s
        if plan.energy_j is not None:
            train_s = plan.duration_s - plan.startup_s
            done_s = min(progress(state, end_s)[1], train_s)
            part = plan.energy_j * (done_s / train_s) if train_s > 0 else 0.0
            energy = (energy or 0.0) + part
    ran = state.start_s is not None
    return JobRecord(
        job_id=job.job_id, kind=job.kind, model=job.model, tenant=job.tenant,
        num_gpus=job.num_gpus, submit_time_s=job.submit_time_s, start_time_s=state.start_s,
        end_time_s=state.end_s, status=state.status, reason=state.reason,
        num_nodes=0 if placement is None else placement.num_nodes,
        num_leaves=0 if placement is None else placement.num_leaves,
        step_time_s=None if plan is None else plan.step_time_s,
        num_steps=None if plan is None or plan.num_steps is None
        else plan.num_steps / max(state.remaining_frac, 1e-12),
        tokens=job.tokens, mfu=None if plan is None else plan.mfu, energy_j=energy,
        queue=job.queue, priority=job.priority, preemptions=state.preemptions,
        migrations=state.migrations, lost_gpu_hours=state.lost_gpu_s / 3600.0,
        gpu_hours=gpu_s / 3600.0 if ran else None, held_s=total_held_s if ran else None,
        co2e_g=None if account is None else account["co2e_g"],
        cost_usd=None if account is None else account["cost_usd"],
        water_l=None if account is None else account["water_l"],
    )


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


def run_result(run: _Run, *, name: str, seed: int, end_s: float, num_events: int,
               wall_start: float) -> SimulationResult:
    """The records, summary and result of a run that ended at ``end_s``."""
    world = run.world
    energy = None if run.energy is None else run.energy.finish(
        end_s, [j.job_id for j in world.jobs])
    jobs = _records(run, end_s, None if energy is None else energy.jobs)
    total_gpus = world.layout.total_gpus
    wall = time.perf_counter() - wall_start
    summary = summarize(
        scenario_name=name, seed=seed, jobs=jobs, timeline=run.timeline,
        total_gpus=total_gpus, end_time_s=end_s, wall_time_s=wall, num_events=num_events,
        num_estimates=world.runtime.num_estimates, tenant_shares=world.tenant_shares,
        quota=world.quota,
    )
    summary.update(empty_summary() if energy is None else energy.totals)
    summary["planned_layouts"] = _planned_layouts(world)
    if run.faults is not None:
        summary["reliability"] = _reliability(run, end_s)
    if run.fabric is not None:
        summary["fabric"] = run.fabric.report(end_s)
    if world.optics is not None:
        summary["optics"] = {"switching": world.optics_switching, **asdict(world.optics)}
    if world.runtime.node_types:
        summary["node_groups"] = _node_groups(run, jobs)
    if world.trace_rows_skipped:
        summary["trace_rows_skipped"] = dict(world.trace_rows_skipped)
    return SimulationResult(
        scenario_name=name, seed=seed, total_gpus=total_gpus, end_time_s=end_s, jobs=jobs,
        timeline=run.timeline, summary=summary, wall_time_s=wall, num_events=num_events,
        energy=None if energy is None else energy.to_dict(),
    )


def _node_groups(run: _Run, jobs: list[JobRecord]) -> list[dict[str, Any]]:
    """A mixed fleet's GPU types: nodes, GPUs, the jobs that last ran there, the GPU-hours
    they held and how many completed (summary ``node_groups``)."""
    types = run.world.runtime.node_types
    layout = run.world.layout
    rows: dict[str, dict[str, Any]] = {}
    for node, t in enumerate(types):
        row = rows.setdefault(t, {"gpu": t, "num_nodes": 0, "gpus": 0, "jobs": 0,
                                  "jobs_completed": 0, "gpu_hours": 0.0})
        row["num_nodes"] += 1
        row["gpus"] += layout.gpus_on(node)
    for rec in jobs:
        placement = run.states[rec.job_id].placement
        if placement is None or not placement.nodes:
            continue
        row = rows[types[placement.nodes[0]]]
        row["jobs"] += 1
        row["jobs_completed"] += rec.status == "completed"
        row["gpu_hours"] += rec.gpu_hours or 0.0
    return list(rows.values())


def _reliability(run: _Run, end_s: float) -> dict[str, Any]:
    """The summary's ``reliability`` section: ETTR = training kept / wall time from first
    start to end, per completed job and over all of them (run/failures.py)."""
    assert run.faults is not None
    ettr: dict[str, float] = {}
    kept = wall = 0.0
    for job_id, state in run.states.items():
        if state.status != "completed" or state.start_s is None or state.end_s is None:
            continue
        span = state.end_s - state.start_s
        if span > 0:
            ettr[job_id] = state.kept_s / span
            kept, wall = kept + state.kept_s, wall + span
    out = run.faults.report(ettr, kept, wall, end_s)
    if run.ckpt is not None:
        out["checkpoints"] = run.ckpt.report(end_s)
    return out


def _planned_layouts(world: World) -> list[dict[str, Any]]:
    """The layouts the planner chose for templates that gave none (summary, CLI)."""
    out: list[dict[str, Any]] = []
    for index, per_count in sorted((world.planned_layouts or {}).items()):
        for num_gpus, (p, cfg) in sorted(per_count.items()):
            out.append({"template": index, "num_gpus": num_gpus, "tp": p.tp, "pp": p.pp,
                        "cp": p.cp, "ep": p.ep, "interleave": p.interleave,
                        "micro_batch_size": cfg.micro_batch_size, "recompute": cfg.recompute,
                        "zero_stage": p.zero_stage, "sequence_parallel": p.sequence_parallel,
                        "seq_len": cfg.seq_len})
    return out
