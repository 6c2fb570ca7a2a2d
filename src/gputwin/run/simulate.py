"""The composition root of a simulation run: scenario → wired world → events → results.

``simulate(scenario)`` is deterministic: the same scenario and seed give the same
:class:`SimulationResult` (except ``wall_time_s``). Per instant, events fire in the order
completions → arrivals → one scheduling pass, so GPUs freed at time *t* are visible to
jobs arriving at *t*.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.cluster.ledger import Ledger, Placement
from gputwin.run.outputs import write_outputs
from gputwin.run.results import JobRecord, JobStatus, SimulationResult, Timeline
from gputwin.run.summary import summarize
from gputwin.run.world import World, build_world
from gputwin.scenario.schema import Scenario
from gputwin.sim.kernel import Simulator
from gputwin.sim.rng import RandomStreams
from gputwin.training.runtime import RunPlan
from gputwin.workload.job import JobSpec

__all__ = ["simulate", "simulate_world", "write_outputs"]

PRIORITY_COMPLETION = 0
PRIORITY_ARRIVAL = 1
PRIORITY_SCHEDULE = 2
_CHUNK_EVENTS = 2000  # progress is reported between chunks of this many events


@dataclass(slots=True)
class _JobState:
    spec: JobSpec
    status: JobStatus = "queued"
    reason: str = ""
    arrived: bool = False
    start_s: float | None = None
    end_s: float | None = None
    placement: Placement | None = None
    plan: RunPlan | None = None


class _Run:
    """Mutable state of one run; callbacks are bound methods scheduled on the kernel."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.sim = Simulator()
        self.ledger = Ledger(world.layout)
        self.states = {job.job_id: _JobState(job) for job in world.jobs}
        self.running = 0
        self.pass_pending = False
        self.last_event_s = 0.0
        self.timeline = Timeline(time_s=[0.0], gpus_allocated=[0], queue_length=[0],
                                 running_jobs=[0])
        for job in world.jobs:
            self.sim.schedule_at(job.submit_time_s, _bind(self.arrive, job), PRIORITY_ARRIVAL)

    # -- event handlers ---------------------------------------------------------------------

    def arrive(self, job: JobSpec) -> None:
        now = self.last_event_s = self.sim.now
        self.states[job.job_id].arrived = True
        reason = self.world.runtime.infeasible_reason(job)
        if reason is None:
            rejection = self.world.scheduler.submit(job, now)
            reason = None if rejection is None else rejection.reason
        if reason is not None:
            state = self.states[job.job_id]
            state.status, state.reason, state.end_s = "failed", reason, now
        self.request_pass()

    def complete(self, job: JobSpec) -> None:
        now = self.last_event_s = self.sim.now
        self.ledger.release(job.job_id)
        state = self.states[job.job_id]
        state.status, state.end_s = "completed", now
        self.running -= 1
        self.request_pass()

    def request_pass(self) -> None:
        if not self.pass_pending:
            self.pass_pending = True
            self.sim.schedule_in(0.0, self.schedule_pass, PRIORITY_SCHEDULE)

    def schedule_pass(self) -> None:
        self.pass_pending = False
        now = self.sim.now
        layout = self.world.layout
        for decision in self.world.scheduler.schedule(now, layout, self.ledger.free_per_node()):
            self.start(decision.job, decision.placement)
        self.sample()

    def start(self, job: JobSpec, placement: Placement) -> None:
        now = self.sim.now
        self.ledger.allocate(job.job_id, placement)
        plan = self.world.runtime.plan(job, placement)
        state = self.states[job.job_id]
        state.status, state.start_s, state.placement, state.plan = "running", now, placement, plan
        self.running += 1
        self.sim.schedule_at(now + plan.duration_s, _bind(self.complete, job),
                             PRIORITY_COMPLETION)

    def sample(self) -> None:
        """Record the step functions if something changed (one sample per instant)."""
        tl = self.timeline
        now = self.sim.now
        values = (self.ledger.allocated_total, self.world.scheduler.num_queued(), self.running)
        last = (tl.gpus_allocated[-1], tl.queue_length[-1], tl.running_jobs[-1])
        if values == last:
            return
        if tl.time_s[-1] == now:
            tl.gpus_allocated[-1], tl.queue_length[-1], tl.running_jobs[-1] = values
            return
        tl.time_s.append(now)
        tl.gpus_allocated.append(values[0])
        tl.queue_length.append(values[1])
        tl.running_jobs.append(values[2])

    # -- results ----------------------------------------------------------------------------

    def records(self, end_s: float) -> list[JobRecord]:
        scheduler = self.world.scheduler
        out = []
        for job in self.world.jobs:
            state = self.states[job.job_id]
            if state.status == "queued":
                state.reason = (scheduler.waiting_reason(job) if state.arrived
                                else "not submitted yet: arrives after the horizon")
            out.append(_record(state, end_s))
        return out


def _bind(method: Callable[[JobSpec], None], job: JobSpec) -> Callable[[], None]:
    return lambda: method(job)


def _record(state: _JobState, end_s: float) -> JobRecord:
    job, plan, placement = state.spec, state.plan, state.placement
    energy = None if plan is None else plan.energy_j
    if state.status == "running" and plan is not None and energy is not None:
        # Charge the training time elapsed inside the window (start-up draws no energy here).
        assert state.start_s is not None
        train_s = plan.duration_s - plan.startup_s
        done_s = min(max(0.0, end_s - state.start_s - plan.startup_s), train_s)
        energy = energy * (done_s / train_s) if train_s > 0 else 0.0
    return JobRecord(
        job_id=job.job_id, kind=job.kind, model=job.model, tenant=job.tenant,
        num_gpus=job.num_gpus, submit_time_s=job.submit_time_s, start_time_s=state.start_s,
        end_time_s=state.end_s, status=state.status, reason=state.reason,
        num_nodes=0 if placement is None else placement.num_nodes,
        num_leaves=0 if placement is None else placement.num_leaves,
        step_time_s=None if plan is None else plan.step_time_s,
        num_steps=None if plan is None else plan.num_steps,
        tokens=job.tokens, mfu=None if plan is None else plan.mfu, energy_j=energy,
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
    """Run an already wired :class:`World` (lets tests and sweeps swap components)."""
    wall_start = time.perf_counter() if wall_start is None else wall_start
    run = _Run(world)
    num_events = 0
    while True:
        fired = run.sim.run(until_s=horizon_s, max_events=_CHUNK_EVENTS)
        num_events += fired
        if progress is not None:
            progress(run.sim.now)
        if fired < _CHUNK_EVENTS:
            break
    unfinished = run.sim.num_pending > 0 or world.scheduler.num_queued() > 0
    end_s = horizon_s if (horizon_s is not None and unfinished) else run.last_event_s
    jobs = run.records(end_s)
    total_gpus = world.layout.total_gpus
    wall = time.perf_counter() - wall_start
    summary = summarize(
        scenario_name=name, seed=seed, jobs=jobs, timeline=run.timeline,
        total_gpus=total_gpus, end_time_s=end_s, wall_time_s=wall, num_events=num_events,
        num_estimates=world.runtime.num_estimates,
    )
    return SimulationResult(
        scenario_name=name, seed=seed, total_gpus=total_gpus, end_time_s=end_s, jobs=jobs,
        timeline=run.timeline, summary=summary, wall_time_s=wall, num_events=num_events,
    )
