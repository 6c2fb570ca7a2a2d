"""Facade for ``gputwin estimate energy`` and the validation suite: energy, carbon, water and
cost of one training run.

Run time: the training model (``estimate_train``) for ``tokens`` with a given or a searched
parallelism, or reported ``gpu_hours``. IT power: the power curve at the modelled compute
share (``energy.power``), optionally under a per-GPU ``power_cap_w``. Then the ledger
(``energy.accounting``) integrates hour by hour over the region's grid (bundled synthetic
profile, or the real 2023 CSVs with ``grid_data``) and the facility's PUE/WUE.

Embodied carbon: the run's GPU-seconds at the *allocated* rate of the one embodied-carbon
rule (:func:`gputwin.energy.accounting.embodied_g_per_gpu_s`, :data:`ESTIMATE_EMBODIED_BASIS`):
an estimate counts only the run's own seconds, so the unallocated share of the GPUs' life
is spread over them (``embodied_basis`` in the output says so).

Overrides for reproducing published accounts: ``gpu_power_w`` (measured average power per
accelerator *including* its host share, as Patterson et al. report it), ``pue``,
``carbon_intensity_g_per_kwh`` (a flat intensity). Every option error raises
:class:`InputError` naming the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
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
from gputwin.perf.split import cli_flag
from gputwin.perf.training import TrainingEstimate
from gputwin.plan.train import DEFAULT_TOKENS_PER_STEP
from gputwin.requests import EnergyRequest, TrainLayout, TrainRequest
from gputwin.run.estimate_train import estimate_train
from gputwin.run.plan_train import planned_estimate
from gputwin.topology.hardware import HardwareSpec, resolve_hardware

#: a one-run estimate charges only the run's GPU-seconds (module docstring)
ESTIMATE_EMBODIED_BASIS: EmbodiedBasis = "allocated"


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


def _train(request: EnergyRequest, catalog: Catalog) -> tuple[TrainingEstimate, dict[str, Any]]:
    """The run's training estimate and its layout; the planner's layout when none is given,
    at ~4M tokens per step when no batch is given."""
    assert request.model is not None
    batch: dict[str, Any] = {"global_batch_size": request.global_batch_size}
    if request.global_batch_size is None:
        batch["global_batch_tokens"] = request.global_batch_tokens or DEFAULT_TOKENS_PER_STEP
    planned = request.layout is None
    train = TrainRequest(
        model=request.model, num_gpus=request.num_gpus, gpu=request.gpu,
        system=request.system, tokens=request.tokens, seq_len=request.seq_len,
        layout=request.layout or TrainLayout(dtype=request.dtype),
        model_overrides=request.model_overrides, **batch)
    if planned:
        est, train = planned_estimate(train, catalog=catalog)
    else:
        est = estimate_train(train, catalog=catalog)
    layout = {**train.layout.model_dump(), "dp": est.dp,
              "global_batch_size": int(est.extra["num_microbatches"])
              * train.layout.micro_batch_size * est.dp,
              "seq_len": train.seq_len, "source": "planned" if planned else "given"}
    return est, layout


def _grid(region: str, grid_data: str | Path | None,
          carbon_intensity_g_per_kwh: float | None) -> RegionGrid:
    default_tables().region(region, where="--region")  # an unknown name, at its flag
    grid = region_grid(region, Path(grid_data) if grid_data is not None else None)
    if carbon_intensity_g_per_kwh is None:
        return grid
    if carbon_intensity_g_per_kwh < 0:
        raise InputError("--carbon-intensity must be non-negative")
    flat = constant_series(carbon_intensity_g_per_kwh / J_PER_KWH, name=f"{region}/flat",
                           num_steps=grid.carbon_g_per_j.values.size)
    return RegionGrid(region, flat, flat, grid.price_usd_per_j, grid.water_l_per_j,
                      f"flat {carbon_intensity_g_per_kwh:g} g/kWh (given); price: {grid.origin}")


def _check(request: EnergyRequest) -> None:
    if (request.tokens is None) == (request.gpu_hours is None):
        raise InputError("give exactly one of --tokens (modelled run time) and --gpu-hours")
    if request.tokens is not None and request.model is None:
        raise InputError("--tokens needs --model (the training model gives the run time)")
    if request.model is None and request.compute_frac is None:
        raise InputError("give --model (or compute_frac) to know how busy the GPUs are")


def _rates(ledger: EnergyLedger, accel: str, tdp_w: float, request: EnergyRequest,
           info: dict[str, Any], cooling: str) -> AllocationRates | None:
    """The price book's rates for the accelerator (None when it has no entry)."""
    try:
        rates = allocation_rates(accel, tdp_w, provider=request.provider,
                                 pricing=request.pricing, cooling=cooling,
                                 embodied_basis=ESTIMATE_EMBODIED_BASIS)
    except InputError as exc:
        if "price book" not in str(exc):
            raise
        info["cost_basis"] = f"compute cost not estimated: {exc.detail}"
        return None
    ledger.set_rates(accel, rates)
    info["cost_basis"] = rates.cost_basis
    return rates


