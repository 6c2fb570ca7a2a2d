"""Wiring: turn a validated :class:`Scenario` into the objects a run needs.

Only this module (and :mod:`gputwin.run.simulate`) know how the pieces fit together;
every constructor below takes its collaborators and does no I/O except reading a trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.cluster.layout import ClusterLayout
from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.training import ParallelConfig, TrainingConfig
from gputwin.reliability import faults
from gputwin.requests import TrainPlanRequest
from gputwin.run.energy_setup import SiteSetup, add_site_plugins, build_site_setup
from gputwin.run.failures import FailurePlan
from gputwin.run.plan_train import plan_train
from gputwin.scenario.scheduler import scheduler_profile
from gputwin.scenario.schema import OpticsConfig, Scenario, TemplateConfig
from gputwin.scenario.tenancy import tenancy_model
from gputwin.scheduling.api import PluginContext
from gputwin.scheduling.base import Scheduler
from gputwin.scheduling.framework import Framework
from gputwin.scheduling.hooks import ObservesWorkload
from gputwin.scheduling.plugins.carbon_hooks import attach_site_grid
from gputwin.scheduling.plugins.power import attach_site_power
from gputwin.scheduling.plugins.sharing import NodeInventory, inventory_layout
from gputwin.scheduling.profiles import ResolvedProfile, build_framework
from gputwin.scheduling.quota import QuotaBook, TenancyContext, with_tenancy
from gputwin.sim.rng import RandomStreams
from gputwin.topology.hardware import HardwareSpec, NetworkTopology, resolve_hardware
from gputwin.topology.optical import TorusOptics, hosts_per_block, optical_table, torus_optics
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec
from gputwin.workload.philly_csv import read_philly_csv
from gputwin.workload.synthetic import ArrivalSpec, JobTemplate, generate_synthetic
from gputwin.workload.trace_common import TraceNode, TraceWorkload
from gputwin.workload.traces import path_options, read_trace

#: GPU count → (parallel, training) layout of one template
PlannedLayouts = dict[int, tuple[ParallelConfig, TrainingConfig]]


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
    quota: QuotaBook | None = None  # Kueue-style queues (scenario `tenancy:`; summary)
    site: SiteSetup | None = None  # scenario `site:` (energy accounting, power plugins)
    #: template index → GPU count → layout chosen by the planner (summary: planned_layouts)
    planned_layouts: dict[int, PlannedLayouts] | None = None
    failures: FailurePlan | None = None  # scenario `failures:` (run/failures.py)
    fabric_contention: bool = False  # cluster.network.contention (run/fabric.py)
    optics: TorusOptics | None = None  # cluster.optics: the torus' OCSes and transceivers
    optics_switching: str | None = None  # "ocs" | "static" (with ``optics``)
    #: hosts per 4x4x4 block when the torus is OCS-wired (0 otherwise): a job resumed on a
    #: slice of more than one block pays the OCS's job re-wiring on top of its restart
    ocs_block_hosts: int = 0
    #: rows of the scenario's trace not turned into jobs, by reason (summary)
    trace_rows_skipped: dict[str, int] = field(default_factory=dict)

    def restart_overhead_for(self, num_nodes: int) -> float:
        """Extra start-up of a job resumed on ``num_nodes`` hosts: the restart overhead,
        plus re-pointing the circuits of a multi-block OCS slice (``optical.yaml``,
        ``job_reconfiguration_s``)."""
        if self.ocs_block_hosts and num_nodes > self.ocs_block_hosts:
            return self.restart_overhead_s + optical_table().ocs.job_reconfiguration_s
        return self.restart_overhead_s


def build_hardware(scenario: Scenario, catalog: Catalog) -> HardwareSpec:
    c = scenario.cluster
    net = c.network
    return resolve_hardware(
        catalog, gpu=c.gpu, system=c.system, fabric=c.scale_out_fabric, storage=c.storage,
        network=NetworkTopology(kind=net.topology, nodes_per_leaf=net.nodes_per_leaf,
                                oversubscription=net.oversubscription),
    )


def build_layout(scenario: Scenario, hw: HardwareSpec,
                 trace_nodes: list[TraceNode] | None = None) -> ClusterLayout:
    """Uniform nodes of the system, or the trace's node list (``cluster.from_trace``)."""
    if scenario.cluster.from_trace:
        return trace_layout(scenario, hw, trace_nodes or [])
    assert scenario.cluster.num_nodes is not None  # schema: required unless from_trace
    return ClusterLayout(
        num_nodes=scenario.cluster.num_nodes,
        gpus_per_node=hw.gpus_per_node,
        nodes_per_leaf=hw.network.nodes_per_leaf,
        scale_up_domain_size=hw.scale_up_domain_size,
        leaves_per_pod=scenario.cluster.network.leaves_per_pod,
    )


