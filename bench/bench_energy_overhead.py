"""Overhead of energy accounting (and the facility plugins) on simulation wall time.

Run: ``python bench/bench_energy_overhead.py [--repeats=N]`` (default 5). For each scenario
it times ``simulate(load_scenario(...))`` (wiring included: the site setup builds the
grid, facility and rates) without a ``site:`` section and with one, and reports the median
of ``N`` runs and the overhead. Scenarios: the bundled ``default`` (400 modelled jobs on
256 H100) and ``philly-sample`` (1,435 trace jobs on 96 A100; needs the data set) — each
plain site (accounting only), plus with a 4-per-rack air layout (rack plugins active) and
with a site power budget (cap policy). Target: accounting adds < 20 %.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time

from gputwin.errors import InputError
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

SITE = "site={region: US-CAL-CISO, cooling: air, start: 2023-06-01T00:00}"
VARIANTS: dict[str, list[str]] = {
    "no site": ["site=null"],
    "site (accounting)": [SITE],
    "site + 4/rack (rack plugins)": [SITE, "site.racks.nodes_per_rack=4"],
}
BUDGET = {"default": "220kW", "philly-sample": "90kW"}


def _one(name: str, overrides: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s of this process, simulated days) of one load + simulate."""
    w, c = time.perf_counter(), time.process_time()
    result = simulate(load_scenario(name, overrides))
    return time.perf_counter() - w, time.process_time() - c, result.end_time_s / 86400.0


def main(argv: list[str]) -> None:
    repeats = 5
    for arg in argv:
        if arg.startswith("--repeats="):
            repeats = int(arg.split("=", 1)[1])
    print(f"python {platform.python_version()} on {platform.machine()}; median of {repeats} "
          "interleaved runs (variants alternate, so load drift hits all alike)")
    for name in ("default", "philly-sample"):
        variants = dict(VARIANTS)
        variants["site + budget (cap)"] = [SITE, f"site.power_budget={BUDGET[name]}",
                                           "site.budget_policy=cap"]
        try:
            for overrides in variants.values():  # warm caches (catalog, trace, grid)
                _one(name, overrides)
        except InputError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        runs: dict[str, list[tuple[float, float, float]]] = {k: [] for k in variants}
        for _ in range(repeats):
            for label, overrides in variants.items():
                runs[label].append(_one(name, overrides))
        base_w = statistics.median(r[0] for r in runs["no site"])
        base_c = statistics.median(r[1] for r in runs["no site"])
        for label, rs in runs.items():
            wall = statistics.median(r[0] for r in rs)
            cpu = statistics.median(r[1] for r in rs)
            print(f"{name:14s} {label:30s} wall {wall:6.3f} s ({100 * (wall / base_w - 1):+6.1f} %)"
                  f"  cpu {cpu:6.3f} s ({100 * (cpu / base_c - 1):+6.1f} %)"
                  f"  {rs[0][2]:.1f} sim days")


if __name__ == "__main__":
    main(sys.argv[1:])
