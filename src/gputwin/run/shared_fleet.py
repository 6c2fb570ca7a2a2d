"""Composition root of a shared fleet: training jobs and inference services on one cluster.

One event kernel drives both simulations: the cluster run (:class:`SharedRun`, the
cluster simulation of :mod:`gputwin.run.simulate` with serving replicas as gang jobs)
and the serving fleet (:class:`~gputwin.serving.cluster_fleet.ClusterFleet`, whose
autoscaler asks the cluster for replicas and hands them back). Replicas go through the
same scheduler, ledger, quotas and priorities as the training jobs; a replica that the
``priority`` profile places by preemption stops training jobs, which lose the work since
their last checkpoint and re-queue. Deterministic: same scenario and seed, same summary.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import replace

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.cluster.ledger import Placement
from gputwin.errors import InputError
from gputwin.run.results import SimulationResult
from gputwin.run.run_records import run_result
from gputwin.run.serving_build import (
    NO_EXTENT,
    build_service,
    provision_delay_s,
    workload_extents,
)
from gputwin.run.serving_energy import ServiceEnergy
from gputwin.run.serving_requests import build_requests_and_stages, closed_loops, trace_fields
from gputwin.run.serving_summary import ServiceMeta
from gputwin.run.shared_fleet_summary import shared_result
from gputwin.run.simulate import _Run, drive
from gputwin.run.world import World, build_world
from gputwin.scenario.schema import Scenario
from gputwin.scenario.shared_fleet import FleetServing, serving_view
from gputwin.scheduling.framework import Framework
from gputwin.serving.cluster_fleet import REPLICA_JOB_PREFIX, ClusterFleet, ReplicaJobs
from gputwin.serving.fleet import ServiceSpec
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec

__all__ = ["SharedRun", "simulate_shared"]


class SharedRun(_Run):
    """The cluster run of a shared fleet: serving replicas are jobs that never complete
    on their own; the fleet releases them (:class:`ReplicaProvider`)."""

    def __init__(self, world: World, streams: RandomStreams) -> None:
        super().__init__(world, streams)
        self.fleet: ClusterFleet | None = None
        self.replica_specs: dict[str, JobSpec] = {}
        self.serving_gpus = 0
        #: (time_s, GPUs held by serving replicas) at every change
        self.serving_samples: list[tuple[float, int]] = [(0.0, 0)]
        self.preempted_by_serving = 0  # training preemptions caused by replicas

    # -- ReplicaProvider --------------------------------------------------------------------
    def request_replica(self, job: JobSpec) -> None:
        self.replica_specs[job.job_id] = job
        rejection = self.world.scheduler.submit(job, self.sim.now)
        if rejection is not None:
            raise InputError(f"a replica of {job.num_gpus} GPUs cannot run here: "
                             f"{rejection.reason}", where="serving.services")
        self.request_pass()

    def withdraw_replica(self, job_id: str) -> None:
        scheduler = self.world.scheduler
        assert isinstance(scheduler, Framework)
        scheduler.remove_queued([job_id])
        self.request_pass()  # a strict queue may have waited behind it

    def release_replica(self, job_id: str) -> None:
        now = self.sim.now
        self.ledger.release(job_id)
        self.world.scheduler.finished(job_id, now)
        self._serving_change(-self.replica_specs[job_id].num_gpus)
        self.request_pass()

    # -- the cluster run's hooks ------------------------------------------------------------
    def start(self, job: JobSpec, placement: Placement, remaining_frac: float = 1.0) -> None:
        if job.job_id not in self.replica_specs:
            super().start(job, placement, remaining_frac)
            return
        self.ledger.allocate(job.job_id, placement)
        self._serving_change(job.num_gpus)
        assert self.fleet is not None
        self.fleet.granted(job.job_id, self.sim.now)

    def stop(self, job: JobSpec, reason: str, migrate_to: Placement | None,
             checkpoint_now: bool = False) -> None:
        if job.job_id in self.replica_specs:
            raise InputError(f"serving replica {job.job_id} would be {reason}: a shared "
                             "fleet needs serving above every training priority and no "
                             "migrating profile", where="serving.priority")
        if reason.startswith(f"preempted by {REPLICA_JOB_PREFIX}"):
            self.preempted_by_serving += 1
        super().stop(job, reason, migrate_to, checkpoint_now)

    def _serving_change(self, delta_gpus: int) -> None:
        self.serving_gpus += delta_gpus
        now = self.sim.now
        samples = self.serving_samples
        if samples[-1][0] == now:
            samples[-1] = (now, self.serving_gpus)
        else:
            samples.append((now, self.serving_gpus))


def simulate_shared(scenario: Scenario, *, progress: Callable[[float], None] | None = None,
                    catalog: Catalog | None = None) -> SimulationResult:
    """Run a cluster scenario with a ``serving:`` section. Raises :class:`InputError`.

    The cyclic garbage collector is paused for the run (as in serving runs)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate_shared(scenario, progress, catalog or default_catalog())
    finally:
        if enabled:
            gc.enable()


