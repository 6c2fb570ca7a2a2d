"""Wiring of the ``site:`` section: grid, facility, rates, racks, forecasts, live power.

:func:`build_site_setup` turns a scenario's :class:`~gputwin.scenario.site.SiteConfig`
into a :class:`SiteSetup`: the energy :class:`~gputwin.energy.accounting.Site` (grid series
and PUE/WUE with simulation time 0 at ``site.start``), the allocation rates (embodied
carbon, compute cost), the rack layout, a carbon forecast for carbon-aware plugins and the
live :class:`~gputwin.scheduling.plugins.power.SitePower` shared with the scheduler.
:func:`add_site_plugins` adds the rack and budget plugins to a profile when they matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.energy.accounting import (
    AllocationRates,
    EmbodiedBasis,
    Site,
    allocation_rates,
    embodied_g_per_gpu_s,
)
from gputwin.energy.facility import Facility
from gputwin.energy.grid import Forecast, NoisyForecast, PerfectForecast, PersistenceForecast
from gputwin.energy.regions import region_grid
from gputwin.errors import InputError
from gputwin.perf.power import default_power_coefficients, training_activity_frac
from gputwin.scenario.paths import data_candidates, data_dir
from gputwin.scenario.site import RackLayout, SiteConfig, rack_layout
from gputwin.scheduling.plugins.power import SitePower
from gputwin.scheduling.profiles import ResolvedProfile
from gputwin.scheduling.registry import lookup
from gputwin.topology.hardware import HardwareSpec
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec

#: a cluster run charges every slot-second (free slots to the idle account), so embodied
#: carbon is spread over the lifetime's wall clock (energy.accounting's one rule)
CLUSTER_EMBODIED_BASIS: EmbodiedBasis = "wall-clock"


@dataclass(slots=True)
class SiteSetup:
    """Everything the accounting, the power plugins and carbon-aware plugins share."""

    config: SiteConfig
    site: Site  # energy.accounting.Site: grid + facility, offset to site.start
    rates: AllocationRates | None  # None: no price book entry (compute cost not counted)
    embodied_g_per_gpu_s: float  # per slot-second, held or free (CLUSTER_EMBODIED_BASIS)
    racks: RackLayout
    power: SitePower
    forecast: Forecast  # of the direct carbon intensity (g/J), for carbon-aware plugins
    cost_basis: str
    _activity: dict[tuple[object, ...], float] = field(default_factory=dict)


def resolve_grid_dir(value: str) -> Path | None:
    """``synthetic`` → None; ``real`` → the data folder; a path (to a folder holding
    ``grid/`` or to ``grid/`` itself; relative: cwd, then the data folder)."""
    if value == "synthetic":
        return None
    if value == "real":
        base = data_dir()
    else:
        cands = data_candidates(value, Path.cwd())
        base = next((c for c in cands if c.is_dir()), cands[0])
    if base.name == "grid" and not (base / "grid").is_dir():
        base = base.parent
    if not (base / "grid").is_dir():
        raise InputError(f"no grid/ folder under {base} (expected grid/carbon-2023 and "
                         "grid/price-2023)", where="site.grid_data")
    return base


def build_site_setup(config: SiteConfig, hw: HardwareSpec, layout: ClusterLayout,
                     runtime: TrainingRuntime, seed: int = 0, *,
                     fabric_w: float = 0.0) -> SiteSetup:
    """Build the site (see the module docstring); ``fabric_w``: the cluster fabric's
    constant draw (a torus' optics). Raises :class:`InputError`."""
    acc, system = hw.accelerator, hw.system
    racks = rack_layout(config, acc, system)
    offset = config.start_offset_s
    grid = region_grid(config.region, resolve_grid_dir(config.grid_data)).with_offset(offset)
    facility = Facility.build(racks.cooling, config.region,
                              pue_override=config.pue).with_offset(offset)
    site = Site(config.region, grid, facility, include_grid_water=config.include_grid_water)
    embodied = embodied_g_per_gpu_s(acc.name, acc.tdp_w, CLUSTER_EMBODIED_BASIS)
    try:
        rates: AllocationRates | None = allocation_rates(
            acc.name, acc.tdp_w, provider=config.provider, pricing=config.pricing,
            cooling=racks.cooling, embodied_basis=CLUSTER_EMBODIED_BASIS)
        basis = rates.cost_basis if rates is not None else ""  # (mypy: Optional)
    except InputError as exc:
        if "price book" not in str(exc):
            raise
        rates, basis = None, f"{exc.detail}: compute cost not counted"
    setup_box: list[SiteSetup] = []

    def activity(job: JobSpec) -> float:
        return job_activity(setup_box[0], runtime, job, layout)

    pue_series = site.pue
    power = SitePower(
        acc=acc, system=system, gpus_per_node=layout.gpus_per_node, num_nodes=layout.num_nodes,
        nodes_per_rack=racks.nodes_per_rack, rack_limit_w=racks.power_limit_w,
        activity_of=activity, pue_at=pue_series.at, pue_min=float(pue_series.values.min()),
        pue_max=float(pue_series.values.max()),
        budget_w=config.effective_power_budget_w, fabric_w=fabric_w)
    budget = config.effective_power_budget_w
    if budget is not None and power.idle_site_it_w * power.pue_max >= budget:
        where = ("site.power_budget" if budget == config.power_budget
                 else "site.power_supply.interconnect")
        raise InputError(f"{budget / 1e6:.3f} MW does not cover the idle draw "
                         f"of the cluster ({power.idle_site_it_w * power.pue_max / 1e6:.3f} "
                         "MW at the design PUE)", where=where)
    carbon = grid.carbon_g_per_j
    forecast: Forecast
    if config.forecast == "persistence":
        forecast = PersistenceForecast(carbon)
    elif config.forecast == "noisy":
        forecast = NoisyForecast(carbon, rel_error_per_day=config.forecast_error, seed=seed)
    else:
        forecast = PerfectForecast(carbon)
    setup = SiteSetup(config, site, rates, embodied, racks, power, forecast, basis)
    setup_box.append(setup)
    return setup


def job_activity(setup: SiteSetup, runtime: TrainingRuntime, job: JobSpec,
                 layout: ClusterLayout) -> float:
    """Accelerator activity of ``job`` while it trains: from the training model's power
    on a compact placement (modelled jobs), else ``site.trace_compute_frac``. Cached."""
    w = default_power_coefficients().wait_activity_frac
    if job.training is None:
        return training_activity_frac(setup.config.trace_compute_frac, w)
    key = (job.model, job.parallel, job.training, job.num_gpus)
    a = setup._activity.get(key)
    if a is None:
        gpn = layout.gpus_per_node
        n = -(-job.num_gpus // gpn)
        per = {i: min(gpn, job.num_gpus - i * gpn) for i in range(n)}
        placement = Placement(nodes=tuple(per), gpus=tuple(per.values()),
                              num_leaves=layout.num_leaves_spanned(list(per)),
                              num_domains=layout.num_domains_spanned(list(per)))
        plan = runtime.plan(job, placement)
        train_s = plan.duration_s - plan.startup_s
        if plan.energy_j is None or train_s <= 0:
            a = training_activity_frac(setup.config.trace_compute_frac, w)
        else:
            a = activity_from_slot_power(setup.power, plan.energy_j / train_s / job.num_gpus)
        setup._activity[key] = a
    return a


def activity_from_slot_power(power: SitePower, slot_w: float) -> float:
    """Invert the (linear) slot power ``gpu(a) + host(a)/gpn`` for the activity ``a``."""
    p0 = power.gpu_power_w(0.0)
    p1 = power.gpu_power_w(1.0)
    if p1 <= p0:
        return 1.0
    return min(1.0, max(0.0, (slot_w - p0) / (p1 - p0)))


def add_site_plugins(profile: ResolvedProfile, setup: SiteSetup) -> ResolvedProfile:
    """Add ``filter``/``reserve`` ``rack-power`` when a full rack's nameplate exceeds the
    rack limit, and ``reserve/site-budget`` (policy from ``site.budget_policy``) when a
    budget is set, unless the profile lists them already."""
    lists = {k: list(v) for k, v in profile.lists.items()}
    present = {c.name for v in lists.values() for c, _, _ in v}
    wanted: list[tuple[str, str, dict[str, str]]] = []
    if not setup.racks.full_rack_fits:
        wanted += [("filter", "rack-power", {}), ("reserve", "rack-power", {})]
    if setup.config.effective_power_budget_w is not None:
        wanted.append(("reserve", "site-budget", {"policy": setup.config.budget_policy}))
    for point, short, args in wanted:
        cls = lookup(point, short)
        if cls.name not in present:
            lists[point].append((cls, cls.Args.model_validate(args), 1.0))
    return replace(profile, lists=lists)
