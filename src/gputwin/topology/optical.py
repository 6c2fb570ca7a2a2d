"""Optical fabrics: circuit-switched (OCS) torus slices, blast radius, optics power.

TPU-style machines (TPU v4/v5p) build a 3D torus out of fixed electrical blocks (4x4x4
chips) whose face links run through optical circuit switches. The OCS lets a job get any
block-multiple slice wired as a torus, and swap a failed block for a spare by re-pointing
mirrors, instead of losing the whole statically wired pod until repair:

- :func:`ocs_slice` -- the torus shape of a slice of ``num_chips`` (whole blocks), the
  blocks, the OCS ports it holds and the OCS count at the table's port count;
- :func:`blast_radius` -- chips a single chip failure stops, and for how long: with an
  OCS, the job's slice pauses for ``job_reconfiguration_s`` while a spare block is switched
  in (``None`` spare -> until repair); statically wired, the whole slice waits for repair;
- :func:`optics_power_w` -- transceiver power of ``num_links`` optical links, pluggable or
  co-packaged.

An OCS is passive light steering: it adds no electrical hop, so a slice's collectives cost
what a torus of that shape costs (``topology.scale_up`` with ``torus3d``); its effect is on
which shapes are available, on failures and on power. Numbers in ``optical.yaml``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from gputwin.errors import InputError, UnknownNameError
from gputwin.topology.scale_up import slice_torus_shape, torus_shape
from gputwin.yaml_io import load_validated


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OcsTable(_Entry):
    ports: int = Field(gt=0)
    usable_ports: int = Field(gt=0)
    reconfiguration_s: float = Field(ge=0)
    job_reconfiguration_s: float = Field(ge=0)
    power_w: float = Field(ge=0)
    block_shape: tuple[int, int, int]
    links_per_block: int = Field(gt=0)
    source: str = Field(min_length=8)
    sources: dict[str, str] = Field(default_factory=dict)


class Transceiver(_Entry):
    gbps: float = Field(gt=0)
    power_w: float = Field(gt=0)
    source: str = Field(min_length=8)


class PacketSwitch(_Entry):
    radix: int = Field(gt=1)
    port_gbps: float = Field(gt=0)
    power_w: float = Field(ge=0)
    hop_latency_s: float = Field(ge=0)
    source: str = Field(min_length=8)


class ScaleOutSwitch(_Entry):
    radix: int = Field(gt=1)
    port_gbps: float = Field(gt=0)
    source: str = Field(min_length=8)


class Availability(_Entry):
    host_availability_frac: float = Field(gt=0, le=1)
    source: str = Field(min_length=8)


class OpticalTable(_Entry):
    ocs: OcsTable
    transceivers: dict[str, Transceiver]
    packet_switch: PacketSwitch
    scale_out_switch: ScaleOutSwitch
    availability: Availability


@functools.cache
def optical_table() -> OpticalTable:
    return load_validated(Path(__file__).parent / "optical.yaml", OpticalTable)


@dataclass(frozen=True, slots=True)
class OcsSlice:
    num_chips: int
    blocks: int
    block_torus: tuple[int, ...]  # how the blocks are arranged (OCS-wired)
    chip_torus: tuple[int, int, int]  # the slice's chip-level torus
    ocs_ports: int
    num_ocs: int


def ocs_slice(num_chips: int) -> OcsSlice:
    """A torus slice of ``num_chips`` (a multiple of the block size). Raises InputError."""
    t = optical_table().ocs
    bx, by, bz = t.block_shape
    per_block = bx * by * bz
    if num_chips < per_block or num_chips % per_block:
        raise InputError(f"an OCS slice is whole {bx}x{by}x{bz} blocks ({per_block} chips); "
                         f"got {num_chips}", where="--num-chips")
    blocks = num_chips // per_block
    arr = tuple(torus_shape(blocks, 3)) or (1,)
    shape = (*slice_torus_shape(num_chips, t.block_shape), 1, 1, 1)
    chip = (shape[0], shape[1], shape[2])
    ports = blocks * t.links_per_block
    return OcsSlice(num_chips, blocks, arr, chip, ports, math.ceil(ports / t.usable_ports))


def hosts_per_block(scale_up_topology: str, gpus_per_node: int) -> int:
    """Nodes per 4x4x4 block of a 3D-torus system (``cluster.optics``); raises
    :class:`InputError` for another topology or hosts that do not tile a block."""
    chips = math.prod(optical_table().ocs.block_shape)
    if scale_up_topology != "torus3d":
        raise InputError(f"optics (OCS or static torus slices) need a 3D-torus system such as "
                         f"tpu-v5p-slice; this one is {scale_up_topology}")
    if gpus_per_node < 1 or chips % gpus_per_node:
        raise InputError(f"{gpus_per_node} chips per host do not tile a {chips}-chip block")
    return chips // gpus_per_node


@dataclass(frozen=True, slots=True)
class TorusOptics:
    """The optical parts of a torus of ``blocks`` blocks and what they draw."""

    num_ocs: int  # 0 when statically wired
    switch_power_w: float
    transceivers: int  # one per block face port and per module lane the link rate needs
    optics_power_w: float


def torus_optics(blocks: int, link_gbps: float, transceiver: str = "pluggable-800g", *,
                 ocs: bool) -> TorusOptics:
    """Optics of ``blocks`` 4x4x4 blocks whose face links (``link_gbps`` each) leave the
    block as fibre: one module set per face port (an OCS is passive, so a statically
    wired torus has the same modules), plus the OCSes' own power when switched."""
    table = optical_table()
    if transceiver not in table.transceivers:
        raise UnknownNameError("transceiver", transceiver, list(table.transceivers))
    if blocks < 1 or link_gbps <= 0:
        raise InputError(f"a torus needs at least one block and a positive link rate; got "
                         f"{blocks} blocks, {link_gbps} Gb/s")
    sl = ocs_slice(blocks * math.prod(table.ocs.block_shape))
    mod = table.transceivers[transceiver]
    modules = sl.ocs_ports * math.ceil(link_gbps / mod.gbps)
    num_ocs = sl.num_ocs if ocs else 0
    return TorusOptics(num_ocs, num_ocs * table.ocs.power_w, modules, modules * mod.power_w)


