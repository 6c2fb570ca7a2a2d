"""Carbon-aware spatial shifting: run each job in the region with the lowest expected
emissions, paying the data transfer first.

The cluster's nodes are split into consecutive *node groups*, one per region (``regions:
[{name: GB, nodes: 4}, {name: CA-ON, nodes: 4}]``, in node order; the counts must add up
to the cluster's nodes). At a job's first cycle ``pre-filter/carbon-spatial`` estimates,
for every region with enough GPUs, the forecast emissions of its run time starting after
the data transfer (``data_bytes / wan_bandwidth``, zero in the job's data region: its
``region``, else the first group) and picks the lowest (ties: the data region). A job
moved elsewhere waits for its transfer and is charged ``data_bytes × egress_usd_per_gb``.
``filter/carbon-region`` then keeps the job on the chosen group's nodes.

Default egress price: $0.02/GB, AWS data transfer between regions (EC2 on-demand pricing
page, "Data Transfer", US regions; as listed 2023-2026); internet egress is ~$0.09/GB.
Default WAN bandwidth: 10 Gbit/s per transfer (an assumption; set ``wan_bandwidth``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from gputwin.energy.grid import Forecast, GridSeries
from gputwin.errors import InputError
from gputwin.scheduling.api import (
    CycleState,
    FilterPlugin,
    PluginArgs,
    PluginContext,
    PreFilterPlugin,
    QueuedJob,
)
from gputwin.scheduling.hooks import WakesUp
from gputwin.scheduling.plugins.carbon_grid import (
    EPS_S,
    GridArgs,
    Wakeups,
    check_region,
    forecast_costs,
    make_forecast,
    series_for,
)
from gputwin.scheduling.status import SUCCESS, Status
from gputwin.units import parse_bandwidth

MASK_KEY = "carbon_region_mask"
DEFAULT_WAN_BYTES_PER_S = 10e9 / 8  # 10 Gbit/s
DEFAULT_EGRESS_USD_PER_GB = 0.02  # AWS inter-region data transfer (see module docstring)


class RegionGroup(PluginArgs):
    name: str
    nodes: int = Field(gt=0)

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        return check_region(value)


class SpatialArgs(GridArgs):
    regions: list[RegionGroup] | None = Field(
        default=None, min_length=1, description="node groups in node order (None: all "
        "nodes in `region`)")
    wan_bandwidth: float = Field(default=DEFAULT_WAN_BYTES_PER_S, gt=0,
                                 description="bytes/s (or '10Gbps')")
    egress_usd_per_gb: float = Field(default=DEFAULT_EGRESS_USD_PER_GB, ge=0)
    only_deferrable: bool = Field(default=False, description="move deferrable jobs only")

    @field_validator("wan_bandwidth", mode="before")
    @classmethod
    def _bandwidth(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_bandwidth(value)
            except InputError as exc:
                raise ValueError(exc.detail) from None
        return value


def node_regions(groups: list[RegionGroup], num_nodes: int) -> list[str]:
    """Region of each node; raises InputError when the groups do not cover the nodes."""
    total = sum(g.nodes for g in groups)
    if total != num_nodes:
        raise InputError(f"the region node groups add up to {total} nodes, the cluster has "
                         f"{num_nodes}", where="scheduler.args.carbon-spatial.regions")
    out: list[str] = []
    for g in groups:
        out += [g.name] * g.nodes
    return out


class CarbonSpatial(PreFilterPlugin, WakesUp):
    """Choose the lowest-emission region per job (see module docstring)."""

    name = "pre-filter/carbon-spatial"
    Args = SpatialArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, SpatialArgs)
        self.a = args
        groups = args.regions or [RegionGroup(name=args.region, nodes=ctx.layout.num_nodes)]
        self.node_region = node_regions(groups, ctx.layout.num_nodes)
        names = list(dict.fromkeys(self.node_region))
        self.home = names[0]
        gpus = np.full(ctx.layout.num_nodes, ctx.layout.gpus_per_node)
        regions = np.asarray(self.node_region)
        self.masks = {r: regions == r for r in names}
        self.capacity = {r: int(gpus[self.masks[r]].sum()) for r in names}
        self.series: dict[str, GridSeries] = {r: series_for(args, r) for r in names}
        self.forecasts: dict[str, Forecast] = {r: make_forecast(args, s)
                                               for r, s in self.series.items()}
        self.choice: dict[str, tuple[str, float]] = {}  # job id -> (region, data ready at)
        self.wakeups = Wakeups()
        self.moved_bytes = 0.0
        self.egress_usd = 0.0
        self.moves = 0

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        spec = job.spec
        if self.a.only_deferrable and spec.deferrable_slack_s is None:
            job.data[MASK_KEY] = self.masks[self._data_region(spec.region)]
            return SUCCESS
        now = state.now_s
        pick = self.choice.get(spec.job_id)
        if pick is None:
            pick = self.choice[spec.job_id] = self._choose(job, now)
        region, ready = pick
        job.data[MASK_KEY] = self.masks[region]
        if now < ready - EPS_S:
            self.wakeups.add(ready)
            return Status.unschedulable(
                f"carbon: moving {spec.data_bytes / 1e9:.0f} GB to {region} "
                f"(ready in {ready - now:.0f} s)", self.name)
        return SUCCESS

    def _data_region(self, region: str | None) -> str:
        return region if region in self.masks else self.home

    def _choose(self, job: QueuedJob, now_s: float) -> tuple[str, float]:
        spec = job.spec
        data_region = spec.region or self.home
        runtime = max(job.est_runtime_s, 1.0)
        best: tuple[float, int, str, float] | None = None
        for order, (region, series) in enumerate(self.series.items()):
            if self.capacity[region] < spec.num_gpus:
                continue
            transfer = 0.0 if region == data_region else spec.data_bytes / self.a.wan_bandwidth
            start = now_s + transfer
            _, costs = forecast_costs(self.forecasts[region], series, now_s, start, runtime)
            key = (float(costs[-1]), 0 if region == data_region else 1 + order, region, start)
            if best is None or key[:2] < best[:2]:
                best = key
        if best is None:  # no region is big enough: let the framework reject it
            return self._data_region(spec.region), now_s
        _, _, region, ready = best
        if region != data_region:
            self.moves += 1
            self.moved_bytes += spec.data_bytes
            self.egress_usd += spec.data_bytes / 1e9 * self.a.egress_usd_per_gb
        return region, ready

    def next_wakeup_s(self, now_s: float) -> float | None:
        return self.wakeups.next_after(now_s)

    def stats(self) -> dict[str, float]:
        return {"moves": self.moves, "moved_bytes": self.moved_bytes,
                "egress_usd": self.egress_usd}


class CarbonRegionFilter(FilterPlugin):
    """Keep a job on the nodes of the region ``carbon-spatial`` chose for it."""

    name = "filter/carbon-region"

    def filter(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray | None:
        mask = job.data.get(MASK_KEY)
        return None if mask is None else np.asarray(mask)
