"""Facility constraints at placement: rack power limits and a site power budget.

:class:`SitePower` is the live power state of a site, shared by the plugins below, by
carbon-aware plugins and by the simulator (which reads :attr:`SitePower.caps` to slow
capped jobs). It is built by the composition root (``run/energy_setup.py``) from the
scenario's ``site:`` section and attached to every :class:`SitePowerPlugin` of the profile.

Power of a GPU slot, including its share ``host / gpus_per_node`` of the node's host:

- idle: ``idle_w + host(0) / gpn``; every node draws idle power all the time;
- busy, ``nameplate`` basis: ``node_nameplate / gpn`` (TDP + full host share), what racks
  and breakers are provisioned against;
- busy, ``modelled`` basis: the job's modelled training power (``perf.power`` at the job's
  activity), or the capped power when the budget plugin capped it.

Plugins:

- ``filter/rack-power``: a node is masked out when its rack cannot take the GPUs it could
  contribute (single-node jobs: ``need``; gangs: the running sum of ``min(need, free)``
  over the rack's nodes in index order);
- ``reserve/rack-power``: exact check of the whole gang against every rack it touches
  (so a rack never exceeds its limit);
- ``reserve/site-budget``: facility power ``IT × PUE`` after the start must stay under the
  budget, with PUE at its design point (the highest hour of the year, so the budget holds
  at every hour while jobs run); otherwise the job waits (``policy: queue``) or, with
  ``policy: cap``, its GPUs are capped (``perf.power.apply_power_cap``; the simulator
  stretches its compute time) if a cap at or above the driver minimum makes it fit. A job
  that cannot fit even on an otherwise idle site is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from gputwin.catalog.schema import Accelerator, System
from gputwin.cluster.ledger import Placement
from gputwin.errors import InputError
from gputwin.perf.power import (
    PowerCoefficients,
    accelerator_power_w,
    apply_power_cap,
    default_power_coefficients,
    host_power_w,
    node_nameplate_power_w,
)
from gputwin.scheduling.api import (
    CycleState,
    FilterPlugin,
    Plugin,
    PluginArgs,
    QueuedJob,
    ReservePlugin,
    RunningJob,
)
from gputwin.scheduling.status import SUCCESS, Status
from gputwin.workload.job import JobSpec

Basis = Literal["nameplate", "modelled"]


@dataclass(frozen=True, slots=True)
class CapDecision:
    """A per-GPU power cap given to a job at start, and the throughput it leaves (<= 1)."""

    cap_w: float
    throughput_frac: float
    clock_frac: float


@dataclass(slots=True)
class SitePower:
    """Live power state of one site (see the module docstring). Units: W, seconds."""

    acc: Accelerator
    system: System
    gpus_per_node: int
    num_nodes: int
    nodes_per_rack: int
    rack_limit_w: float
    activity_of: Callable[[JobSpec], float]  # accelerator activity of a job (0..1)
    pue_at: Callable[[float], float]  # PUE at simulation time t
    pue_min: float = 1.0
    pue_max: float = 1.0  # design PUE: the budget holds at every hour against it
    budget_w: float | None = None
    #: constant draw of the cluster fabric counted at the site (a torus' optics and OCSes)
    fabric_w: float = 0.0
    coeff: PowerCoefficients = field(default_factory=default_power_coefficients)
    caps: dict[str, CapDecision] = field(default_factory=dict)
    # -- live state (updated on start/stop) ------------------------------------------------
    rack_of: np.ndarray = field(init=False)
    num_racks: int = field(init=False)
    rack_busy_w: dict[Basis, np.ndarray] = field(init=False)
    busy_modelled_w: float = field(init=False, default=0.0)  # sum over running jobs
    _placed: dict[str, tuple[Placement, float, float]] = field(init=False,
                                                               default_factory=dict)
    _rack_idle: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.nodes_per_rack < 1:
            raise InputError(f"nodes per rack must be >= 1, got {self.nodes_per_rack}")
        self.rack_of = np.arange(self.num_nodes) // self.nodes_per_rack
        self.num_racks = int(self.rack_of[-1]) + 1 if self.num_nodes else 0
        self.rack_busy_w = {"nameplate": np.zeros(self.num_racks),
                            "modelled": np.zeros(self.num_racks)}
        self._rack_idle = self.rack_idle_w()

    # -- per-GPU powers -------------------------------------------------------------------
    @property
    def idle_gpu_w(self) -> float:
        """An idle GPU slot: accelerator idle power plus its share of an idle host."""
        return self.acc.idle_w + host_power_w(self.system, 0.0, self.coeff) / self.gpus_per_node

    @property
    def nameplate_gpu_w(self) -> float:
        return node_nameplate_power_w(self.acc, self.system) / self.gpus_per_node

    def gpu_power_w(self, activity_frac: float, cap: CapDecision | None = None) -> float:
        """A busy GPU slot at ``activity_frac`` (host share included), capped if given."""
        gpu = accelerator_power_w(self.acc, activity_frac)
        if cap is not None:
            gpu = min(gpu, cap.cap_w)
        host = host_power_w(self.system, activity_frac, self.coeff) / self.gpus_per_node
        return gpu + host

    def job_gpu_w(self, job: JobSpec, basis: Basis = "modelled") -> float:
        """Power of one of ``job``'s GPU slots while it trains."""
        if basis == "nameplate":
            return self.nameplate_gpu_w
        return self.gpu_power_w(self.activity_of(job), self.caps.get(job.job_id))

    @property
    def idle_site_it_w(self) -> float:
        return self.num_nodes * self.gpus_per_node * self.idle_gpu_w + self.fabric_w

    def rack_idle_w(self) -> np.ndarray:
        counts = np.bincount(self.rack_of, minlength=self.num_racks)
        out: np.ndarray = counts * (self.gpus_per_node * self.idle_gpu_w)
        return out

    def rack_power_w(self, basis: Basis = "nameplate") -> np.ndarray:
        """Power of every rack now (idle + busy increments) on ``basis``."""
        out: np.ndarray = self._rack_idle + self.rack_busy_w[basis]
        return out

    def it_power_w(self) -> float:
        """Modelled IT power of the site now."""
        return self.idle_site_it_w + self.busy_modelled_w

    def within_rack_cumsum(self, values: np.ndarray) -> np.ndarray:
        """Running sum of per-node ``values`` within each rack (racks are node blocks)."""
        total = np.cumsum(values, dtype=np.float64)
        first = np.arange(self.num_racks) * self.nodes_per_rack
        before = np.concatenate(([0.0], total))[first]
        out: np.ndarray = total - before[self.rack_of]
        return out

    # -- live updates -----------------------------------------------------------------------
    def started(self, job: JobSpec, placement: Placement) -> None:
        """Book ``job`` on ``placement`` (idempotent per job and placement)."""
        old = self._placed.get(job.job_id)
        if old is not None and old[0] == placement:
            return
        if old is not None:
            self.stopped(job.job_id, keep_cap=True)
        idle = self.idle_gpu_w
        inc_np = self.nameplate_gpu_w - idle
        inc_mod = self.job_gpu_w(job) - idle
        gpus = _slot_gpus(placement)
        racks = self.rack_of[list(gpus)]
        counts = np.fromiter(gpus.values(), dtype=np.float64, count=len(gpus))
        np.add.at(self.rack_busy_w["nameplate"], racks, counts * inc_np)
        np.add.at(self.rack_busy_w["modelled"], racks, counts * inc_mod)
        self.busy_modelled_w += counts.sum() * inc_mod
        self._placed[job.job_id] = (placement, inc_np, inc_mod)

    def stopped(self, job_id: str, *, keep_cap: bool = False) -> None:
        """Release ``job_id``'s booking (no-op if not booked)."""
        old = self._placed.pop(job_id, None)
        if not keep_cap:
            self.caps.pop(job_id, None)
        if old is None:
            return
        placement, inc_np, inc_mod = old
        gpus = _slot_gpus(placement)
        racks = self.rack_of[list(gpus)]
        counts = np.fromiter(gpus.values(), dtype=np.float64, count=len(gpus))
        np.add.at(self.rack_busy_w["nameplate"], racks, -counts * inc_np)
        np.add.at(self.rack_busy_w["modelled"], racks, -counts * inc_mod)
        self.busy_modelled_w -= counts.sum() * inc_mod
        if not self._placed:  # re-zero drift
            for arr in self.rack_busy_w.values():
                arr[:] = 0.0
            self.busy_modelled_w = 0.0

    def sync_migrations(self, state: CycleState) -> None:
        """Re-book jobs moved by a migration earlier in this cycle."""
        for p in state.result.preemptions:
            if p.migrate_to is not None and p.job.job_id in self._placed:
                self.started(p.job, p.migrate_to)


