"""Builders for the carbon plugin tests: a square-wave grid, tiny worlds with hand-made jobs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.energy.grid import J_PER_KWH, GridSeries
from gputwin.run.results import SimulationResult
from gputwin.run.simulate import simulate_world
from gputwin.run.world import World, build_world
from gputwin.scenario import Scenario
from gputwin.scheduling import plugins as _plugins  # noqa: F401
from gputwin.scheduling.plugins import carbon_grid
from gputwin.sim.rng import RandomStreams
from gputwin.workload.job import JobSpec

HOUR = 3600.0
HIGH, LOW = 500.0, 100.0  # g/kWh


def square_wave(high_first: bool = True) -> GridSeries:
    """Every day: HIGH for hours 0-11, LOW for hours 12-23 (or the reverse)."""
    day = np.array([HIGH] * 12 + [LOW] * 12) if high_first else np.array([LOW] * 12 + [HIGH] * 12)
    return GridSeries(np.tile(day, 365) / J_PER_KWH, name="square", unit="g/J")


def constant(g_per_kwh: float) -> GridSeries:
    return GridSeries(np.full(8760, g_per_kwh / J_PER_KWH), name=f"c{g_per_kwh}", unit="g/J")


@pytest.fixture
def grids(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, GridSeries]]:
    """Replace every region's series: GB = square wave, CA-ON = constant LOW, SG = HIGH."""
    table = {"GB": square_wave(), "CA-ON": constant(LOW), "SG": constant(HIGH)}

    def fake(region: str, grid_data: str | None, start: str) -> GridSeries:
        return table[region]

    monkeypatch.setattr(carbon_grid, "carbon_series", fake)
    yield table


def job(job_id: str, t_h: float, dur_h: float, *, gpus: int = 8, slack_h: float | None = None,
        **kw: Any) -> JobSpec:
    return JobSpec(job_id=job_id, kind="batch", tenant="t", model="m", num_gpus=gpus,
                   submit_time_s=t_h * HOUR, fixed_duration_s=dur_h * HOUR,
                   deferrable_slack_s=None if slack_h is None else slack_h * HOUR, **kw)


def scenario(profile: str, args: dict[str, dict[str, Any]] | None = None, *,
             num_nodes: int = 4, plugins: dict[str, Any] | None = None) -> Scenario:
    return Scenario.model_validate({
        "name": "carbon-test", "seed": 1,
        "cluster": {"system": "dgx-h100", "num_nodes": num_nodes},
        "workload": {"synthetic": {"num_jobs": 1, "arrival": {"mean_interarrival": "1h"},
                                   "templates": [{"model": "llama3-8b", "num_gpus": 8,
                                                  "global_batch_size": 8, "tokens": 1e6}]}},
        "scheduler": {"profile": profile, "args": args or {}, "plugins": plugins},
    })


def world_with(sc: Scenario, jobs: Sequence[JobSpec]) -> World:
    world = build_world(sc, default_catalog(), RandomStreams(sc.seed))
    return dataclasses.replace(world, jobs=sorted(jobs, key=lambda j: j.submit_time_s))


def run(sc: Scenario, jobs: Sequence[JobSpec]) -> tuple[World, SimulationResult]:
    world = world_with(sc, jobs)
    return world, simulate_world(world, name=sc.name, seed=sc.seed, horizon_s=None)


def plugin(world: World, name: str) -> Any:
    return next(p for p in world.scheduler.plugins.all()  # type: ignore[attr-defined]
                if p.name == name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path
