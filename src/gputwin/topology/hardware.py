"""Resolve catalog names into the hardware a job runs on (accelerator, node, fabrics).

``HardwareSpec`` is the one object the performance models take to know "where" a
computation runs. ``NetworkTopology`` describes the scale-out network shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import Accelerator, Fabric, StorageTier, System
from gputwin.errors import InputError

TopologyKind = Literal["single_node", "rail_optimized", "fat_tree"]


@dataclass(frozen=True, slots=True)
class NetworkTopology:
    """Scale-out network shape.

    ``nodes_per_leaf``: nodes under one leaf switch (rail group). ``oversubscription``:
    leaf downlink to uplink bandwidth ratio (1.0 = non-blocking). ``rail_optimized``
    means NIC *i* of every node in a leaf group lands on the same rail switch.
    """

    kind: TopologyKind = "rail_optimized"
    nodes_per_leaf: int = 32
    oversubscription: float = 1.0

    def __post_init__(self) -> None:
        if self.nodes_per_leaf <= 0:
            raise InputError(f"nodes_per_leaf must be positive, got {self.nodes_per_leaf}")
        if self.oversubscription < 1.0:
            raise InputError(f"oversubscription must be >= 1, got {self.oversubscription}")


@dataclass(frozen=True, slots=True)
class HardwareSpec:
    """Everything a performance model needs to know about the machine."""

    accelerator: Accelerator
    system: System
    scale_up_fabric: Fabric | None
    scale_out_fabric: Fabric
    network: NetworkTopology
    storage: StorageTier | None = None
    pair_bridge_fabric: Fabric | None = None

    @property
    def gpus_per_node(self) -> int:
        return self.system.num_accelerators

    @property
    def scale_up_domain_size(self) -> int:
        return self.system.scale_up_domain_size

    @property
    def scale_out_bandwidth_per_gpu_bytes_per_s(self) -> float:
        """NIC bandwidth per accelerator, per direction, when all accelerators send at once."""
        sysm = self.system
        return sysm.num_nics * sysm.nic_bandwidth_bytes_per_s / sysm.num_accelerators


def default_system_for(catalog: Catalog, gpu: str, *, where: str | None = None) -> System:
    """The first catalog system (by name) built from accelerator ``gpu`` (``where``: the
    flag or field an unknown name is reported at)."""
    catalog.accelerator(gpu, where=where)  # raises with suggestions when unknown
    matches = sorted(
        (s for s in catalog.systems.values() if s.accelerator == gpu), key=lambda s: s.name
    )
    if not matches:
        raise InputError(f"no system in the catalog uses accelerator {gpu!r}; pass --system")
    return matches[0]


def resolve_hardware(
    catalog: Catalog,
    *,
    gpu: str | None = None,
    system: str | None = None,
    fabric: str | None = None,
    storage: str | None = None,
    network: NetworkTopology | None = None,
    where: Callable[[str], str] | None = None,
) -> HardwareSpec:
    """Build a :class:`HardwareSpec` from catalog names.

    ``gpu`` alone picks the default system for it; ``system`` alone implies its GPU;
    both must agree. ``fabric`` overrides the system's scale-out fabric. ``where`` turns
    ``"gpu"``, ``"system"``, ``"fabric"``, ``"storage"`` into the flag or field an unknown
    name is reported at (e.g. ``--gpu``).
    """
    def at(name: str) -> str | None:
        return where(name) if where is not None else None

    if system is not None:
        sysm = catalog.system(system, where=at("system"))
        if gpu is not None:
            catalog.accelerator(gpu, where=at("gpu"))
            if sysm.accelerator != gpu:
                raise InputError(
                    f"system {system!r} is built from {sysm.accelerator!r}, not {gpu!r}",
                    where=at("system"),
                )
    elif gpu is not None:
        sysm = default_system_for(catalog, gpu, where=at("gpu"))
    else:
        raise InputError("name a GPU (--gpu) or a system (--system)")
    accel = catalog.accelerator(sysm.accelerator)
    scale_up = catalog.fabric(sysm.scale_up_fabric) if sysm.scale_up_fabric else None
    # "" is a name given (and unknown), not "the default": only None means none was given
    scale_out = catalog.fabric(sysm.scale_out_fabric if fabric is None else fabric,
                               where=None if fabric is None else at("fabric"))
    if scale_out.kind != "scale_out":
        raise InputError(f"fabric {scale_out.name!r} is a {scale_out.kind} fabric, not scale-out")
    tier = None if storage is None else catalog.storage_tier(storage, where=at("storage"))
    bridge = catalog.fabric(sysm.pair_bridge_fabric) if sysm.pair_bridge_fabric else None
    return HardwareSpec(
        accelerator=accel,
        system=sysm,
        scale_up_fabric=scale_up,
        scale_out_fabric=scale_out,
        network=network or NetworkTopology(),
        storage=tier,
        pair_bridge_fabric=bridge,
    )
