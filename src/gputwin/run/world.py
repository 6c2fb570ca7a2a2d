"""Wiring: turn a validated :class:`Scenario` into the objects a run needs.

Only this module (and :mod:`gputwin.run.simulate`) know how the pieces fit together;
every constructor below takes its collaborators and does no I/O except reading a trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.cluster.layout import ClusterLayout
from gputwin.perf.training import ParallelConfig, TrainingConfig
from gputwin.scenario.schema import Scenario, TemplateConfig
from gputwin.scenario.scheduler import scheduler_profile
from gputwin.scheduling.api import PluginContext
from gputwin.scheduling.base import Scheduler
from gputwin.scheduling.profiles import build_framework
from gputwin.sim.rng import RandomStreams
from gputwin.topology.hardware import HardwareSpec, NetworkTopology, resolve_hardware
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec
from gputwin.workload.philly_csv import read_philly_csv
from gputwin.workload.synthetic import ArrivalSpec, JobTemplate, generate_synthetic


@dataclass(frozen=True, slots=True)
class World:
    """Everything a run needs, built from a scenario (no simulation state yet)."""

    hardware: HardwareSpec
    layout: ClusterLayout
    jobs: list[JobSpec]
    scheduler: Scheduler
    runtime: TrainingRuntime
    checkpoint_interval_s: float | None = None  # default for jobs without their own
    restart_overhead_s: float = 0.0  # extra start-up of a resumed job
    tenant_shares: dict[str, float] | None = None  # entitlements (summary)


def build_hardware(scenario: Scenario, catalog: Catalog) -> HardwareSpec:
    c = scenario.cluster
    net = c.network
    return resolve_hardware(
        catalog, gpu=c.gpu, system=c.system, fabric=c.scale_out_fabric, storage=c.storage,
        network=NetworkTopology(kind=net.topology, nodes_per_leaf=net.nodes_per_leaf,
                                oversubscription=net.oversubscription),
    )


def build_layout(scenario: Scenario, hw: HardwareSpec) -> ClusterLayout:
    return ClusterLayout(
        num_nodes=scenario.cluster.num_nodes,
        gpus_per_node=hw.gpus_per_node,
        nodes_per_leaf=hw.network.nodes_per_leaf,
        scale_up_domain_size=hw.scale_up_domain_size,
        leaves_per_pod=scenario.cluster.network.leaves_per_pod,
    )


def job_template(cfg: TemplateConfig) -> JobTemplate:
    lo, hi = cfg.tokens_range
    return JobTemplate(
        weight=cfg.weight, kind=cfg.kind, model=cfg.model, tenant=cfg.tenant,
        num_gpus_choices=cfg.num_gpus_choices, tokens_min=lo, tokens_max=hi,
        parallel=ParallelConfig(tp=cfg.tp, pp=cfg.pp, cp=cfg.cp, ep=cfg.ep,
                                sequence_parallel=cfg.sequence_parallel,
                                zero_stage=cfg.zero_stage),
        training=TrainingConfig(global_batch_size=cfg.global_batch_size,
                                micro_batch_size=cfg.micro_batch_size, seq_len=cfg.seq_len,
                                dtype=cfg.dtype, recompute=cfg.recompute),
        startup_overhead_s=cfg.startup_overhead,
    )


def build_jobs(scenario: Scenario, streams: RandomStreams) -> list[JobSpec]:
    """All jobs of the run, sorted by (submit time, id)."""
    jobs: list[JobSpec] = []
    syn = scenario.workload.synthetic
    if syn is not None:
        arrival = ArrivalSpec(syn.arrival.process, syn.arrival.mean_interarrival,
                              syn.arrival.start)
        jobs += generate_synthetic(syn.num_jobs, arrival,
                                   [job_template(t) for t in syn.templates], streams)
    trace = scenario.workload.trace
    if trace is not None:
        jobs += read_philly_csv(Path(trace.path), model=trace.model or "unknown",
                                kind=trace.kind, cluster=trace.cluster,
                                max_jobs=trace.max_jobs, max_gpus=trace.max_gpus)
    jobs.sort(key=lambda j: (j.submit_time_s, j.job_id))
    return jobs


def build_world(scenario: Scenario, catalog: Catalog, streams: RandomStreams) -> World:
    hw = build_hardware(scenario, catalog)
    layout = build_layout(scenario, hw)
    jobs = build_jobs(scenario, streams)
    models: dict[str, ModelSpec] = {
        name: catalog.model(name) for name in sorted({j.model for j in jobs if j.is_modelled})
    }
    runtime = TrainingRuntime(hw, models)
    scheduler = build_scheduler(scenario, layout, hw, runtime)
    sched = scenario.scheduler
    return World(hw, layout, jobs, scheduler, runtime,
                 checkpoint_interval_s=sched.checkpoint_interval,
                 restart_overhead_s=sched.restart_overhead,
                 tenant_shares=dict(sched.tenant_shares) or None)


def build_scheduler(scenario: Scenario, layout: ClusterLayout, hw: HardwareSpec,
                    runtime: TrainingRuntime) -> Scheduler:
    """The scheduling framework for the scenario's profile (plugins with typed args)."""
    gpn, per_leaf = layout.gpus_per_node, layout.nodes_per_leaf

    def estimate(job: JobSpec) -> float:
        return runtime.expected_duration_s(job, gpn, per_leaf)

    ctx = PluginContext(layout=layout, estimate_runtime=estimate, gpu_type=hw.accelerator.name)
    return build_framework(scheduler_profile(scenario.scheduler), ctx)