def _values(request: EnergyRequest, hw: HardwareSpec, power: JobPower, run: Account,
            site: Site, grid: RegionGrid, duration: float, compute_frac: float,
            rates: AllocationRates | None) -> dict[str, float]:
    """The run's figures (SI units; keys name their unit)."""
    acc, node = hw.accelerator, hw.system
    num_gpus = request.num_gpus
    gpu_w = request.gpu_power_w
    values: dict[str, float] = {
        "duration_s": duration,
        "gpu_hours": num_gpus * duration / 3600.0,
        "num_nodes": float(-(-num_gpus // hw.gpus_per_node)),
        "compute_frac": compute_frac,
        "gpu_power_w": power.gpu_power_w,
        "it_power_w": power.it_power_w,
        "throughput_frac": power.throughput_frac,
        "it_energy_j": run.it_energy_j,
        "facility_energy_j": run.facility_energy_j,
        "gpu_energy_j": power.gpus_w * duration,
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
        "node_power_w": (node.num_accelerators * gpu_w if gpu_w is not None
                         else node_power_w(acc, node, training_activity_frac(
                             compute_frac, default_power_coefficients().wait_activity_frac))),
        "node_nameplate_power_w": node_nameplate_power_w(acc, node),
    }
    if rates is not None:
        values["cost_compute_usd"] = run.compute_cost_usd
        values["cost_total_usd"] = run.compute_cost_usd + (
            0.0 if rates.energy_in_price else run.energy_cost_usd)
        if request.tokens is not None:
            values["cost_usd_per_million_tokens"] = (values["cost_total_usd"]
                                                     / request.tokens * 1e6)
    return values


def _job_power(request: EnergyRequest, hw: HardwareSpec, compute_frac: float) -> JobPower:
    """The job's IT power (and throughput under ``--power-cap``); a cap below the driver's
    minimum is an error at ``--power-cap``."""
    try:
        return training_job_power(hw.accelerator, hw.system, num_gpus=request.num_gpus,
                                  num_nodes=-(-request.num_gpus // hw.gpus_per_node),
                                  compute_frac=compute_frac, cap_w=request.power_cap_w)
    except InputError as exc:
        raise InputError(exc.detail, where=exc.where or "--power-cap") from None


def estimate_energy(request: EnergyRequest, *, catalog: Catalog | None = None) -> EnergyEstimate:
    """Energy, carbon, water and cost of a training run (see the module docstring).

    Raises :class:`InputError` naming the field for bad input."""
    _check(request)
    cat = catalog or default_catalog()
    hw = resolve_hardware(cat, gpu=request.gpu, system=request.system, where=cli_flag)
    acc, node = hw.accelerator, hw.system
    info: dict[str, Any] = {"region": request.region, "gpu": acc.name, "system": node.name}
    est: TrainingEstimate | None = None
    compute_frac = request.compute_frac
    # the training model gives the run time (--tokens) and, unless given, how busy the GPUs are
    if request.model is not None and (compute_frac is None or request.tokens is not None):
        est, layout = _train(request, cat)
        if compute_frac is None:
            b = est.breakdown
            compute_frac = (b["compute_s"] + b["optimizer_s"]) / est.step_time_s
        info["parallel"] = {"tp": layout["tp"], "pp": layout["pp"], "dp": est.dp}
        info["layout"] = layout
        info["training"] = {"step_time_s": est.step_time_s, "mfu": est.mfu, "dp": est.dp,
                            "tokens_per_s": est.tokens_per_s}
    assert compute_frac is not None
    num_gpus = request.num_gpus
    power = _job_power(request, hw, compute_frac)
    if request.gpu_hours is not None:
        duration = request.gpu_hours * 3600.0 / num_gpus
    else:
        assert est is not None and est.time_to_train_s is not None
        duration = est.time_to_train_s / power.throughput_frac
    if request.gpu_power_w is not None:
        power = JobPower(request.gpu_power_w, num_gpus * request.gpu_power_w, 0.0,
                         power.throughput_frac)
    cooling = request.cooling or ("liquid" if node.cooling == "liquid" else "air")
    offset = _parse_start(request.start)
    grid = _grid(request.region, request.grid_data,
                 request.carbon_intensity_g_per_kwh).with_offset(offset)
    facility = Facility.build(cooling, request.region,
                              pue_override=request.pue).with_offset(offset)
    site = Site(request.region, grid, facility, include_grid_water=request.include_grid_water)
    ledger = EnergyLedger({request.region: site})
    rates = _rates(ledger, acc.name, acc.tdp_w, request, info, cooling)
    run = ledger.record("run", request.region, 0.0, duration, power.it_power_w,
                        num_gpus=num_gpus if rates is not None else 0, accelerator=acc.name)
    if rates is None:  # embodied carbon does not need a price
        run.co2e_embodied_g = (embodied_g_per_gpu_s(acc.name, acc.tdp_w, ESTIMATE_EMBODIED_BASIS)
                               * num_gpus * duration)
    values = _values(request, hw, power, run, site, grid, duration, compute_frac, rates)
    nodes_per_rack = default_tables().facility.nodes_per_rack.get(node.name, 4)
    check = rack_can_host(acc, node, nodes_per_rack, cooling)
    values["rack_nameplate_power_w"] = rack_power_w(acc, node, nodes_per_rack)
    info.update({"cooling": cooling, "grid_origin": grid.origin, "start": request.start,
                 "embodied_basis": embodied_basis_note(ESTIMATE_EMBODIED_BASIS),
                 "rack": {"nodes": nodes_per_rack, "ok": check.ok, "reason": check.reason,
                          "max_nodes": max_nodes_per_rack(acc, node, cooling)}})
    return EnergyEstimate(values, info)