@dataclass(frozen=True, slots=True)
class BlastRadius:
    chips_stopped: int
    outage_s: float | None  # None = until the failed part is repaired


def blast_radius(slice_chips: int, *, ocs: bool, spare_blocks: int = 1) -> BlastRadius:
    """What one chip failure stops in a job of ``slice_chips`` chips."""
    if slice_chips < 1 or spare_blocks < 0:
        raise InputError("slice size must be positive and spare blocks non-negative")
    if ocs and spare_blocks > 0:
        return BlastRadius(slice_chips, optical_table().ocs.job_reconfiguration_s)
    return BlastRadius(slice_chips, None)


def optics_power_w(num_links: int, kind: str = "pluggable-800g") -> float:
    """Transceiver power of ``num_links`` optical links (one module per link end)."""
    table = optical_table().transceivers
    if kind not in table:
        raise UnknownNameError("transceiver", kind, list(table))
    if num_links < 0:
        raise InputError(f"number of links must be non-negative, got {num_links}")
    return 2.0 * num_links * table[kind].power_w


@dataclass(frozen=True, slots=True)
class ClosFabric:
    """A non-blocking folded Clos (fat tree) of ``radix``-port packet switches."""

    num_ports: int  # endpoint ports it connects
    tiers: int
    num_switches: int
    optical_links: int  # links above the first tier (leaf uplinks and up); edge links copper


def clos_fabric(num_ports: int, radix: int | None = None) -> ClosFabric:
    """The smallest non-blocking Clos for ``num_ports`` endpoint ports: 1 tier up to ``k``
    ports, 2 up to ``k²/2`` (``3k/2`` switches per ``k²/2``), 3 up to ``k³/4`` (``5k²/4``
    switches per ``k³/4``): half of each switch's ports face down, half up, below the top.
    Raises InputError above three tiers."""
    k = radix or optical_table().packet_switch.radix
    if num_ports < 1:
        raise InputError(f"a fabric needs at least one port, got {num_ports}")
    if num_ports <= k:
        return ClosFabric(num_ports, 1, 1, 0)
    if num_ports <= k * k // 2:
        leaves = math.ceil(num_ports / (k / 2))
        spines = math.ceil(leaves * (k / 2) / k)
        return ClosFabric(num_ports, 2, leaves + spines, leaves * k // 2)
    if num_ports <= k ** 3 // 4:
        leaves = math.ceil(num_ports / (k / 2))
        return ClosFabric(num_ports, 3, leaves + leaves + math.ceil(leaves / 2),
                          2 * leaves * k // 2)
    raise InputError(f"{num_ports} ports need more than a 3-tier Clos of {k}-port switches")


def slice_availability(blocks: int, total_blocks: int, *, ocs: bool,
                       host_availability_frac: float | None = None,
                       hosts_per_block: int = 16) -> float:
    """Probability that a slice of ``blocks`` blocks can run (every host independent, up
    with probability ``a``; a block is up when its ``hosts_per_block`` hosts are).

    Statically wired, the slice is a fixed set of blocks: ``a_b^blocks``. With an OCS any
    ``blocks`` healthy blocks of ``total_blocks`` can be wired into the torus:
    ``P(Binomial(total_blocks, a_b) >= blocks)``."""
    if not 0 < blocks <= total_blocks:
        raise InputError(f"a slice of {blocks} blocks does not fit {total_blocks} blocks")
    a = (optical_table().availability.host_availability_frac
         if host_availability_frac is None else host_availability_frac)
    if not 0 < a <= 1:
        raise InputError(f"host availability must be in (0, 1], got {a}")
    ab = a ** hosts_per_block
    if not ocs:
        return float(ab ** blocks)
    return binomial_upper_tail(total_blocks, ab, blocks)


def binomial_upper_tail(n: int, p: float, k_min: int) -> float:
    """``P(Binomial(n, p) >= k_min)``, each term summed in log space so that pods of
    thousands of blocks neither overflow ``math.comb`` into a float nor underflow.

    Work grows with ``k_min`` (the slice's blocks), not with ``n``: at or below the mean the
    tail is one minus the ``k_min`` terms under it; above the mean the terms fall
    geometrically and the sum stops once they no longer change it. Summing the ``n - k_min
    + 1`` terms of the tail itself never finished for a pod of 10^20 spare blocks."""
    if p >= 1.0 or k_min <= 0:
        return 1.0
    if p <= 0.0 or k_min > n:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n_fact = math.lgamma(n + 1)

    def term(k: int) -> float:
        return math.exp(log_n_fact - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                        + k * log_p + (n - k) * log_q)

    if k_min <= n * p:
        return max(0.0, 1.0 - math.fsum(term(k) for k in range(k_min)))
    total = 0.0
    for k in range(k_min, n + 1):
        t = term(k)
        total += t
        if t <= total * 1e-17:  # past the mode every later term is smaller still
            break
    return min(1.0, total)
