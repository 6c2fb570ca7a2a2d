"""The fault plan of a serving run: ``serving.failures`` resolved against the catalog.

Shared by one-site runs (:mod:`gputwin.run.simulate_serve`) and runs across sites
(:mod:`gputwin.run.simulate_sites`, where each service at a site is one fleet service and
site outages take all of a site's services down).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gputwin.catalog.loader import Catalog
from gputwin.reliability.faults import FaultModel, rates_used, restart_defaults
from gputwin.run.serving_build import provision_delay_s
from gputwin.run.serving_energy import ServiceEnergy
from gputwin.scenario.serving_failures import ServingFailuresConfig
from gputwin.serving.fault_plan import FaultPlan, SiteOutage
from gputwin.serving.fleet import FleetOutcome
from gputwin.serving.replica_faults import ReplicaFaults
from gputwin.sim.rng import RandomStreams


@dataclass(frozen=True, slots=True)
class FaultTarget:
    """One fleet service that can fail: its name, hardware and performance, and the
    storage tier its autoscaler loads weights from (``None`` without)."""

    name: str
    energy: ServiceEnergy
    autoscaler_storage: str | None
    site: str | None = None  # the site it runs at (runs across sites)


def fault_plan(cfg: ServingFailuresConfig | None, seed: int, targets: Sequence[FaultTarget],
               catalog: Catalog) -> FaultPlan | None:
    """The replica faults and site outages of ``cfg`` (None without), drawn from the run's
    named stream ``serving/faults``. A service's restart time, unless given, is
    reschedule + its weights read from the storage tier + the engine's start."""
    if cfg is None:
        return None
    defaults = restart_defaults()
    per_node: dict[str, int] = {}
    restart: dict[str, float] = {}
    for t in targets:
        per_node[t.name] = t.energy.hw.system.num_accelerators
        if cfg.restart is not None:
            restart[t.name] = cfg.restart
            continue
        tier = catalog.storage_tier(cfg.storage or t.autoscaler_storage
                                    or defaults.checkpoint_storage)
        perf = t.energy.perf
        restart[t.name] = defaults.reschedule_s + provision_delay_s(
            perf, perf.config.hw.gpus_per_node, tier, defaults.serving_start_s)
    detect = defaults.site_detect_s if cfg.site_detect is None else cfg.site_detect
    outages = tuple(
        SiteOutage(o.site, tuple(t.name for t in targets if t.site == o.site), o.at,
                   o.at + o.duration, detect)
        for o in cfg.site_outages)
    return FaultPlan(tuple(cfg.fault_models()), per_node, restart, cfg.max_retries,
                     RandomStreams(seed).stream("serving/faults"), outages)


def failures_report(faults: ReplicaFaults, service: str | None, replica_time_s: float
                    ) -> dict[str, Any]:
    """``faults.report`` plus ``fault_rates``: the rates that failed replicas (unplanned,
    non-straggler models, as ``serving/fault_plan``), scaled, with their sources."""
    out = faults.report(service, replica_time_s)
    out["fault_rates"] = rates_used([m for m in faults.plan.models
                                     if isinstance(m, FaultModel)
                                     and not m.planned and not m.is_straggler])
    return out


def replica_s(out: FleetOutcome, service: str) -> float:
    """Replica-seconds ``service`` held: from each replica's request to its end."""
    return sum((out.end_s if life.end_s is None else life.end_s) - life.start_s
               for life in out.lives if life.service == service)
