"""Facade for ``gputwin estimate optics``: an optical-circuit-switched torus against a
statically wired torus and an electrical packet-switched Clos, for one cluster size.

For ``num_chips`` chips of a torus system (default ``tpu-v5p-slice``: 6 ICI links of
100 GB/s per chip) the three fabrics carry the same per-chip bandwidth:

- ``ocs-torus``: 4x4x4 blocks, copper inside a block, each block's 96 face links through
  OCSes (:func:`~gputwin.topology.optical.ocs_slice`); any healthy blocks form a slice;
- ``ocs-twisted``: the OCS slice wired as a twisted torus, for the shapes that allow it
  (``n x n x 2n``, ``n x 2n x 2n``): the short dimensions' wrap links re-pointed half-way
  along the long ones, which evens out the links' all-to-all load
  (:func:`~gputwin.topology.scale_up.torus_all_to_all`);
- ``static-torus``: the same torus with fixed fibre (no OCS power, fixed slice shapes);
- ``eps-clos``: every chip's links into a non-blocking Clos of packet switches
  (:func:`~gputwin.topology.optical.clos_fabric`), copper to the leaf, optics above.

Per fabric: one collective's time (the collective model: a torus group, or one switched
domain with the Clos' hop latency), switch and transceiver power and their share of the
system's power, pJ per bit of injection bandwidth, fabric recovery after a chip failure,
what a switch failure costs, and slice availability (every host independent).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.errors import InputError, check_number
from gputwin.topology.collectives import CollectiveOp, collective_time, group_for_ranks
from gputwin.topology.comm_types import CommGroup
from gputwin.topology.hardware import HardwareSpec, NetworkTopology, resolve_hardware
from gputwin.topology.optical import (
    Transceiver,
    clos_fabric,
    ocs_slice,
    optical_table,
    slice_availability,
    torus_optics,
)
from gputwin.topology.scale_up import TORUS_DIMS, twistable


def _collective(hw: HardwareSpec, op: CollectiveOp, size_bytes: float, n: int,
                chip_torus: tuple[int, int, int], twisted: bool) -> dict[str, Any]:
    """The collective on the slice's own torus (whole blocks), straight or twisted."""
    system = hw.system.model_copy(update={"scale_up_domain_size": n})
    spec = HardwareSpec(hw.accelerator, system, hw.scale_up_fabric, hw.scale_out_fabric,
                        hw.network, hw.storage, hw.pair_bridge_fabric)
    group = group_for_ranks(spec, n, 1, active_gpus_per_node=spec.gpus_per_node)
    group = dataclasses.replace(group, torus_dims=tuple(sorted(chip_torus, reverse=True)),
                                torus_twisted=twisted)
    return _timed(op, size_bytes, group)


def _clos_collective(hw: HardwareSpec, op: CollectiveOp, size_bytes: float, n: int,
                     ports_per_chip: int, hop_latency_s: float) -> dict[str, Any]:
    """The chips' links as NIC ports into the Clos: every host a leaf-attached node whose
    ``gpn × ports_per_chip`` ports carry the same bandwidth as its ICI links (so NCCL-style
    ring, tree and hierarchical algorithms apply); the ICI link's latency and efficiency
    plus the switch hops of the longest path."""
    sw = optical_table().packet_switch
    fabric = hw.scale_up_fabric
    assert fabric is not None
    gpn = hw.gpus_per_node
    hops = 2 * clos_fabric(n * ports_per_chip).tiers - 1
    out = fabric.model_copy(update={"kind": "scale_out",
                                    "latency_s": fabric.latency_s + hops * hop_latency_s})
    system = hw.system.model_copy(update={
        "scale_up_topology": "switched", "scale_up_domain_size": gpn,
        "num_nics": gpn * ports_per_chip, "nic_bandwidth_bytes_per_s": sw.port_gbps * 1e9 / 8})
    net = NetworkTopology(kind="fat_tree", nodes_per_leaf=max(1, sw.radix // 2 // (
        gpn * ports_per_chip)), oversubscription=1.0)
    spec = HardwareSpec(hw.accelerator, system, fabric, out, net, hw.storage, None)
    return _run(spec, op, size_bytes, n)


