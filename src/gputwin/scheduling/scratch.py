"""A cycle's scratch capacity: taking and giving back GPUs (whole and partial) in a
:class:`~gputwin.scheduling.api.CycleState`, and whether a share request could use a
partial GPU. Used by the framework only; the ledger is never touched here."""

from __future__ import annotations

from gputwin.cluster.ledger import Placement
from gputwin.cluster.mig import MigGeometry
from gputwin.cluster.partial import PartialGpus
from gputwin.errors import GputwinError
from gputwin.scheduling.api import CycleState, PlacementPlugin
from gputwin.scheduling.hooks import HasMigGeometry
from gputwin.workload.job import JobSpec


def partial(state: CycleState) -> PartialGpus:
    """The cycle's partial-GPU scratch (built from the snapshot on first use)."""
    part = state.partial
    if part is None:
        part = state.partial = PartialGpus(state.snapshot)
    return part


def take(state: CycleState, placement: Placement) -> None:
    """Take ``placement`` out of the scratch; a share opens a whole GPU only if its GPU
    was not partial already."""
    free = state.free
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        free[node] -= count
    taken = placement.num_gpus
    if placement.shares:
        part = partial(state)
        for share in placement.shares:
            if part.take(share):
                free[share.node] -= 1
                taken += 1
    state.free_total -= taken


def give_back(state: CycleState, placement: Placement) -> None:
    """Return ``placement`` to the scratch (nodes that are up only); a GPU whose last
    share leaves is whole and free again."""
    up = state.snapshot.health
    free = state.free
    for node, count in zip(placement.nodes, placement.gpus, strict=True):
        if up[node] == 0:
            free[node] += count
            state.free_total += count
    if placement.shares:
        part = partial(state)
        for share in placement.shares:
            if part.give(share) and up[share.node] == 0:
                free[share.node] += 1
                state.free_total += 1


class ShareRoom:
    """Whether a partial GPU could take a share request (no whole GPU being free)."""

    __slots__ = ("_gpu_type", "_masks", "_placement")

    def __init__(self, placement: PlacementPlugin, gpu_type: str) -> None:
        self._placement = placement
        self._gpu_type = gpu_type
        self._masks: dict[str, tuple[int, ...] | None] = {}

    def has_room(self, spec: JobSpec, state: CycleState) -> bool:
        """A fractional request needs a shared GPU with enough free milli, a MIG request a
        MIG GPU with the memory slices of one of its profile's positions free. A
        necessary condition only; the placement plugin decides."""
        part = partial(state)
        if spec.mig_profile is None:
            return part.milli_room(spec.gpu_milli)
        masks = self._positions(spec.mig_profile)
        return bool(part.mig) if masks is None else part.mig_room(masks)

    def _positions(self, profile: str) -> tuple[int, ...] | None:
        """Memory-slice masks of ``profile``'s valid positions on this cluster's MIG GPU
        (the placement's geometry, else the cluster GPU's; ``None`` if unknown)."""
        if profile not in self._masks:
            masks: tuple[int, ...] | None = None
            try:
                geo = (self._placement.mig_geometry()
                       if isinstance(self._placement, HasMigGeometry)
                       else MigGeometry.for_gpu(self._gpu_type))
                masks = tuple(mem for _, mem, _ in geo.profile(profile).placements)
            except GputwinError:
                masks = None
            self._masks[profile] = masks
        return self._masks[profile]
