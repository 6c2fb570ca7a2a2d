"""Energy, carbon, water and cost of a serving run: the cluster runs' path, per replica.

Every replica life is accounted through the same pieces a cluster run uses:

- **power model** (:mod:`gputwin.perf.power` via :func:`gputwin.energy.power.job_power`):
  while it loads its weights (``start → ready``) a replica's GPUs and host share draw idle
  power; while it serves (``ready → end``) they draw the power curve at the mean activity
  ``a_busy · busy / serving time``, where ``a_busy`` is the inference activity of its busy
  time (:meth:`gputwin.perf.serving.ServingPerf.busy_activity_frac`: the share of the
  busy time the tensor cores need for the tokens it computed, the share its steps waited
  on host overheads, the rest HBM-bound);
- **site** (the scenario's ``site:`` section: region grid, cooling → PUE/WUE, start date);
- **energy ledger** (:class:`gputwin.energy.accounting.EnergyLedger`): facility energy,
  operational and embodied CO2e, water, energy cost, integrated over the site's hourly
  series; one account per service;
- **price book** (``energy/data/price_book.yaml`` via
  :func:`gputwin.energy.accounting.allocation_rates`, ``site.provider``/``site.pricing``):
  compute cost per GPU-second held. Cost = compute cost, plus the energy cost when the
  GPUs are owned (a rental price already pays for the energy), as in cluster runs. Owned
  GPUs: the one owned-cost rule (:func:`gputwin.energy.tco.owned_rate`), the TCO less power
  per wall-clock hour a replica holds them, on a serving fleet's Ethernet fabric -- the
  rate ``plan serve`` and ``estimate tco`` charge, with the energy from the ledger.

A GPU without a price book entry has no compute cost: its cost fields are ``None`` and
``site.cost_basis`` says why. GPUs the cluster has but no replica holds are not counted.
So embodied carbon is charged per GPU-second a replica holds (loading, busy or waiting
for requests) at the *allocated* rate of the one embodied-carbon rule
(:func:`gputwin.energy.accounting.embodied_g_per_gpu_s`, :data:`SERVING_EMBODIED_BASIS`):
the share of a GPU's life no replica holds is charged nowhere, so it is spread over the
held seconds (``site.embodied_basis`` says so).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gputwin.energy.accounting import (
    Account,
    AllocationRates,
    EmbodiedBasis,
    EnergyLedger,
    Site,
    allocation_rates,
    embodied_basis_note,
    embodied_g_per_gpu_s,
)
from gputwin.energy.facility import Facility
from gputwin.energy.power import job_power
from gputwin.energy.regions import region_grid
from gputwin.energy.tco import SERVING_NETWORK
from gputwin.errors import InputError
from gputwin.perf.serving import ServingPerf
from gputwin.run.power_supply import supply_summary
from gputwin.run.serving_results import ReplicaRecord, RequestTable
from gputwin.scenario.site import SiteConfig
from gputwin.topology.hardware import HardwareSpec

#: a serving run charges only the GPU-seconds replicas hold (module docstring)
SERVING_EMBODIED_BASIS: EmbodiedBasis = "allocated"


@dataclass(frozen=True, slots=True)
class ServiceEnergy:
    """What the accounting needs of one service: its hardware and its step model."""

    name: str
    hw: HardwareSpec
    perf: ServingPerf
    prefill_perf: ServingPerf | None = None  # a disaggregated prefill pool's own layout

    def perf_for(self, role: str) -> ServingPerf:
        """The step model of the pool a replica of ``role`` belongs to."""
        if role == "prefill" and self.prefill_perf is not None:
            return self.prefill_perf
        return self.perf


@dataclass(frozen=True, slots=True)
class ExtraLoad:
    """GPUs held by a non-LLM service (image/video generation) from ``start_s`` to
    ``end_s`` at a mean accelerator activity: accounted like a replica life."""

    name: str
    hw: HardwareSpec
    gpus: int
    start_s: float
    end_s: float
    activity_frac: float


@dataclass(slots=True)
class ServingEnergy:
    """Per-service accounts and what they were computed with."""

    services: dict[str, Account]
    total: Account
    #: accelerator-board energy per service (GPUs only, no host share, no PUE): what a
    #: GPU power meter (NVML, as energy benchmarks use) reads
    gpu_energy_j: dict[str, float]
    priced: dict[str, bool]  # service → its accelerator has a price book entry
    energy_in_price: bool
    site: dict[str, Any]


@functools.lru_cache(maxsize=16)
def _site(config: SiteConfig, cooling: str) -> Site:
    """The site's grid and facility series (immutable; cached for repeated runs in one
    process, e.g. a sweep, since synthesising a year of hourly series costs ~10 ms)."""
    offset = config.start_offset_s
    data = None
    if config.grid_data != "synthetic":
        # imported here: run.energy_setup pulls in the scheduler plugins (~0.1 s), which a
        # serving run with the bundled synthetic grid does not need
        from gputwin.run.energy_setup import resolve_grid_dir

        data = resolve_grid_dir(config.grid_data)
    grid = region_grid(config.region, data).with_offset(offset)
    facility = Facility.build(cooling, config.region, pue_override=config.pue)
    return Site(f"{config.region}/{cooling}", grid, facility.with_offset(offset),
                include_grid_water=config.include_grid_water)


def _rates(config: SiteConfig, hw: HardwareSpec) -> tuple[AllocationRates, bool]:
    acc = hw.accelerator
    try:
        return allocation_rates(acc.name, acc.tdp_w, provider=config.provider,
                                pricing=config.pricing, network=SERVING_NETWORK,
                                cooling=config.cooling_for(hw.system),
                                embodied_basis=SERVING_EMBODIED_BASIS), True
    except InputError as exc:
        if "price book" not in str(exc):
            raise
        why = exc.detail
    # embodied carbon is still counted (owned hardware has no capex entry either)
    return AllocationRates(embodied_g_per_gpu_s(acc.name, acc.tdp_w, SERVING_EMBODIED_BASIS),
                           0.0, f"{why}: compute cost not counted", False,
                           embodied_basis=SERVING_EMBODIED_BASIS), False


def tokens_computed(table: RequestTable, num_replicas: int) -> np.ndarray:
    """Tokens each replica ran through the model: prompt tokens it prefilled (minus prefix
    hits; on the prefill replica when disaggregated) plus output tokens it generated."""
    prompt = (table.prompt_tokens - table.cached_tokens).astype(np.float64)
    where = np.where(table.prefill_replica >= 0, table.prefill_replica, table.replica)
    n = max(num_replicas, 1)
    ok = where >= 0
    out = np.bincount(where[ok], weights=prompt[ok], minlength=n)
    ok = table.replica >= 0
    out += np.bincount(table.replica[ok], weights=table.output_tokens[ok].astype(np.float64),
                       minlength=n)
    return out


def finished_tokens(table: RequestTable, service: str | None = None) -> tuple[int, int]:
    """Output and input tokens of every finished request of ``service`` (``None``: of
    the run), warm-up requests included: what a run's energy, carbon, water and cost are
    divided by, since they cover the whole run, warm-up included (dividing by the
    measured requests' tokens alone would charge them the warm-up's energy and cost)."""
    fin = table.status == 0
    if service is not None:
        fin &= np.fromiter((s == service for s in table.service), bool, len(table))
    return int(table.output_tokens[fin].sum()), int(table.prompt_tokens[fin].sum())


def account_serving(config: SiteConfig, services: Sequence[ServiceEnergy],
                    replicas: Sequence[ReplicaRecord], table: RequestTable,
                    extra: Sequence[ExtraLoad] = ()) -> ServingEnergy:
    """Account every replica life of the run (see the module docstring), and the
    ``extra`` loads (generation replicas) under their service names."""
    ledger = EnergyLedger()
    by_name = {s.name: s for s in services}
    site_of: dict[str, str] = {}
    priced: dict[str, bool] = {}
    bases: list[str] = []
    in_price = True  # rentals include the energy; owned hardware pays it on top
    for s in services:
        cooling = config.cooling_for(s.hw.system)
        site = _site(config, cooling)
        if site.name not in site_of.values():
            ledger.add_site(site)
        site_of[s.name] = site.name
        rates, priced[s.name] = _rates(config, s.hw)
        in_price = in_price and (rates.energy_in_price or not priced[s.name])
        ledger.set_rates(s.hw.accelerator.name, rates)
        bases.append(rates.cost_basis)
    tokens = tokens_computed(table, 1 + max((r.replica_id for r in replicas), default=0))
    gpu_j = dict.fromkeys(by_name, 0.0)
    for rr in replicas:
        svc = by_name[rr.service]
        gpu_j[rr.service] += _record(ledger, svc, site_of[rr.service], rr,
                                     float(tokens[rr.replica_id]))
    for e in extra:
        basis, gpu_j[e.name] = _record_extra(config, ledger, site_of, priced, e)
        bases.append(basis)
        in_price = in_price and (priced[e.name] is False or config.provider != "owned")
    jobs = ledger.jobs()
    accounts = {s.name: jobs.get(s.name, Account()) for s in services}
    accounts.update({e.name: jobs.get(e.name, Account()) for e in extra})
    info: dict[str, Any] = {"region": config.region, "cooling": sorted(
                {config.cooling_for(h.system) for h in [s.hw for s in services]
                 + [e.hw for e in extra]}),
            "start": config.start, "provider": config.provider, "pricing": config.pricing,
            "cost_basis": "; ".join(dict.fromkeys(bases)),
            "embodied_basis": embodied_basis_note(SERVING_EMBODIED_BASIS),
            "pue": ledger.total.pue}
    end_s = max([r.end_s for r in replicas] + [e.end_s for e in extra], default=0.0)
    info["supply"] = _supply(config, ledger, sorted(set(site_of.values())), end_s,
                             None if not all(priced.values())
                             else ledger.total.compute_cost_usd, in_price)
    return ServingEnergy(accounts, ledger.total, gpu_j, priced, in_price, info)


def _record_extra(config: SiteConfig, ledger: EnergyLedger, site_of: dict[str, str],
                  priced: dict[str, bool], e: ExtraLoad) -> tuple[str, float]:
    """Record one generation replica's life; returns its cost basis and its GPUs' energy."""
    site = _site(config, config.cooling_for(e.hw.system))
    if site.name not in site_of.values():
        ledger.add_site(site)
    site_of[e.name] = site.name
    rates, priced[e.name] = _rates(config, e.hw)
    ledger.set_rates(e.hw.accelerator.name, rates)
    if e.end_s > e.start_s:
        nodes = -(-e.gpus // e.hw.gpus_per_node)
        p = job_power(e.hw.accelerator, e.hw.system, num_gpus=e.gpus, num_nodes=nodes,
                      activity_frac=e.activity_frac)
        ledger.record(e.name, site.name, e.start_s, e.end_s, p.it_power_w, num_gpus=e.gpus,
                      accelerator=e.hw.accelerator.name)
        return rates.cost_basis, p.gpus_w * (e.end_s - e.start_s)
    return rates.cost_basis, 0.0


def _supply(config: SiteConfig, ledger: EnergyLedger, sites: list[str], end_s: float,
            compute_usd: float | None, in_price: bool) -> dict[str, Any] | None:
    """The site's power supply against the ledger's hourly facility energy (all halls of
    the site together); ``None`` without ``site.power_supply``."""
    if config.power_supply is None or end_s <= 0 or not sites:
        return None
    fac_j = sum((ledger.hourly_facility_j(name, end_s) for name in sites),
                np.zeros(max(1, math.ceil(end_s / 3600.0))))
    grid = _site(config, config.cooling or "air").grid
    return supply_summary(config, grid, fac_j, compute_usd=compute_usd,
                          energy_in_price=in_price)


def _record(ledger: EnergyLedger, svc: ServiceEnergy, site: str, rr: ReplicaRecord,
            tokens: float) -> float:
    """Record one replica life in the ledger; returns its GPUs' (board) energy in J."""
    hw = svc.hw
    gpn = hw.gpus_per_node
    nodes = -(-rr.gpus // gpn)
    acc, system = hw.accelerator, hw.system
    ready = min(max(rr.ready_s, rr.start_s), rr.end_s)
    if ready > rr.start_s:  # loading weights: idle GPUs and host share
        idle = job_power(acc, system, num_gpus=rr.gpus, num_nodes=nodes, activity_frac=0.0)
        ledger.record(svc.name, site, rr.start_s, ready, idle.it_power_w, num_gpus=rr.gpus,
                      accelerator=acc.name)
        gpu_j = idle.gpus_w * (ready - rr.start_s)
    else:
        gpu_j = 0.0
    serving_s = rr.end_s - ready
    if serving_s <= 0:
        return gpu_j
    busy = min(rr.busy_s, serving_s)
    # one sequence per output token and step (prefill chunks left out)
    a = svc.perf_for(rr.role).busy_activity_frac(tokens, busy, rr.num_steps,
                                                 float(rr.output_tokens)) * busy / serving_s
    p = job_power(acc, system, num_gpus=rr.gpus, num_nodes=nodes, activity_frac=a)
    ledger.record(svc.name, site, ready, rr.end_s, p.it_power_w, num_gpus=rr.gpus,
                  accelerator=acc.name)
    return gpu_j + p.gpus_w * serving_s


def energy_fields(acct: Account, *, priced: bool, energy_in_price: bool,
                  output_tokens: int, input_tokens: int,
                  gpu_energy_j: float) -> dict[str, Any]:
    """The energy, carbon, water and cost keys of one service's (or the run's) summary;
    per token: over ``output_tokens`` and ``input_tokens`` (:func:`finished_tokens`: the
    run's finished requests, warm-up included), reported as ``accounted_*_tokens``."""
    cost = (acct.compute_cost_usd + (0.0 if energy_in_price else acct.energy_cost_usd)
            if priced else None)
    out_t, all_t = output_tokens, output_tokens + input_tokens
    return {
        "gpu_hours": acct.gpu_seconds / 3600.0,
        "accounted_output_tokens": output_tokens,
        "accounted_input_tokens": input_tokens,
        "energy_j": acct.it_energy_j,
        "energy_facility_j": acct.facility_energy_j,
        "energy_per_output_token_j": acct.it_energy_j / out_t if out_t else None,
        "gpu_energy_j": gpu_energy_j,
        "gpu_energy_per_output_token_j": gpu_energy_j / out_t if out_t else None,
        "co2e_operational_g": acct.co2e_operational_g,
        "co2e_embodied_g": acct.co2e_embodied_g,
        "co2e_g": acct.co2e_operational_g + acct.co2e_embodied_g,
        "co2e_per_output_token_g": ((acct.co2e_operational_g + acct.co2e_embodied_g) / out_t
                                    if out_t else None),
        "water_l": acct.water_onsite_l + acct.water_grid_l,
        "cost_energy_usd": acct.energy_cost_usd,
        "cost_compute_usd": acct.compute_cost_usd if priced else None,
        "cost_usd": cost,
        "cost_per_million_output_tokens_usd": (cost / out_t * 1e6
                                               if cost is not None and out_t else None),
        "cost_per_million_tokens_usd": (cost / all_t * 1e6
                                        if cost is not None and all_t else None),
    }