def _simulate_shared(scenario: Scenario, progress: Callable[[float], None] | None,
                     cat: Catalog) -> SimulationResult:
    wall_start = time.perf_counter()
    section = scenario.serving
    assert section is not None
    world = build_world(scenario, cat, RandomStreams(scenario.seed))
    if not isinstance(world.scheduler, Framework):
        raise InputError("a shared fleet needs the scheduling framework", where="scheduler")
    view = serving_view(scenario.name, scenario.seed, scenario.horizon, section)
    workload = build_requests_and_stages(view, RandomStreams(scenario.seed))
    requests = workload.requests
    extents = workload_extents(requests)
    built = [build_service(s, cat, extents.get(s.name, NO_EXTENT))
             for s in section.services]
    run = SharedRun(world, RandomStreams(scenario.seed))
    fleet = ClusterFleet([b[0] for b in built], requests, provider=run,
                         jobs=_replica_jobs(section, built, world, cat), sim=run.sim,
                         horizon_s=scenario.horizon,
                         sample_interval_s=section.sample_interval,
                         closed_loops=closed_loops(section))
    run.fleet = fleet
    fleet.start()
    horizon = scenario.horizon
    num_events = drive(run.sim, horizon, progress)
    training_left = world.scheduler.num_queued() > 0 or run.running > 0
    pending = run.sim.num_pending > 0
    outcome = fleet.outcome(num_events)
    if horizon is not None and (pending or training_left):
        end_s = horizon
    else:
        end_s = max(run.last_event_s, outcome.end_s)
    outcome = replace(outcome, end_s=end_s)
    cluster = run_result(run, name=scenario.name, seed=scenario.seed, end_s=end_s,
                         num_events=num_events, wall_start=wall_start)
    return shared_result(cluster, run, fleet, outcome, [b[1] for b in built], requests,
                         wall_start, trace=trace_fields(workload))


def _replica_jobs(section: FleetServing,
                  built: list[tuple[ServiceSpec, ServiceMeta, ServiceEnergy]],
                  world: World, cat: Catalog) -> ReplicaJobs:
    """Per service: the weight-loading time of a new replica (its autoscaler's storage
    tier, else the cluster's) and the model name its replica jobs carry."""
    load: dict[str, float] = {}
    models: dict[str, str] = {}
    for opts, (_, _, energy) in zip(section.services, built, strict=True):
        auto = opts.autoscaler
        tier = (cat.storage_tier(auto.storage) if auto is not None and auto.storage
                else world.hardware.storage)
        overhead = auto.startup_overhead if auto is not None else 0.0
        load[opts.name] = provision_delay_s(energy.perf, world.layout.gpus_per_node, tier, overhead)
        models[opts.name] = opts.model
    return ReplicaJobs(load_s=load, models=models, priority=section.priority,
                       tenant=section.tenant, queue=section.queue,
                       warm_start=section.warm_start)
