"""The facility around the IT load: cooling, PUE and WUE vs weather, racks and site budget.

- :func:`pue` / :func:`wue` of a :class:`~gputwin.energy.tables.CoolingType` at an outside
  temperature; :class:`Facility` precomputes their hourly series for a region's climate.
- :func:`rack_can_host`: does a rack with a given cooling take ``count`` nodes of a system?
  (nameplate power of the nodes plus rack items such as NVLink switch trays, against the
  cooling type's rack limit).
- :class:`SiteBudget`: a site power cap in watts (facility side) with reservations over
  time; ``headroom_w(t)`` is what is left for new work at ``t``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from gputwin.catalog.schema import Accelerator, System
from gputwin.energy.grid import GridSeries
from gputwin.energy.regions import outside_temperature_c
from gputwin.energy.tables import CoolingType, default_tables
from gputwin.errors import InputError, check_number, in_bounds
from gputwin.perf.power import node_nameplate_power_w


def pue(cooling: CoolingType, outside_c: float) -> float:
    """Power usage effectiveness (facility / IT energy, >= 1) at an outside temperature."""
    excess = max(0.0, outside_c - cooling.free_cooling_max_c)
    return min(cooling.pue_max, cooling.pue_base + cooling.pue_slope_per_c * excess)


def wue(cooling: CoolingType, outside_c: float) -> float:
    """Water usage effectiveness on site, litres per kWh of IT energy (>= 0)."""
    excess = max(0.0, outside_c - cooling.wue_threshold_c)
    return min(cooling.wue_max_l_per_kwh,
               cooling.wue_base_l_per_kwh + cooling.wue_slope_l_per_kwh_per_c * excess)


@dataclass(frozen=True, slots=True, eq=False)
class Facility:
    """A site's cooling in a region's climate: hourly PUE and WUE (L per J of IT energy).

    ``pue_override`` fixes PUE (e.g. a reported annual figure) instead of the weather model.
    """

    cooling_name: str
    region: str
    pue_series: GridSeries
    wue_l_per_j: GridSeries

    @classmethod
    def build(cls, cooling: str, region: str, *, pue_override: float | None = None) -> Facility:
        cool = default_tables().cooling_type(cooling)
        temps = outside_temperature_c(region).values
        if pue_override is not None:
            check_number(pue_override, "--pue", 1.0)
            p = np.full(temps.size, float(pue_override))
        else:
            excess = np.maximum(0.0, temps - cool.free_cooling_max_c)
            p = np.minimum(cool.pue_max, cool.pue_base + cool.pue_slope_per_c * excess)
        wexcess = np.maximum(0.0, temps - cool.wue_threshold_c)
        w = np.minimum(cool.wue_max_l_per_kwh,
                       cool.wue_base_l_per_kwh + cool.wue_slope_l_per_kwh_per_c * wexcess)
        return cls(cooling, region, GridSeries(p, name=f"{region}/{cooling}/pue"),
                   GridSeries(w / 3.6e6, name=f"{region}/{cooling}/wue", unit="L/J"))

    def with_offset(self, offset_s: float) -> Facility:
        return Facility(self.cooling_name, self.region, self.pue_series.with_offset(offset_s),
                        self.wue_l_per_j.with_offset(offset_s))


@dataclass(frozen=True, slots=True)
class RackCheck:
    """Outcome of :func:`rack_can_host` (an expected outcome, not an exception)."""

    ok: bool
    power_w: float
    limit_w: float
    reason: str


def rack_power_w(acc: Accelerator, system: System, count: int) -> float:
    """Planning (nameplate) power of ``count`` nodes in one rack plus the rack's own items."""
    overhead = default_tables().facility.rack_overhead_w.get(system.name, 0.0)
    return count * node_nameplate_power_w(acc, system) + (overhead if count > 0 else 0.0)


