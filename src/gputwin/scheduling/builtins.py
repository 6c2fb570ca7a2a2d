"""Every built-in scheduling plugin, registered here and only here.

The plugin modules define classes; this module lists them (:data:`BUILTINS`) and
:func:`register_builtins` adds them to the registry (``gputwin.scheduling`` calls it once
on import). A plugin outside the package registers itself with
:func:`~gputwin.scheduling.registry.register` the same way.
"""

from __future__ import annotations

from gputwin.scheduling.api import Plugin
from gputwin.scheduling.plugins.backfill import BackfillQueueing
from gputwin.scheduling.plugins.baselines import (
    DotProductPlacement,
    GpuClusteringPlacement,
    RandomPlacement,
)
from gputwin.scheduling.plugins.carbon import CarbonSuspend, CarbonThreshold, CarbonWindow
from gputwin.scheduling.plugins.carbon_cap import CarbonMeter, CarbonPowerCap
from gputwin.scheduling.plugins.carbon_spatial import CarbonRegionFilter, CarbonSpatial
from gputwin.scheduling.plugins.fractional import (
    BestfitPlacement,
    FeasibleFilter,
    FgdPlacement,
    GpuPackingPlacement,
)
from gputwin.scheduling.plugins.mig import MigPlacement, MigReconfigurePermit
from gputwin.scheduling.plugins.nodes import (
    BinpackScore,
    FirstFitPlacement,
    FitsFilter,
    NodeHealthyFilter,
    SpreadScore,
    TopologyPlacement,
    TorusSlicePlacement,
)
from gputwin.scheduling.plugins.power import RackPowerFilter, RackPowerReserve, SiteBudgetReserve
from gputwin.scheduling.plugins.preemption import Defragment, PreemptLowestPriority
from gputwin.scheduling.plugins.queueing import BestEffortQueueing, StrictQueueing
from gputwin.scheduling.plugins.sorting import DrfSort, FifoSort, MultifactorSort, PrioritySort
from gputwin.scheduling.quota.admission import KueueQueueing, KueueQuota, KueueSort
from gputwin.scheduling.quota.preemption import KueuePreemption
from gputwin.scheduling.registry import is_registered, register

#: The built-in plugins, by module.
BUILTINS: tuple[type[Plugin], ...] = (
    # plugins/nodes
    FitsFilter, NodeHealthyFilter, BinpackScore, SpreadScore, FirstFitPlacement,
    TopologyPlacement, TorusSlicePlacement,
    FifoSort, PrioritySort, MultifactorSort, DrfSort,  # plugins/sorting
    StrictQueueing, BestEffortQueueing, BackfillQueueing,  # plugins/queueing, backfill
    PreemptLowestPriority, Defragment,  # plugins/preemption
    DotProductPlacement, GpuClusteringPlacement, RandomPlacement,  # plugins/baselines
    FgdPlacement, BestfitPlacement, GpuPackingPlacement, FeasibleFilter,  # plugins/fractional
    MigPlacement, MigReconfigurePermit,  # plugins/mig
    CarbonThreshold, CarbonWindow, CarbonSuspend,  # plugins/carbon
    CarbonPowerCap, CarbonMeter,  # plugins/carbon_cap
    CarbonSpatial, CarbonRegionFilter,  # plugins/carbon_spatial
    RackPowerFilter, RackPowerReserve, SiteBudgetReserve,  # plugins/power
    KueueSort, KueueQueueing, KueueQuota,  # quota/admission
    KueuePreemption,  # quota/preemption
)


def register_builtins() -> None:
    """Register every built-in plugin (idempotent)."""
    for cls in BUILTINS:
        if not is_registered(cls):
            register(cls)
