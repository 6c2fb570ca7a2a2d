"""Energy, carbon, water and cost of a simulation run (the ``site:`` section).

The simulator calls :meth:`EnergyRecorder.start` when a job segment starts (it returns the
plan, stretched when the site-budget plugin power-capped the job), :meth:`EnergyRecorder.stop`
when it ends (completion, preemption, migration) and :meth:`EnergyRecorder.finish` at the
end of the run. Recording is O(1) per event; all integration happens once, vectorised, in
``finish``:

- a segment holds ``g`` GPU slots (fractional shares count by share) from ``t0`` to ``t1``;
  during start-up (``t0 → ts``: storage load, container start) its slots draw idle power,
  while training (``ts → t1``) they draw the job's modelled power: ``energy_j / train_s``
  of the training model (GPUs at the job's activity + host share), or for trace jobs the
  power curve at ``site.trace_compute_frac``; capped jobs draw the capped GPU power;
- every slot not held by a job draws idle power (accelerator idle + host idle share) for
  the whole window ``[0, end]``, recorded as the *idle* account;
- each interval is integrated against the site's hourly series: facility energy
  ``P·∫PUE``, operational CO2e ``P·∫PUE·CI`` (location-based, direct; LCA alongside),
  water ``P·∫WUE`` (+ grid water), energy cost ``P·∫PUE·price``; embodied CO2e and compute
  cost per slot-second (held slots to the job, free slots to idle). Since every slot-second
  is charged, embodied carbon is spread over the lifetime's wall clock
  (:data:`gputwin.run.energy_setup.CLUSTER_EMBODIED_BASIS`), not its allocated 85 %.

Totals = Σ jobs + idle by construction; the hourly timeline (IT/facility power, carbon
intensity, emission rate, cumulative CO2e and cost) is integrated independently from the
same step function, so the two agree only if the bookkeeping is right (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from gputwin.cluster.ledger import Placement
from gputwin.energy.accounting import embodied_basis_note
from gputwin.energy.grid import J_PER_KWH, GridSeries
from gputwin.perf.power import default_power_coefficients, training_activity_frac
from gputwin.run.energy_setup import CLUSTER_EMBODIED_BASIS, SiteSetup, activity_from_slot_power
from gputwin.run.power_supply import supply_summary
from gputwin.scheduling.plugins.power import SitePower
from gputwin.training.runtime import RunPlan
from gputwin.workload.job import JobSpec

FloatArray = npt.NDArray[np.float64]
HOUR_S = 3600.0

#: Summary keys (all ``None`` in runs without a ``site:`` section).
SUMMARY_KEYS = ("energy_it_j", "energy_facility_j", "co2e_operational_g", "co2e_embodied_g",
                "water_l", "cost_energy_usd", "cost_compute_usd", "cost_usd")


def empty_summary() -> dict[str, Any]:
    """The energy keys of a run without a site (every value ``None``)."""
    return {k: None for k in SUMMARY_KEYS} | {"site": None}


def cumulative(series: GridSeries, t: FloatArray) -> FloatArray:
    """Vectorised integral of ``series`` from simulation time 0 to each ``t`` (value·s)."""
    n = series.values.size
    step = series.step_s
    prefix = np.concatenate(([0.0], np.cumsum(series.values) * step))
    period = n * step
    u = np.asarray(t, dtype=np.float64) + series.offset_s
    periods = np.floor(u / period)
    rem = u - periods * period
    i = np.minimum((rem // step).astype(np.int64), n - 1)
    out = periods * prefix[-1] + prefix[i] + series.values[i] * (rem - i * step)
    u0 = series.offset_s
    p0 = np.floor(u0 / period)
    r0 = u0 - p0 * period
    i0 = min(int(r0 // step), n - 1)
    base = p0 * prefix[-1] + prefix[i0] + series.values[i0] * (r0 - i0 * step)
    return np.asarray(out - base, dtype=np.float64)


@dataclass(slots=True)
class _Open:
    t0: float
    ts: float
    gpus: float
    p_start_w: float
    p_train_w: float
    p_train_base_w: float  # before any speed change (power_frac applies to this)


@dataclass(slots=True)
class EnergyResult:
    """Per-job accounts, totals (summary keys and extras) and the hourly timeline."""

    jobs: dict[str, dict[str, float]]
    idle: dict[str, float]
    totals: dict[str, Any]
    timeline: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"totals": self.totals, "idle": self.idle, "timeline": self.timeline}


class EnergyRecorder:
    """Collects job segments during a run; see the module docstring."""

    __slots__ = ("_idle_gpu_w", "_open", "_seg", "_trace_slot_w", "_wait", "num_capped",
                 "setup", "total_gpus")

    def __init__(self, setup: SiteSetup, total_gpus: int) -> None:
        self.setup = setup
        self.total_gpus = total_gpus
        self._open: dict[str, _Open] = {}
        # job_id, t0, ts, t1, gpus, p_start, p_train
        self._seg: list[tuple[str, float, float, float, float, float, float]] = []
        self._idle_gpu_w = setup.power.idle_gpu_w
        self._wait = default_power_coefficients().wait_activity_frac
        self.num_capped = 0  # segments started under a power cap
        self._trace_slot_w = setup.power.gpu_power_w(
            training_activity_frac(setup.config.trace_compute_frac, self._wait))

    # -- hooks called by the simulator ------------------------------------------------------
    def start(self, job: JobSpec, placement: Placement, plan: RunPlan, now_s: float) -> RunPlan:
        """A segment starts now; returns ``plan`` (stretched if the job was power-capped)."""
        power = self.setup.power
        gpus = placement.gpu_milli / 1000.0
        train_s = plan.duration_s - plan.startup_s
        cap = power.caps.get(job.job_id)
        modelled = plan.energy_j is not None and train_s > 0 and job.num_gpus > 0
        slot_w = plan.energy_j / train_s / job.num_gpus if modelled else 0.0  # type: ignore[operator]
        if cap is None and not modelled:
            slot_w = self._trace_slot_w
        elif cap is not None:
            a = (activity_from_slot_power(power, slot_w) if modelled else
                 training_activity_frac(self.setup.config.trace_compute_frac, self._wait))
            slot_w = power.gpu_power_w(a, cap)
        if cap is not None:
            self.num_capped += 1
        if cap is not None and cap.throughput_frac < 1.0:
            new_train = train_s / cap.throughput_frac
            plan = replace(
                plan, duration_s=plan.startup_s + new_train,
                step_time_s=None if plan.step_time_s is None
                else plan.step_time_s / cap.throughput_frac,
                energy_j=None if plan.energy_j is None else slot_w * job.num_gpus * new_train)
        self._open[job.job_id] = _Open(now_s, now_s + plan.startup_s, gpus,
                                       gpus * self._idle_gpu_w, gpus * slot_w, gpus * slot_w)
        return plan

    def speed_change(self, job_id: str, now_s: float, power_frac: float) -> None:
        """From ``now_s`` the job's training power is ``power_frac`` of what it drew at its
        start (e.g. a carbon-aware power cap); splits the open segment. No-op if none."""
        seg = self._open.get(job_id)
        if seg is None:
            return
        self.stop(job_id, now_s)
        self._open[job_id] = _Open(now_s, max(seg.ts, now_s), seg.gpus, seg.p_start_w,
                                   seg.p_train_base_w * power_frac, seg.p_train_base_w)

    def stop(self, job_id: str, now_s: float) -> None:
        """The job's current segment ends now (no-op if none is open)."""
        seg = self._open.pop(job_id, None)
        if seg is None:
            return
        ts = min(seg.ts, now_s)
        self._seg.append((job_id, seg.t0, ts, now_s, seg.gpus, seg.p_start_w, seg.p_train_w))

    @property
    def segments(self) -> list[tuple[str, float, float, float, float, float, float]]:
        """Closed segments: (job id, t0, training start, t1, GPU slots, start-up W, train W)."""
        return list(self._seg)

    # -- the end of the run -------------------------------------------------------------------
    def finish(self, end_s: float, job_ids: list[str]) -> EnergyResult:
        """Close open segments at ``end_s`` and integrate everything over ``[0, end_s]``."""
        for job_id in list(self._open):
            self.stop(job_id, max(end_s, self._open[job_id].t0))
        return _integrate(self.setup, self.total_gpus, self._seg, end_s, job_ids,
                          self.num_capped)