def _run(spec: HardwareSpec, op: CollectiveOp, size_bytes: float, n: int) -> dict[str, Any]:
    return _timed(op, size_bytes, group_for_ranks(
        spec, n, 1, active_gpus_per_node=spec.gpus_per_node))


def _timed(op: CollectiveOp, size_bytes: float, group: CommGroup) -> dict[str, Any]:
    est = collective_time(op, size_bytes, group)
    return {"collective_time_s": est.time_s, "busbw_bytes_per_s": est.busbw_bytes_per_s,
            "collective_algorithm": est.algorithm}


def estimate_optics(*, num_chips: int, system: str = "tpu-v5p-slice", op: str = "all_reduce",
                    size_bytes: float = 2.0 ** 30, transceiver: str = "pluggable-800g",
                    spare_blocks: int = 1, host_availability_frac: float | None = None,
                    catalog: Catalog | None = None) -> dict[str, Any]:
    """The comparison (module docstring). Raises InputError naming the option."""
    hw = resolve_hardware(catalog or default_catalog(), system=system,
                          network=NetworkTopology(kind="fat_tree"), where=lambda f: f"--{f}")
    if hw.system.scale_up_topology not in TORUS_DIMS or hw.scale_up_fabric is None:
        raise InputError(f"{system} is not a torus system (its scale-up is "
                         f"{hw.system.scale_up_topology}); OCS fabrics wire tori",
                         where="--system")
    parsed = _checked_inputs(op, transceiver, spare_blocks, host_availability_frac, size_bytes)
    tab = optical_table()
    sl = ocs_slice(num_chips)
    links = 2 * TORUS_DIMS[hw.system.scale_up_topology]
    link_gbps = hw.scale_up_fabric.link_bandwidth_bytes_per_s * 8 / 1e9
    mod = tab.transceivers[transceiver]
    chip_w = hw.system.max_power_w / hw.gpus_per_node
    inject_bps = num_chips * links * link_gbps * 1e9
    torus = _collective(hw, parsed, size_bytes, num_chips, sl.chip_torus, twisted=False)
    common = {"chips": num_chips, "system_power_w": num_chips * chip_w,
              "injection_bits_per_s": inject_bps}
    twist = twistable(sl.chip_torus)
    rows = [_torus_row("ocs-torus", sl, link_gbps, transceiver, torus, common, spare_blocks,
                       host_availability_frac)]
    if twist:
        twisted = _collective(hw, parsed, size_bytes, num_chips, sl.chip_torus, twisted=True)
        rows.append(_torus_row("ocs-twisted", sl, link_gbps, transceiver, twisted, common,
                               spare_blocks, host_availability_frac))
    rows += [_torus_row("static-torus", sl, link_gbps, transceiver, torus, common,
                        spare_blocks, host_availability_frac),
            _clos_row(hw, parsed, size_bytes, num_chips, links, link_gbps, mod,
                      common, spare_blocks, host_availability_frac)]
    return {"num_chips": num_chips, "system": system, "links_per_chip": links,
            "link_gbps": link_gbps, "op": op, "size_bytes": size_bytes,
            "transceiver": transceiver, "transceiver_w": mod.power_w,
            "transceiver_pj_per_bit": mod.power_w / (mod.gbps * 1e9) * 1e12,
            "chip_power_w": chip_w, "ocs_power_w": tab.ocs.power_w,
            "spare_blocks": spare_blocks,
            "host_availability_frac": (host_availability_frac or
                                       tab.availability.host_availability_frac),
            "ocs_slice": {"chip_torus": sl.chip_torus, "blocks": sl.blocks,
                          "num_ocs": sl.num_ocs, "twistable": twist},
            "twisted_speedup": (rows[0]["collective_time_s"] / rows[1]["collective_time_s"]
                                if twist else None),
            "fabrics": rows}


