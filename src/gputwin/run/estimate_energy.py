"""Facade for ``gputwin estimate energy`` and the validation suite: energy, carbon, water and
cost of one training run.

Run time: the training model (``estimate_train``) for ``tokens`` with a given or a searched
parallelism, or reported ``gpu_hours``. IT power: the power curve at the modelled compute
share (``energy.power``), optionally under a per-GPU ``power_cap_w``. Then the ledger
(``energy.accounting``) integrates hour by hour over the region's grid (bundled synthetic
profile, or the real 2023 CSVs with ``grid_data``) and the facility's PUE/WUE.

Overrides for reproducing published accounts: ``gpu_power_w`` (measured average power per
accelerator *including* its host share, as Patterson et al. report it), ``pue``,
``carbon_intensity_g_per_kwh`` (a flat intensity). Every option error raises
:class:`InputError` naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.energy.accounting import (
    EnergyLedger,
    Site,
    allocation_rates,
    embodied_kg_per_gpu,
)
from gputwin.energy.facility import Facility, max_nodes_per_rack, rack_can_host, rack_power_w
from gputwin.energy.grid import J_PER_KWH, RegionGrid, constant_series
from gputwin.energy.power import JobPower, training_job_power
from gputwin.energy.regions import region_grid
from gputwin.energy.tables import default_tables
from gputwin.errors import InputError
from gputwin.perf.power import (
    default_power_coefficients,
    node_nameplate_power_w,
    node_power_w,
    training_activity_frac,
)
from gputwin.perf.training import TrainingEstimate
from gputwin.plan.train import DEFAULT_TOKENS_PER_STEP
from gputwin.requests import LAYOUT_FIELDS, TrainRequest
from gputwin.run.estimate_train import estimate_train
from gputwin.run.plan_train import planned_estimate
from gputwin.topology.hardware import resolve_hardware


@dataclass(frozen=True, slots=True)
class EnergyEstimate:
    """Energy, carbon, water and cost of one run (SI units; keys name their unit)."""

    values: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        v = self.values
        return {
            **v,
            "energy_j": {"it": v["it_energy_j"], "facility": v["facility_energy_j"],
                         "gpu": v["gpu_energy_j"]},
            "co2e_g": {"operational": v["co2e_operational_g"],
                       "operational_lca": v["co2e_operational_lca_g"],
                       "embodied": v["co2e_embodied_g"], "total": v["co2e_total_g"]},
            "water_l": {"onsite": v["water_onsite_l"], "grid": v["water_grid_l"],
                        "total": v["water_total_l"]},
            "cost_usd": {"energy": v["cost_energy_usd"],
                         "compute": v.get("cost_compute_usd"),
                         "total": v.get("cost_total_usd"),
                         "basis": self.info.get("cost_basis", "")},
            **self.info,
        }


def _parse_start(start: str) -> float:
    """Seconds from 1 January (of the given year) to ``start``; the grid is a typical year."""
    try:
        t = datetime.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start: expected a date such as 2023-06-01T00:00, got {start!r}"
                         ) from None
    return (t.replace(tzinfo=None) - datetime(t.year, 1, 1)).total_seconds()


def _train(model: str, *, gpu: str | None, system: str | None, num_gpus: int,
           catalog: Catalog, tp: int | None, pp: int | None,
           global_batch_size: int | None, tokens: float | None,
           train_kw: Mapping[str, Any]) -> tuple[TrainingEstimate, dict[str, Any]]:
    """The run's training estimate and its layout; the planner's layout when none is given
    (no tp, pp or other layout key), at ~4M tokens per step when no batch is given."""
    fields: dict[str, Any] = {"model": model, "gpu": gpu, "system": system,
                              "num_gpus": num_gpus, "tokens": tokens, **train_kw}
    given = {k: v for k, v in (("tp", tp), ("pp", pp)) if v is not None}
    planned = not given and not (LAYOUT_FIELDS - {"dtype"}) & set(train_kw)
    fields.update(given)
    if global_batch_size is not None:
        fields["global_batch_size"] = global_batch_size
    elif "global_batch_tokens" not in fields:
        fields["global_batch_tokens"] = DEFAULT_TOKENS_PER_STEP
    request = TrainRequest.from_flat({k: v for k, v in fields.items() if v is not None})
    if planned:
        est, request = planned_estimate(request, catalog=catalog)
    else:
        est = estimate_train(request, catalog=catalog)
    layout = {**request.layout.model_dump(), "dp": est.dp,
              "global_batch_size": int(est.extra["num_microbatches"])
              * request.layout.micro_batch_size * est.dp,
              "seq_len": request.seq_len, "source": "planned" if planned else "given"}
    return est, layout


def _grid(region: str, grid_data: str | Path | None,
          carbon_intensity_g_per_kwh: float | None) -> RegionGrid:
    grid = region_grid(region, Path(grid_data) if grid_data is not None else None)
    if carbon_intensity_g_per_kwh is None:
        return grid
    if carbon_intensity_g_per_kwh < 0:
        raise InputError("--carbon-intensity must be non-negative")
    flat = constant_series(carbon_intensity_g_per_kwh / J_PER_KWH, name=f"{region}/flat",
                           num_steps=grid.carbon_g_per_j.values.size)
    return RegionGrid(region, flat, flat, grid.price_usd_per_j, grid.water_l_per_j,
                      f"flat {carbon_intensity_g_per_kwh:g} g/kWh (given); price: {grid.origin}")


def estimate_energy(
    *,
    num_gpus: int,
    model: str | None = None,
    gpu: str | None = None,
    system: str | None = None,
    tokens: float | None = None,
    gpu_hours: float | None = None,
    compute_frac: float | None = None,
    tp: int | None = None,
    pp: int | None = None,
    global_batch_size: int | None = None,
    region: str = "US-CAL-CISO",
    cooling: str | None = None,
    provider: str = "neocloud",
    pricing: str = "on-demand",
    start: str = "2023-06-01T00:00",
    grid_data: str | Path | None = None,
    power_cap_w: float | None = None,
    pue: float | None = None,
    carbon_intensity_g_per_kwh: float | None = None,
    gpu_power_w: float | None = None,
    include_grid_water: bool = False,
    catalog: Catalog | None = None,
    **train_kw: Any,
) -> EnergyEstimate:
    """Energy, carbon, water and cost of a training run. See the module docstring."""
    cat = catalog or default_catalog()
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise InputError(f"--num-gpus must be a positive integer, got {num_gpus!r}")
    if (tokens is None) == (gpu_hours is None):
        raise InputError("give exactly one of --tokens (modelled run time) and --gpu-hours")
    if gpu_hours is not None and not gpu_hours > 0:
        raise InputError(f"--gpu-hours must be positive, got {gpu_hours}")
    if tokens is not None and model is None:
        raise InputError("--tokens needs --model (the training model gives the run time)")
    hw = resolve_hardware(cat, gpu=gpu, system=system)
    acc, node = hw.accelerator, hw.system
    info: dict[str, Any] = {"region": region, "gpu": acc.name, "system": node.name}

    est: TrainingEstimate | None = None
    if model is not None and compute_frac is None:
        est, layout = _train(model, gpu=gpu, system=system, num_gpus=num_gpus,
                             catalog=cat, tp=tp, pp=pp, global_batch_size=global_batch_size,
                             tokens=tokens, train_kw=train_kw)
        b = est.breakdown
        compute_frac = (b["compute_s"] + b["optimizer_s"]) / est.step_time_s
        info["parallel"] = {"tp": layout["tp"], "pp": layout["pp"], "dp": est.dp}
        info["layout"] = layout
    if compute_frac is None:
        raise InputError("give --model (or compute_frac) to know how busy the GPUs are")
    if not 0.0 <= compute_frac <= 1.0:
        raise InputError(f"compute_frac must be in [0, 1], got {compute_frac}")

    num_nodes = -(-num_gpus // hw.gpus_per_node)
    power: JobPower = training_job_power(acc, node, num_gpus=num_gpus, num_nodes=num_nodes,
                                         compute_frac=compute_frac, cap_w=power_cap_w)
    if gpu_hours is not None:
        duration = gpu_hours * 3600.0 / num_gpus
    else:
        assert est is not None and est.time_to_train_s is not None
        duration = est.time_to_train_s / power.throughput_frac
    if gpu_power_w is not None:
        if not gpu_power_w > 0:
            raise InputError(f"--gpu-power must be positive, got {gpu_power_w}")
        power = JobPower(gpu_power_w, num_gpus * gpu_power_w, 0.0, power.throughput_frac)

    cooling_name = cooling or ("liquid" if node.cooling == "liquid" else "air")
    offset = _parse_start(start)
    grid = _grid(region, grid_data, carbon_intensity_g_per_kwh).with_offset(offset)
    facility = Facility.build(cooling_name, region, pue_override=pue).with_offset(offset)
    site = Site(region, grid, facility, include_grid_water=include_grid_water)
    ledger = EnergyLedger({region: site})
    try:
        rates = allocation_rates(acc.name, acc.tdp_w, provider=provider, pricing=pricing)
        ledger.set_rates(acc.name, rates)
        info["cost_basis"] = rates.cost_basis
    except InputError as exc:
        if "price book" not in str(exc):
            raise
        rates = None
        info["cost_basis"] = f"{exc.detail}: compute cost not estimated"
    run = ledger.record("run", region, 0.0, duration, power.it_power_w,
                        num_gpus=num_gpus if rates is not None else 0, accelerator=acc.name)
    if rates is None:  # embodied carbon does not need a price
        emb = default_tables().embodied
        kg, _ = embodied_kg_per_gpu(acc.name, acc.tdp_w)
        life_s = emb.lifetime_years * 8760 * 3600.0 * emb.utilisation_frac
        run.co2e_embodied_g = kg * 1e3 / life_s * num_gpus * duration

    gpu_energy = power.gpus_w * duration
    values: dict[str, float] = {
        "duration_s": duration,
        "gpu_hours": num_gpus * duration / 3600.0,
        "num_nodes": float(num_nodes),
        "compute_frac": compute_frac,
        "gpu_power_w": power.gpu_power_w,
        "it_power_w": power.it_power_w,
        "throughput_frac": power.throughput_frac,
        "it_energy_j": run.it_energy_j,
        "facility_energy_j": run.facility_energy_j,
        "gpu_energy_j": gpu_energy,
        "pue": run.pue,
        "co2e_operational_g": run.co2e_operational_g,
        "co2e_operational_lca_g": run.co2e_operational_lca_g,
        "co2e_embodied_g": run.co2e_embodied_g,
        "co2e_total_g": run.co2e_operational_g + run.co2e_embodied_g,
        "co2e_gpu_only_g": power.gpus_w * site.pue_carbon.integral(0.0, duration),
        "water_onsite_l": run.water_onsite_l,
        "water_grid_l": run.water_grid_l,
        "water_total_l": run.water_onsite_l + run.water_grid_l,
        "wue_l_per_kwh": run.water_onsite_l / (run.it_energy_j / J_PER_KWH)
        if run.it_energy_j > 0 else 0.0,
        "cost_energy_usd": run.energy_cost_usd,
        "carbon_intensity_mean_g_per_kwh": grid.carbon_g_per_j.mean_over(0.0, duration)
        * J_PER_KWH,
        "node_power_w": (node.num_accelerators * gpu_power_w if gpu_power_w is not None
                         else node_power_w(acc, node, training_activity_frac(
                             compute_frac, default_power_coefficients().wait_activity_frac))),
        "node_nameplate_power_w": node_nameplate_power_w(acc, node),
    }
    if rates is not None:
        values["cost_compute_usd"] = run.compute_cost_usd
        values["cost_total_usd"] = run.compute_cost_usd + (
            0.0 if rates.energy_in_price else run.energy_cost_usd)
        if tokens is not None:
            values["cost_usd_per_million_tokens"] = values["cost_total_usd"] / tokens * 1e6
    nodes_per_rack = default_tables().facility.nodes_per_rack.get(node.name, 4)
    check = rack_can_host(acc, node, nodes_per_rack, cooling_name)
    values["rack_nameplate_power_w"] = rack_power_w(acc, node, nodes_per_rack)
    info.update({"cooling": cooling_name, "grid_origin": grid.origin, "start": start,
                 "rack": {"nodes": nodes_per_rack, "ok": check.ok, "reason": check.reason,
                          "max_nodes": max_nodes_per_rack(acc, node, cooling_name)}})
    if est is not None:
        info["training"] = {"step_time_s": est.step_time_s, "mfu": est.mfu, "dp": est.dp,
                            "tokens_per_s": est.tokens_per_s}
    return EnergyEstimate(values, info)
