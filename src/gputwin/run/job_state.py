"""One job's state in a cluster run, and the clock of its current segment.

A segment runs from a start (or restart) to a stop: ``startup_s`` of the plan first, then
training. Power caps, stragglers and fabric contention (*sources*) slow it: the segment's
speed is the product of their factors, and progress is kept as uncapped training seconds
done up to ``mark_s`` plus the time since at the current speed, so a speed change only
moves the segment's end (run/simulate.py reschedules the completion).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gputwin.cluster.ledger import Placement
from gputwin.run.results import JobStatus
from gputwin.sim.kernel import EventHandle
from gputwin.training.runtime import RunPlan
from gputwin.workload.job import JobSpec

#: Where a stalled job's completion waits until it resumes (~3 million years).
STALLED_S = 1e14


@dataclass(slots=True)
class JobState:
    spec: JobSpec
    status: JobStatus = "queued"
    reason: str = ""
    arrived: bool = False
    start_s: float | None = None  # first start
    end_s: float | None = None
    placement: Placement | None = None  # current (or last) placement
    plan: RunPlan | None = None  # current (or last) segment's plan
    seg_start_s: float = 0.0  # current segment
    remaining_frac: float = 1.0  # work left at the start of the current segment
    gpu_s: float = 0.0  # GPU-seconds held in finished segments (shares by their part)
    held_s: float = 0.0  # seconds held in finished segments
    lost_gpu_s: float = 0.0
    kept_s: float = 0.0  # training seconds kept (not lost to an interruption): ETTR
    energy_j: float | None = None  # energy of finished segments
    preemptions: int = 0
    stalled_restarts: int = 0  # fault interruptions in a row that kept no work
    migrations: int = 0
    handle: EventHandle | None = None  # pending completion
    # speed of the current segment (power caps): progress since ``mark_s`` runs at
    # ``speed_frac`` of uncapped speed and draws ``power_frac`` of uncapped power; work before
    # it is ``work_s`` (uncapped training seconds), energy ``energy_work_s`` (same, × power).
    speed_frac: float = 1.0
    power_frac: float = 1.0
    mark_s: float = 0.0
    work_s: float = 0.0
    energy_work_s: float = 0.0
    paused_speed: tuple[float, float] | None = None  # (speed, power) while a checkpoint stalls it
    #: what slows the segment, by source (power cap, straggler, fabric): speed = product
    #: (None until a source first sets one: most jobs never have one)
    speed_factors: dict[str, tuple[float, float]] | None = None


def progress(state: JobState, now: float) -> tuple[float, float]:
    """Training done in the current segment at ``now``, in uncapped seconds: (work,
    work weighted by the power drawn). Both are ``held - startup`` without speed changes."""
    plan = state.plan
    assert plan is not None
    run = max(0.0, now - max(state.seg_start_s + plan.startup_s, state.mark_s))
    return state.work_s + run * state.speed_frac, state.energy_work_s + run * state.power_frac


def combine_speed(state: JobState, source: str, throughput_frac: float,
                  power_frac: float) -> tuple[float, float]:
    """Record ``source``'s factors on ``state`` (1, 1 removes it); the product over all
    sources: (speed, power) as fractions of uncapped."""
    factors = state.speed_factors
    if factors is None:
        factors = state.speed_factors = {}
    if throughput_frac == 1.0 and power_frac == 1.0:
        factors.pop(source, None)
    else:
        factors[source] = (throughput_frac, power_frac)
    speed = power = 1.0
    for s, p in factors.values():
        speed, power = speed * s, power * p
    return speed, power


def rebase(state: JobState, now: float, throughput_frac: float, power_frac: float) -> float:
    """The segment runs at the new speed from ``now`` (or the end of its start-up); returns
    its new end (far away while stalled at speed 0)."""
    plan = state.plan
    assert plan is not None
    state.work_s, state.energy_work_s = progress(state, now)
    state.mark_s = max(now, state.seg_start_s + plan.startup_s)
    state.speed_frac, state.power_frac = throughput_frac, power_frac
    left_s = max(0.0, plan.duration_s - plan.startup_s - state.work_s)
    return state.mark_s + (left_s / throughput_frac if throughput_frac > 0 else STALLED_S)


def time_at_work_s(state: JobState, now: float, work_s: float) -> float | None:
    """When the segment's training reaches ``work_s`` uncapped seconds at its current
    speed (after its start-up); ``None`` if it is not training now."""
    plan = state.plan
    if state.status != "running" or plan is None or state.speed_frac <= 0:
        return None
    done = progress(state, now)[0]
    begin = max(now, state.seg_start_s + plan.startup_s)
    return begin + max(0.0, work_s - done) / state.speed_frac


def close_segment(state: JobState, now: float, *, done: bool, checkpoint_now: bool,
                  durable_s: float | None, interval_s: Callable[[], float | None]) -> float:
    """Account the segment that ends ``now`` on ``state``: time and GPU-seconds held, the
    training kept (all of it when ``done`` or ``checkpoint_now``; else up to the last
    checkpoint written through storage, ``durable_s``, or the last whole checkpoint
    ``interval_s()``), the GPU-seconds lost and the energy used. Returns the work fraction
    left."""
    plan, placement = state.plan, state.placement
    assert plan is not None and placement is not None
    held_s = now - state.seg_start_s
    gpus = placement.gpu_equivalents
    state.gpu_s += gpus * held_s
    state.held_s += held_s
    train_s = plan.duration_s - plan.startup_s
    work_s, full_power_s = progress(state, now)
    trained_s = min(work_s, train_s)
    if done or checkpoint_now:
        kept_s = trained_s
    elif durable_s is not None:  # checkpoints written through the storage tier
        kept_s = min(durable_s, trained_s)
    else:
        interval = interval_s()
        kept_s = (trained_s // interval) * interval if interval else 0.0
    state.kept_s += kept_s
    if not done:
        state.lost_gpu_s += gpus * (held_s - kept_s)
    if plan.energy_j is not None:
        used = plan.energy_j * (min(full_power_s, train_s) / train_s if train_s > 0 else 1.0)
        state.energy_j = (state.energy_j or 0.0) + used
    kept_frac = kept_s / train_s if train_s > 0 else (1.0 if done else 0.0)
    return state.remaining_frac * (1.0 - kept_frac)