def _integrate(setup: SiteSetup, total_gpus: int,
               segs: list[tuple[str, float, float, float, float, float, float]],
               end_s: float, job_ids: list[str], num_capped: int = 0) -> EnergyResult:
    site = setup.site
    series = {"pue": site.pue, "carbon": site.pue_carbon, "carbon_lca": site.pue_carbon_lca,
              "price": site.pue_price, "wue": site.wue}
    index = {j: i for i, j in enumerate(job_ids)}
    for s in segs:
        if s[0] not in index:
            index[s[0]] = len(index)
    ids = np.array([index[s[0]] for s in segs], dtype=np.int64)
    t0, ts, t1, g, ps, pt = (np.array([s[k] for s in segs], dtype=np.float64)
                             for k in range(1, 7))
    a0, a1, free = _free_intervals(total_gpus, t0, t1, g, end_s)
    p_idle = free * setup.power.idle_gpu_w + setup.power.fabric_w  # fabric: nobody's job

    i_start, i_train, i_idle = _series_integrals(series, t0, ts, t1, a0, a1)
    grid_water = site.grid.water_l_per_j if site.include_grid_water else 0.0
    rates = setup.rates
    emb = setup.embodied_g_per_gpu_s
    comp = rates.compute_usd_per_gpu_s if rates is not None else 0.0

    def quantities(p0: FloatArray, i0: dict[str, FloatArray], p1: FloatArray | None,
                   i1: dict[str, FloatArray] | None, dt0: FloatArray, dt1: FloatArray | None,
                   slot_s: FloatArray) -> dict[str, FloatArray]:
        def both(key: str) -> FloatArray:
            out = p0 * i0[key]
            return out + p1 * i1[key] if p1 is not None and i1 is not None else out
        it = p0 * dt0 + (p1 * dt1 if p1 is not None and dt1 is not None else 0.0)
        fac = both("pue")
        return {"energy_it_j": it, "energy_facility_j": fac,
                "co2e_operational_g": both("carbon"),
                "co2e_operational_lca_g": both("carbon_lca"),
                "co2e_embodied_g": slot_s * emb,
                "water_l": both("wue") + fac * grid_water,
                "cost_energy_usd": both("price"), "cost_compute_usd": slot_s * comp,
                "gpu_seconds": slot_s}

    per_seg = quantities(ps, i_start, pt, i_train, ts - t0, t1 - ts, g * (t1 - t0))
    idle_q = quantities(p_idle, i_idle, None, None, a1 - a0, None, free * (a1 - a0))
    n = len(index)
    per_job = {k: np.bincount(ids, weights=v, minlength=n) for k, v in per_seg.items()}
    idle = {k: float(v.sum()) for k, v in idle_q.items()}
    energy_in_price = rates.energy_in_price if rates is not None else False
    totals: dict[str, Any] = {}
    for k, v in per_job.items():
        totals[k] = float(v.sum()) + idle[k]
    totals["cost_usd"] = totals["cost_compute_usd"] + (
        0.0 if energy_in_price else totals["cost_energy_usd"])
    jobs = _job_rows(per_job, index, energy_in_price)
    timeline = _timeline(setup, total_gpus, t0, ts, t1, g, ps, pt, end_s, energy_in_price)
    summary = {k: totals[k] for k in SUMMARY_KEYS}
    busy_gpu_h = float(per_job["gpu_seconds"].sum()) / 3600.0
    summary["site"] = _site_extras(setup, totals, idle, busy_gpu_h, timeline, end_s,
                                   num_capped)
    summary["site"]["supply"] = _supply(setup, timeline, end_s, totals, energy_in_price)
    return EnergyResult(jobs, idle, summary, timeline)