def _checked_inputs(op: str, transceiver: str, spare_blocks: int,
                    host_availability_frac: float | None, size_bytes: float) -> CollectiveOp:
    """The collective ``op`` names, after checking the options; raises InputError."""
    try:
        parsed = CollectiveOp(op)
    except ValueError:
        raise InputError(f"unknown collective {op!r}; expected one of "
                         f"{', '.join(o.value for o in CollectiveOp)}", where="--op") from None
    if transceiver not in optical_table().transceivers:
        raise InputError(f"unknown transceiver {transceiver!r}; expected one of "
                         f"{', '.join(optical_table().transceivers)}", where="--transceiver")
    if spare_blocks < 0:
        raise InputError("spare blocks must be non-negative", where="--spare-blocks")
    if host_availability_frac is not None and not 0 < host_availability_frac <= 1:
        raise InputError(f"expected a share of time in (0, 1], got {host_availability_frac}",
                         where="--host-availability")
    check_number(size_bytes, "--size", 0, low_open=True)  # as estimate collective's --size
    return parsed


def _power(row: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    fabric_w = row["switch_power_w"] + row["optics_power_w"]
    return row | {"fabric_power_w": fabric_w,
                  "fabric_power_frac": fabric_w / (common["system_power_w"] + fabric_w),
                  "fabric_pj_per_bit": fabric_w / common["injection_bits_per_s"] * 1e12}


def _torus_row(name: str, sl: Any, link_gbps: float, transceiver: str,
               coll: dict[str, Any], common: dict[str, Any], spare: int,
               host_a: float | None) -> dict[str, Any]:
    tab = optical_table().ocs
    ocs = name.startswith("ocs-")
    parts = torus_optics(sl.blocks, link_gbps, transceiver, ocs=ocs)
    row = {"fabric": name, **coll, "num_switches": parts.num_ocs,
           "switch_power_w": parts.switch_power_w,
           "transceivers": parts.transceivers, "optics_power_w": parts.optics_power_w,
           "reconfiguration_s": tab.reconfiguration_s if ocs else None,
           "chip_failure_recovery_s": tab.job_reconfiguration_s if ocs and spare > 0 else None,
           "switch_failure": ({"chips_affected": common["chips"],
                               "optical_links_lost_frac": 1.0 / sl.num_ocs} if ocs else None),
           "slice_availability_frac": slice_availability(
               sl.blocks, sl.blocks + spare, ocs=ocs, host_availability_frac=host_a)}
    return _power(row, common)


def _clos_row(hw: HardwareSpec, op: CollectiveOp, size_bytes: float, n: int, links: int,
              link_gbps: float, mod: Transceiver, common: dict[str, Any], spare: int,
              host_a: float | None) -> dict[str, Any]:
    sw = optical_table().packet_switch
    per_chip = math.ceil(links * link_gbps / sw.port_gbps)
    try:
        fab = clos_fabric(n * per_chip)
    except InputError as exc:  # the packet-switched comparison cannot be built this large
        raise InputError(f"{n:,} chips are too many for the electrical Clos the OCS is "
                         f"compared with ({exc.detail})", where="--num-chips") from None
    coll = _clos_collective(hw, op, size_bytes, n, per_chip, sw.hop_latency_s)
    # modules at both ends of every link above the leaves, enough for the port's rate
    modules = 2 * fab.optical_links * math.ceil(sw.port_gbps / mod.gbps)
    hosts = n // hw.gpus_per_node
    spare_hosts = spare * 64 // hw.gpus_per_node
    row = {"fabric": "eps-clos", **coll, "num_switches": fab.num_switches,
           "clos_tiers": fab.tiers, "switch_power_w": fab.num_switches * sw.power_w,
           "transceivers": modules, "optics_power_w": modules * mod.power_w,
           "reconfiguration_s": 0.0, "chip_failure_recovery_s": 0.0,
           "switch_failure": {"chips_affected": n if fab.tiers == 1 else sw.radix // 2,
                              "bandwidth_lost_frac": 1.0 / per_chip},
           "slice_availability_frac": slice_availability(
               hosts, hosts + spare_hosts, ocs=True, host_availability_frac=host_a,
               hosts_per_block=1)}
    return _power(row, common)