def job_template(cfg: TemplateConfig, layouts: PlannedLayouts | None = None) -> JobTemplate:
    """A generator template; ``layouts`` (per GPU count) replace the template's own."""
    lo, hi = cfg.tokens_range
    parallel, training = cfg.layout()
    return JobTemplate(
        weight=cfg.weight, kind=cfg.kind, model=cfg.model, tenant=cfg.tenant,
        num_gpus_choices=cfg.num_gpus_choices, tokens_min=lo, tokens_max=hi,
        parallel=parallel, training=training,
        startup_overhead_s=cfg.startup_overhead,
        deferrable_slack_s=cfg.deferrable_slack, interruptible=cfg.interruptible,
        data_bytes=cfg.data_bytes, region=cfg.region, layouts=layouts, gpu_type=cfg.gpu,
        fixed_duration_s=cfg.duration, mig_profile=cfg.mig_profile,
        gpu_milli=1000 if cfg.gpu_fraction is None else max(1, round(cfg.gpu_fraction * 1000)),
    )


def plan_template_layouts(cfg: TemplateConfig, scenario: Scenario,
                          catalog: Catalog) -> PlannedLayouts:
    """The planner's best layout for each GPU count of a template that gives none (or that
    gives no sequence length: its model's training length). A count where nothing fits
    keeps the template's own layout, so the run reports the job as infeasible."""
    c = scenario.cluster
    spec = catalog.model(cfg.model)
    seq = cfg.seq_len or spec.training_seq_len
    out: dict[int, tuple[ParallelConfig, TrainingConfig]] = {}
    base = job_template(cfg)
    for num_gpus in cfg.num_gpus_choices:
        if cfg.layout_given:
            out[num_gpus] = (base.parallel, replace(base.training, seq_len=seq))
            continue
        request = TrainPlanRequest(
            model=cfg.model, num_gpus=[num_gpus], gpu=c.gpu, system=c.system,
            global_batch_size=cfg.global_batch_size or 1, seq_len=seq, dtypes=[cfg.dtype],
            top=1, ep_dispatcher=cfg.ep_dispatcher, ep_dispatch_fp8=cfg.ep_dispatch_fp8,
            moe_a2a_overlap=cfg.moe_a2a_overlap,
            fabric=c.scale_out_fabric, oversubscription=c.network.oversubscription,
            nodes_per_leaf=c.network.nodes_per_leaf)
        planned = _best_layout(request, catalog)
        out[num_gpus] = planned or (base.parallel, replace(base.training, seq_len=seq))
    return out


#: planner answers for the bundled catalog, by request (runs of one process share them)
_PLANNED: dict[str, tuple[ParallelConfig, TrainingConfig] | None] = {}


def _best_layout(request: TrainPlanRequest,
                 catalog: Catalog) -> tuple[ParallelConfig, TrainingConfig] | None:
    key = request.model_dump_json()
    shared = catalog is default_catalog()
    if shared and key in _PLANNED:
        return _PLANNED[key]
    try:
        best = plan_train(request, catalog=catalog).result.best
        found: tuple[ParallelConfig, TrainingConfig] | None = (best.parallel, best.config)
    except DoesNotFitError:
        found = None
    if shared:
        _PLANNED[key] = found
    return found


def trace_layout(scenario: Scenario, hw: HardwareSpec,
                 nodes: list[TraceNode]) -> ClusterLayout:
    """A heterogeneous layout from a trace's node list (GPUs, model, CPU, memory each).
    Raises :class:`InputError` when the trace lists no GPU node."""
    if not any(n.num_gpus > 0 for n in nodes):
        raise InputError("cluster.from_trace: the trace lists no GPU nodes (openb reads "
                         "openb_node_list_gpu_node.csv beside the pod list, or the "
                         "node_list option)")
    inf = float("inf")
    inventory = NodeInventory(
        gpus=tuple(n.num_gpus for n in nodes),
        models=tuple(n.gpu_model or "" for n in nodes),
        cpu_milli=tuple(inf if n.num_cpus is None else n.num_cpus * 1000.0 for n in nodes),
        memory_bytes=tuple(inf if n.memory_bytes is None else n.memory_bytes for n in nodes),
        names=tuple(n.name for n in nodes))
    return inventory_layout(inventory, nodes_per_leaf=hw.network.nodes_per_leaf,
                            leaves_per_pod=scenario.cluster.network.leaves_per_pod)