def rack_can_host(acc: Accelerator, system: System, count: int, cooling: str) -> RackCheck:
    """Can one rack cooled by ``cooling`` hold ``count`` nodes of ``system``?

    Checks the nameplate power against the cooling type's rack limit, and that a system
    catalogued as liquid-cooled is not put in an air-cooled rack. Raises InputError for a
    negative count or an unknown cooling type.
    """
    if count < 0:
        raise InputError(f"node count must be non-negative, got {count}")
    cool = default_tables().cooling_type(cooling)
    power = rack_power_w(acc, system, count)
    if system.cooling == "liquid" and cooling.startswith("air") and count > 0:
        return RackCheck(False, power, cool.max_rack_power_w,
                         f"{system.name} is liquid-cooled; an {cooling} rack cannot host it")
    if power > cool.max_rack_power_w:
        return RackCheck(False, power, cool.max_rack_power_w,
                         f"{count} x {system.name} need {power / 1e3:.1f} kW, above the "
                         f"{cool.max_rack_power_w / 1e3:.0f} kW limit of an {cooling} rack")
    return RackCheck(True, power, cool.max_rack_power_w, "")


def max_nodes_per_rack(acc: Accelerator, system: System, cooling: str) -> int:
    """Most nodes of ``system`` one rack of ``cooling`` takes (0 if none)."""
    n = 0
    while rack_can_host(acc, system, n + 1, cooling).ok and n < 1024:
        n += 1
    return n


@dataclass(slots=True)
class SiteBudget:
    """A site power cap (facility power, W) and the power reserved on it over time.

    ``reserve(t0, t1, power_w)`` books power on ``[t0, t1)``; ``headroom_w(t)`` is the cap
    minus what is booked at ``t`` (may be negative if reservations were forced). Step
    function over sorted breakpoints: O(log n) lookup, O(n) insert.
    """

    cap_w: float
    _times: list[float] = field(default_factory=lambda: [0.0])
    _booked: list[float] = field(default_factory=lambda: [0.0])

    def __post_init__(self) -> None:
        if not self.cap_w > 0:
            raise InputError(f"site power cap must be positive, got {self.cap_w}")

    def _split_at(self, t: float) -> int:
        i = bisect.bisect_right(self._times, t) - 1
        if i < 0:
            self._times.insert(0, t)
            self._booked.insert(0, 0.0)
            return 0
        if self._times[i] != t:
            self._times.insert(i + 1, t)
            self._booked.insert(i + 1, self._booked[i])
            return i + 1
        return i

    def booked_w(self, t_s: float) -> float:
        i = bisect.bisect_right(self._times, t_s) - 1
        return self._booked[i] if i >= 0 else 0.0

    def headroom_w(self, t_s: float) -> float:
        """Power still free at ``t_s`` under the cap."""
        return self.cap_w - self.booked_w(t_s)

    def min_headroom_w(self, t0_s: float, t1_s: float) -> float:
        """Smallest headroom over ``[t0, t1)``."""
        lo = self.headroom_w(t0_s)
        i = bisect.bisect_right(self._times, t0_s)
        while i < len(self._times) and self._times[i] < t1_s:
            lo = min(lo, self.cap_w - self._booked[i])
            i += 1
        return lo

    def fits(self, t0_s: float, t1_s: float, power_w: float) -> bool:
        return power_w <= self.min_headroom_w(t0_s, t1_s) + 1e-9

    def reserve(self, t0_s: float, t1_s: float, power_w: float, *, force: bool = False) -> None:
        """Book ``power_w`` on ``[t0, t1)``; raises InputError if it does not fit (unless
        ``force``) or the interval/power is invalid."""
        if not (t1_s > t0_s and in_bounds(power_w, 0)):
            raise InputError(f"bad reservation [{t0_s}, {t1_s}) of {power_w} W")
        if not force and not self.fits(t0_s, t1_s, power_w):
            raise InputError(f"{power_w / 1e6:.2f} MW does not fit under the site cap "
                             f"{self.cap_w / 1e6:.2f} MW on [{t0_s:.0f} s, {t1_s:.0f} s)")
        i0 = self._split_at(t0_s)
        i1 = self._split_at(t1_s)
        for i in range(i0, i1):
            self._booked[i] += power_w

    def release(self, t0_s: float, t1_s: float, power_w: float) -> None:
        """Undo a reservation made with the same arguments."""
        i0 = self._split_at(t0_s)
        i1 = self._split_at(t1_s)
        for i in range(i0, i1):
            self._booked[i] = max(0.0, self._booked[i] - power_w)