def _series_integrals(series: dict[str, GridSeries], t0: FloatArray, ts: FloatArray,
                      t1: FloatArray, a0: FloatArray, a1: FloatArray
                      ) -> tuple[dict[str, FloatArray], ...]:
    """∫ of each series over the start-up ``[t0, ts)``, training ``[ts, t1)`` and idle
    ``[a0, a1)`` intervals (one cumulative lookup for all of them)."""
    n_seg, n_idle = t0.size, a0.size
    cuts = [n_seg, 2 * n_seg, 3 * n_seg, 3 * n_seg + n_idle]
    parts = {k: np.split(cumulative(v, np.concatenate((t0, ts, t1, a0, a1))), cuts)
             for k, v in series.items()}
    return ({k: p[1] - p[0] for k, p in parts.items()},
            {k: p[2] - p[1] for k, p in parts.items()},
            {k: p[4] - p[3] for k, p in parts.items()})


def _job_rows(per_job: dict[str, npt.NDArray[Any]], index: dict[str, int],
              energy_in_price: bool) -> dict[str, dict[str, float]]:
    """Each job's carbon, cost, water and energy (its column of ``per_job``)."""
    cols = {
        "co2e_g": (per_job["co2e_operational_g"] + per_job["co2e_embodied_g"]).tolist(),
        "cost_usd": (per_job["cost_compute_usd"] + (
            0.0 if energy_in_price else per_job["cost_energy_usd"])).tolist(),
        "water_l": per_job["water_l"].tolist(),
        "energy_it_j": per_job["energy_it_j"].tolist(),
        "energy_facility_j": per_job["energy_facility_j"].tolist()}
    names = tuple(cols)
    rows = list(zip(*cols.values(), strict=True))
    return {job_id: dict(zip(names, rows[i], strict=True)) for job_id, i in index.items()}