def read_scenario_trace(scenario: Scenario) -> TraceWorkload | None:
    """The scenario's trace through the format registry (``None`` without a trace, or for
    the legacy ``philly_csv`` reader when no ``options`` are given)."""
    trace = scenario.workload.trace
    if trace is None or (trace.format == "philly_csv" and not trace.options
                         and not scenario.cluster.from_trace):
        return None
    path = Path(trace.path)
    options = dict(trace.options)
    options.update(path_options(trace.format, path, options))  # relative: beside the trace
    options.update(model=trace.model, kind=trace.kind, max_jobs=trace.max_jobs,
                   max_gpus=trace.max_gpus)
    if trace.cluster is not None:
        options["cluster"] = trace.cluster
    try:
        return read_trace(trace.format, path, **options)
    except InputError as exc:
        if exc.where is not None and not exc.where.startswith("option"):
            raise
        where = "workload.trace" + (f".options ({exc.where})" if exc.where else "")
        raise InputError(exc.detail, where=where) from None


def build_node_groups(scenario: Scenario, catalog: Catalog
                      ) -> list[tuple[HardwareSpec, int]] | None:
    """A mixed fleet's groups (``cluster.node_groups``): hardware and node count each, in
    order; ``None`` for a cluster of one type."""
    c = scenario.cluster
    if not c.node_groups or len(c.node_groups) < 2:
        return None
    net = c.network
    topo = NetworkTopology(kind=net.topology, nodes_per_leaf=net.nodes_per_leaf,
                           oversubscription=net.oversubscription)
    return [(resolve_hardware(catalog, gpu=g.gpu, system=g.system, fabric=c.scale_out_fabric,
                              storage=c.storage, network=topo), g.num_nodes)
            for g in c.node_groups]


def _restrict_to_fitting_types(job: JobSpec, runtime: TrainingRuntime) -> JobSpec:
    """In a mixed fleet, a job may only be placed on the GPU types it fits (memory)."""
    if job.training is None:
        return job
    allowed = runtime.allowed_types(job)
    fits = [t for t in allowed if runtime.infeasible_reason(job, t) is None]
    if not fits or (len(fits) == len(allowed) and job.gpu_type is None):
        return job  # fits everywhere it may run (or nowhere: the run fails it with the reason)
    return replace(job, gpu_type="|".join(fits))


def build_jobs(scenario: Scenario, streams: RandomStreams,
               trace_workload: TraceWorkload | None = None,
               planned: Mapping[int, PlannedLayouts] | None = None) -> list[JobSpec]:
    """All jobs of the run, sorted by (submit time, id); ``planned``: per template index,
    the layouts that replace the template's own (:func:`plan_template_layouts`)."""
    jobs: list[JobSpec] = []
    syn = scenario.workload.synthetic
    if syn is not None:
        arrival = ArrivalSpec(syn.arrival.process, syn.arrival.mean_interarrival,
                              syn.arrival.start)
        templates = [job_template(t, (planned or {}).get(i))
                     for i, t in enumerate(syn.templates)]
        jobs += generate_synthetic(syn.num_jobs, arrival, templates, streams)
    trace = scenario.workload.trace
    traced: list[JobSpec] = []
    if trace_workload is not None:
        traced = trace_workload.jobs
    elif trace is not None:
        traced = read_philly_csv(Path(trace.path), model=trace.model or "unknown",
                                 kind=trace.kind, cluster=trace.cluster,
                                 max_jobs=trace.max_jobs, max_gpus=trace.max_gpus)
    if trace is not None and not traced:  # a run of no job would look like a successful one
        raise InputError(f"no job of {trace.path} is selected (an empty trace, or a "
                         "cluster / max_gpus / options filter no job matches)",
                         where="workload.trace"
                         + (f".cluster ({trace.cluster!r})" if trace.cluster else ""))
    jobs += traced
    jobs.sort(key=lambda j: (j.submit_time_s, j.job_id))
    return jobs