def _slot_gpus(placement: Placement) -> dict[int, float]:
    """GPUs held per node, fractional shares counted by their share."""
    out: dict[int, float] = dict(zip(placement.nodes, map(float, placement.gpus), strict=True))
    for s in placement.shares:
        out[s.node] = out.get(s.node, 0.0) + s.milli / 1000.0
    return out


class SitePowerPlugin(Plugin):
    """Base of plugins that need the site's :class:`SitePower` (attached after build)."""

    needs_site: ClassVar[bool] = True
    site: SitePower | None = None

    def power(self) -> SitePower:
        if self.site is None:
            raise InputError(f"scheduler plugin {self.name!r} needs a `site:` section in the "
                             "scenario", where="scheduler.plugins")
        return self.site

    def on_start(self, job: RunningJob, now_s: float) -> None:
        self.power().started(job.spec, job.placement)

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        self.power().stopped(job.job_id)


class RackPowerArgs(PluginArgs):
    basis: Basis = "nameplate"


class RackPowerFilter(SitePowerPlugin, FilterPlugin):
    """Masks nodes whose rack cannot take ``min(need, free)`` more busy GPUs."""

    name = "filter/rack-power"
    Args = RackPowerArgs

    def filter(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray | None:
        site = self.power()
        site.sync_migrations(state)
        basis: Basis = getattr(self.args, "basis", "nameplate")
        inc = site.job_gpu_w(job.spec, basis) - site.idle_gpu_w
        if inc <= 0:
            return None
        room = np.floor((site.rack_limit_w - site.rack_power_w(basis) + 1e-6) / inc)
        need = max(1, job.spec.num_gpus)
        take = np.minimum(free, need).astype(np.float64)
        if need <= site.gpus_per_node:  # one node: that node's rack must take it all
            mask: np.ndarray = take <= room[site.rack_of]
            return mask
        # a gang over several nodes: within each rack keep nodes (in index order) while
        # the GPUs they could contribute fit the rack's room
        return site.within_rack_cumsum(take) <= room[site.rack_of]  # type: ignore[no-any-return]


class RackPowerReserve(SitePowerPlugin, ReservePlugin):
    """Exact check of a gang against the limit of every rack it touches."""

    name = "reserve/rack-power"
    Args = RackPowerArgs

    def reserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        site = self.power()
        site.sync_migrations(state)
        basis: Basis = getattr(self.args, "basis", "nameplate")
        inc = site.job_gpu_w(job.spec, basis) - site.idle_gpu_w
        per_rack = np.zeros(site.num_racks)
        for node, gpus in _slot_gpus(placement).items():
            per_rack[site.rack_of[node]] += gpus * inc
        after = site.rack_power_w(basis) + per_rack
        over = np.flatnonzero((per_rack > 0) & (after > site.rack_limit_w + 1e-6))
        if over.size:
            r = int(over[0])
            return Status.unschedulable(
                f"rack {r} would draw {after[r] / 1e3:.1f} kW ({basis}), above its "
                f"{site.rack_limit_w / 1e3:.1f} kW limit", self.name)
        return SUCCESS


class SiteBudgetArgs(PluginArgs):
    policy: Literal["queue", "cap"] = "queue"


class SiteBudgetReserve(SitePowerPlugin, ReservePlugin):
    """Keeps facility power (modelled IT × design PUE) under the site budget."""

    name = "reserve/site-budget"
    Args = SiteBudgetArgs

    def reserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        site = self.power()
        site.sync_migrations(state)
        if site.budget_w is None:
            return SUCCESS
        spec = job.spec
        n = sum(_slot_gpus(placement).values())
        a = site.activity_of(spec)
        idle = site.idle_gpu_w
        inc = site.gpu_power_w(a) - idle
        pue = site.pue_max
        allowed_it = site.budget_w / pue
        now_it = site.it_power_w()
        if now_it + n * inc <= allowed_it + 1e-6:
            site.caps.pop(spec.job_id, None)
            return SUCCESS
        policy = getattr(self.args, "policy", "queue")
        min_cap = site.coeff.min_cap_frac * site.acc.tdp_w
        floor_inc = (site.gpu_power_w(a, CapDecision(min_cap, 1.0, 1.0)) - idle
                     if policy == "cap" else inc)
        if site.idle_site_it_w + n * floor_inc > allowed_it + 1e-6:
            return Status.reject(
                f"needs {(site.idle_site_it_w + n * floor_inc) * pue / 1e6:.3f} MW "
                f"even on an otherwise idle site, above the {site.budget_w / 1e6:.3f} MW "
                "site power budget", self.name)
        if policy == "cap":
            host = site.gpu_power_w(a, CapDecision(0.0, 1.0, 1.0))  # host share only
            cap_w = (allowed_it - now_it) / n + idle - host
            if cap_w >= min_cap:
                u = _compute_frac(a, site.coeff.wait_activity_frac)
                point = apply_power_cap(site.acc, a, cap_w, compute_bound_frac=u,
                                        coeff=site.coeff)
                site.caps[spec.job_id] = CapDecision(cap_w, point.throughput_frac,
                                                     point.clock_frac)
                return SUCCESS
        return Status.unschedulable(
            f"waiting: site power budget (starting would draw "
            f"{(now_it + n * inc) * pue / 1e6:.3f} MW > {site.budget_w / 1e6:.3f} MW)",
            self.name)

    def unreserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> None:
        self.power().caps.pop(job.job_id, None)


def _compute_frac(activity: float, wait: float) -> float:
    """Invert ``a = u + w(1 - u)``: the compute share ``u`` of a training activity."""
    if wait >= 1.0:
        return 1.0
    return min(1.0, max(0.0, (activity - wait) / (1.0 - wait)))


def attach_site_power(plugins: list[Plugin], site: SitePower | None) -> int:
    """Give ``site`` to every :class:`SitePowerPlugin` in ``plugins``; returns how many.
    Raises :class:`InputError` if such a plugin is present and ``site`` is ``None``."""
    n = 0
    for plugin in plugins:
        if isinstance(plugin, SitePowerPlugin):
            if site is None:
                plugin.power()  # raises with the plugin's name
            plugin.site = site
            n += 1
    return n