def _free_intervals(total_gpus: int, t0: FloatArray, t1: FloatArray, g: FloatArray,
                    end_s: float) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``[a0, a1)`` intervals partitioning ``[0, end_s]`` and the free slots in each (the
    step function of the slots the segments ``[t0, t1)`` of ``g`` slots hold)."""
    times = np.concatenate(([0.0], t0, t1, [end_s]))
    delta = np.concatenate(([0.0], g, -g, [0.0]))
    order = np.argsort(times, kind="stable")
    times, delta = times[order], delta[order]
    free = np.maximum(0.0, total_gpus - np.cumsum(delta)[:-1])
    a0, a1 = times[:-1], times[1:]
    keep = a1 > a0
    return a0[keep], a1[keep], free[keep]


def _timeline(setup: SiteSetup, total_gpus: int, t0: FloatArray, ts: FloatArray,
              t1: FloatArray, g: FloatArray, ps: FloatArray, pt: FloatArray, end_s: float,
              energy_in_price: bool) -> dict[str, list[float]]:
    """Hourly bins over ``[0, end_s]``: mean IT/facility power, carbon intensity, emission
    rate, cumulative CO2e (operational + embodied) and cumulative cost."""
    site = setup.site
    if end_s <= 0:
        return {}
    times, level = _steps(setup.power, total_gpus, t0, ts, t1, g, ps, pt, end_s)
    # cumulative IT energy at each breakpoint (power `level[k]` holds on [times[k], times[k+1]))
    energy = np.concatenate(([0.0], np.cumsum(level[:-1] * np.diff(times))))
    edges = np.append(np.arange(0.0, end_s, HOUR_S), end_s)
    e_it = np.diff(np.interp(edges, times, energy))
    width = np.diff(edges)
    lo = edges[:-1]

    def mean(s: GridSeries) -> FloatArray:
        return np.diff(cumulative(s, edges)) / np.maximum(width, 1e-12)

    pue = mean(site.pue)
    e_fac = e_it * pue
    co2 = e_it * mean(site.pue_carbon)
    cost_e = e_it * mean(site.pue_price)
    emb = setup.embodied_g_per_gpu_s * total_gpus * width
    comp = (setup.rates.compute_usd_per_gpu_s if setup.rates is not None else 0.0) \
        * total_gpus * width
    cost = comp + (0.0 if energy_in_price else cost_e)
    ci = mean(site.grid.carbon_g_per_j) * J_PER_KWH
    return {
        "time_s": lo.tolist(),
        "it_power_w": (e_it / width).tolist(),
        "facility_power_w": (e_fac / width).tolist(),
        "pue": pue.tolist(),
        "carbon_intensity_g_per_kwh": ci.tolist(),
        "emission_rate_g_per_h": (co2 / width * HOUR_S).tolist(),
        "co2e_cumulative_g": np.cumsum(co2 + emb).tolist(),
        "cost_cumulative_usd": np.cumsum(cost).tolist(),
        "cost_energy_cumulative_usd": np.cumsum(cost_e).tolist(),
    }


def _steps(power: SitePower, total_gpus: int, t0: FloatArray, ts: FloatArray, t1: FloatArray,
           g: FloatArray, ps: FloatArray, pt: FloatArray,
           end_s: float) -> tuple[FloatArray, FloatArray]:
    """IT power of the site as a step function: ``level[k]`` W on ``[times[k], times[k+1])``
    (last time = ``end_s``); idle slots and the fabric from 0."""
    idle_w = power.idle_gpu_w
    times = np.concatenate(([0.0], t0, ts, t1))
    delta = np.concatenate(([total_gpus * idle_w + power.fabric_w], ps - g * idle_w, pt - ps,
                            g * idle_w - pt))
    order = np.argsort(times, kind="stable")
    times, level = times[order], np.cumsum(delta[order])
    if times[-1] < end_s:
        times, level = np.append(times, end_s), np.append(level, level[-1])
    return times, level


def it_power_steps(recorder: EnergyRecorder, end_s: float) -> tuple[FloatArray, FloatArray]:
    """The recorded (closed) segments as the site's IT power step function (W)."""
    segs = recorder.segments
    t0, ts, t1, g, ps, pt = (np.array([s[k] for s in segs], dtype=np.float64)
                             for k in range(1, 7))
    return _steps(recorder.setup.power, recorder.total_gpus, t0, ts, t1, g, ps, pt, end_s)