def build_world(scenario: Scenario, catalog: Catalog, streams: RandomStreams, *,
                shortcuts: bool = True) -> World:
    """Wire the scenario's components (``shortcuts``: the scheduler's exact speed-ups,
    off only to compute a reference schedule)."""
    hw = build_hardware(scenario, catalog)
    trace_workload = read_scenario_trace(scenario)
    layout = build_layout(scenario, hw, None if trace_workload is None else trace_workload.nodes)
    groups = build_node_groups(scenario, catalog)
    if groups is not None and len({g.gpus_per_node for g, _ in groups}) > 1:
        layout = replace(layout, gpus_per_node=max(g.gpus_per_node for g, _ in groups),
                         node_gpus=tuple(g.gpus_per_node for g, n in groups for _ in range(n)),
                         scale_up_domain_size=0)
    syn = scenario.workload.synthetic
    planned = {} if syn is None else {
        i: plan_template_layouts(t, scenario, catalog) for i, t in enumerate(syn.templates)
        if t.duration is None and (not t.layout_given or t.seq_len is None)}
    jobs = build_jobs(scenario, streams, trace_workload, planned)
    models: dict[str, ModelSpec] = {
        name: catalog.model(name) for name in sorted({j.model for j in jobs if j.is_modelled})
    }
    if groups is None:
        runtime = TrainingRuntime(hw, models)
    else:
        runtime = TrainingRuntime(
            hw, models, hw_by_type={g.accelerator.name: g for g, _ in groups},
            node_types=tuple(g.accelerator.name for g, n in groups for _ in range(n)))
        jobs = [_restrict_to_fitting_types(job, runtime) for job in jobs]
    quota = build_quota(scenario, hw, runtime.node_types)
    optics = build_optics(scenario, hw, layout)
    site = None if scenario.site is None else build_site_setup(
        scenario.site, hw, layout, runtime, scenario.seed,
        fabric_w=0.0 if optics is None else optics.switch_power_w + optics.optics_power_w)
    scheduler = build_scheduler(scenario, layout, hw, runtime, quota, site,
                                shortcuts=shortcuts)
    observe_workload(scheduler, jobs)
    sched = scenario.scheduler
    failures = build_failures(scenario, hw, catalog, layout.num_nodes)
    return World(hw, layout, jobs, scheduler, runtime,
                 checkpoint_interval_s=sched.checkpoint_interval or (
                     None if scenario.failures is None
                     else scenario.failures.checkpoint_interval),
                 restart_overhead_s=sched.restart_overhead + _failure_restart_s(scenario),
                 failures=failures,
                 fabric_contention=scenario.cluster.network.contention, optics=optics,
                 optics_switching=(scenario.cluster.optics or _NO_OPTICS).switching
                 if optics is not None else None,
                 ocs_block_hosts=hosts_per_block(hw.system.scale_up_topology, hw.gpus_per_node)
                 if optics is not None and optics.num_ocs > 0 else 0,
                 tenant_shares=dict(sched.tenant_shares) or None, quota=quota, site=site,
                 planned_layouts={i: v for i, v in planned.items()
                                  if not syn or not syn.templates[i].layout_given} or None,
                 trace_rows_skipped={} if trace_workload is None
                 else {k: v for k, v in trace_workload.skipped.items() if v})


_NO_OPTICS = OpticsConfig()


def build_optics(scenario: Scenario, hw: HardwareSpec,
                 layout: ClusterLayout) -> TorusOptics | None:
    """The optical parts of a torus cluster with ``cluster.optics`` (``None`` without)."""
    cfg = scenario.cluster.optics
    if cfg is None:
        return None
    fabric = hw.scale_up_fabric
    if fabric is None:
        raise InputError(f"{hw.system.name} has no scale-up fabric for its torus links",
                         where="cluster.optics")
    blocks = layout.num_nodes // hosts_per_block(hw.system.scale_up_topology, hw.gpus_per_node)
    return torus_optics(blocks, fabric.link_bandwidth_bytes_per_s * 8 / 1e9, cfg.transceiver,
                        ocs=cfg.switching == "ocs")


