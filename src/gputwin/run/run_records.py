"""What a cluster run leaves: one record per job and the run's summary and result.

:func:`run_result` turns the state a run ended in (:class:`FinishedRun`, the run of
:mod:`gputwin.run.simulate` or of a shared fleet) into a :class:`SimulationResult`: job
records (the part of a running job's segment inside the window charged), the summary
(:func:`gputwin.run.summary.summarize`) and the sections of the drivers that were on
(energy, reliability, fabric, optics, node groups, planned layouts, skipped trace rows).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Protocol

from gputwin.run.checkpoints import CheckpointDriver
from gputwin.run.energy_accounting import EnergyRecorder, empty_summary
from gputwin.run.fabric import FabricContention
from gputwin.run.failures import FailureDriver
from gputwin.run.job_state import JobState, progress
from gputwin.run.results import JobRecord, SimulationResult, Timeline
from gputwin.run.summary import summarize
from gputwin.run.world import World


class FinishedRun(Protocol):
    """What :func:`run_result` reads of a run that has stopped."""

    @property
    def world(self) -> World: ...
    @property
    def states(self) -> dict[str, JobState]: ...
    @property
    def timeline(self) -> Timeline: ...
    @property
    def energy(self) -> EnergyRecorder | None: ...
    @property
    def faults(self) -> FailureDriver | None: ...
    @property
    def ckpt(self) -> CheckpointDriver | None: ...
    @property
    def fabric(self) -> FabricContention | None: ...


def run_result(run: FinishedRun, *, name: str, seed: int, end_s: float, num_events: int,
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


def _records(run: FinishedRun, end_s: float,
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


def _node_groups(run: FinishedRun, jobs: list[JobRecord]) -> list[dict[str, Any]]:
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


def _reliability(run: FinishedRun, end_s: float) -> dict[str, Any]:
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