def _supply(setup: SiteSetup, timeline: dict[str, list[float]], end_s: float,
            totals: dict[str, Any], energy_in_price: bool) -> dict[str, Any] | None:
    """The power-supply account of the run's hourly facility energy (``site.power_supply``)."""
    if setup.config.power_supply is None or end_s <= 0:
        return None
    edges = np.append(np.arange(0.0, end_s, HOUR_S), end_s)
    fac_j = np.asarray(timeline["facility_power_w"]) * np.diff(edges)
    compute = totals["cost_compute_usd"] if setup.rates is not None else None
    return supply_summary(setup.config, setup.site.grid, fac_j, compute_usd=compute,
                          energy_in_price=energy_in_price)


def _site_extras(setup: SiteSetup, totals: dict[str, float], idle: dict[str, float],
                 busy_gpu_h: float, timeline: dict[str, list[float]],
                 end_s: float, num_capped: int) -> dict[str, Any]:
    cfg = setup.config
    it, fac = totals["energy_it_j"], totals["energy_facility_j"]
    fac_p = timeline.get("facility_power_w") or [0.0]
    it_p = timeline.get("it_power_w") or [0.0]
    return {
        "region": cfg.region, "cooling": setup.racks.cooling,
        "grid_origin": setup.site.grid.origin, "start": cfg.start,
        "cost_basis": setup.cost_basis,
        "embodied_basis": embodied_basis_note(CLUSTER_EMBODIED_BASIS),
        "include_grid_water": cfg.include_grid_water,  # water_l adds the grid's upstream water
        "nodes_per_rack": setup.racks.nodes_per_rack,
        "rack_power_limit_w": setup.racks.power_limit_w,
        "rack_nameplate_w": setup.racks.full_rack_nameplate_w,
        "power_budget_w": cfg.effective_power_budget_w,
        "pue": fac / it if it > 0 else None,
        "co2e_operational_lca_g": totals["co2e_operational_lca_g"],
        "co2e_g": totals["co2e_operational_g"] + totals["co2e_embodied_g"],
        "energy_idle_it_j": idle["energy_it_j"],
        "idle_energy_frac": idle["energy_it_j"] / it if it > 0 else None,
        "carbon_intensity_mean_g_per_kwh": (totals["co2e_operational_g"] / fac * J_PER_KWH
                                            if fac > 0 else None),
        "it_power_mean_w": it / end_s if end_s > 0 else None,
        "it_power_peak_w": max(it_p), "facility_power_peak_w": max(fac_p),
        "gpu_hours_busy": busy_gpu_h,
        "cost_usd_per_gpu_hour": totals["cost_usd"] / busy_gpu_h if busy_gpu_h > 0 else None,
        "num_power_capped_starts": num_capped,
    }