def build_failures(scenario: Scenario, hw: HardwareSpec, catalog: Catalog,
                   num_nodes: int) -> FailurePlan | None:
    """The fault plan of the scenario's ``failures:`` section (``None`` without one).
    Raises InputError when the hot spares would leave no node of the ``num_nodes`` to run
    jobs on (the run would wait for ever)."""
    cfg = scenario.failures
    if cfg is None:
        return None
    if cfg.spares >= num_nodes:
        raise InputError(f"{cfg.spares} hot-spare node(s) leave none of the cluster's "
                         f"{num_nodes} node(s) to run jobs on; hold fewer spares",
                         where="failures.spares")
    tier = hw.storage or catalog.storage_tier(faults.restart_defaults().checkpoint_storage)
    return FailurePlan(models=tuple(cfg.fault_models()), spares=cfg.spares,
                       straggler_policy=cfg.straggler_policy,
                       hot_swap_s=faults.restart_defaults().hot_swap_s, checkpoint_storage=tier,
                       checkpoint_writes=cfg.checkpoint_writes,
                       checkpoint_bytes_per_param=cfg.checkpoint_bytes_per_param,
                       max_stalled_restarts=cfg.max_stalled_restarts)


def _failure_restart_s(scenario: Scenario) -> float:
    """Reschedule + warm-up added to restarts when the scenario has ``failures:``."""
    cfg = scenario.failures
    if cfg is None:
        return 0.0
    if cfg.restart_overhead is not None:
        return cfg.restart_overhead
    defaults = faults.restart_defaults()
    return defaults.reschedule_s + defaults.warmup_s


def build_quota(scenario: Scenario, hw: HardwareSpec,
                node_types: tuple[str, ...] = ()) -> QuotaBook | None:
    """The quota book of the scenario's ``tenancy:`` section (``None`` without one); its
    flavours name the cluster's GPU types (a mixed fleet's ``node_types``)."""
    if scenario.tenancy is None:
        return None
    types = list(dict.fromkeys(node_types)) or [hw.accelerator.name]
    return QuotaBook(tenancy_model(scenario.tenancy, types))


def build_scheduler(scenario: Scenario, layout: ClusterLayout, hw: HardwareSpec,
                    runtime: TrainingRuntime, quota: QuotaBook | None = None,
                    site: SiteSetup | None = None, *, shortcuts: bool = True) -> Scheduler:
    """The scheduling framework for the scenario's profile (plugins with typed args);
    with a ``quota`` book, in its Kueue form (:func:`gputwin.scheduling.quota.with_tenancy`)."""
    gpn, per_leaf = layout.gpus_per_node, layout.nodes_per_leaf

    def estimate(job: JobSpec) -> float:
        return runtime.expected_duration_s(job, gpn, per_leaf)

    optics = scenario.cluster.optics
    common: dict[str, Any] = {
        "layout": layout, "estimate_runtime": estimate, "gpu_type": hw.accelerator.name,
        "node_types": runtime.node_types,
        "domain_sizes": {t: h.scale_up_domain_size for t, h in runtime.hardware_by_type.items()},
        "torus_wiring": None if optics is None else optics.switching,
        "hosts_per_block": 0 if optics is None else hosts_per_block(
            hw.system.scale_up_topology, hw.gpus_per_node)}
    profile = site_profile(scheduler_profile(scenario.scheduler, torus=optics is not None), site)
    if quota is not None:
        return with_site(build_framework(with_tenancy(profile),
                                         TenancyContext(**common, quota=quota),
                                         shortcuts=shortcuts), site)
    return with_site(build_framework(profile, PluginContext(**common), shortcuts=shortcuts),
                     site)


def observe_workload(scheduler: Scheduler, jobs: list[JobSpec]) -> None:
    """Hand the run's jobs to plugins that estimate the offered workload before the run
    (``observe_workload(jobs)``, e.g. FGD's target workload)."""
    if isinstance(scheduler, Framework):
        for plugin in scheduler.plugins.all():
            if isinstance(plugin, ObservesWorkload):
                plugin.observe_workload(jobs)


def site_profile(profile: ResolvedProfile, site: SiteSetup | None) -> ResolvedProfile:
    """Add the site's rack-power / site-budget plugins when they matter (energy_setup)."""
    return profile if site is None else add_site_plugins(profile, site)


def with_site(fw: Framework, site: SiteSetup | None) -> Framework:
    """Attach the site's live power state to the power plugins (InputError without one)."""
    attach_site_power(fw.plugins.all(), None if site is None else site.power)
    if site is not None:  # carbon plugins optimise the grid the accounting charges
        attach_site_grid(fw.plugins.all(), site.site.grid.carbon_g_per_j, site.forecast)
    return fw
