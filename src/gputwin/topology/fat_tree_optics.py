"""Optics of a GPU scale-out fat tree: switches, pluggable modules and their power.

A GPU cluster's back-end network is a non-blocking folded Clos (:func:`clos_fabric`) whose
every link is optical: the leaf switches sit at the end of the row, out of copper reach
of the servers, so even the NIC-to-leaf link needs a module at each end. Per endpoint
(NIC) port, a ``t``-tier fabric then holds one module in the NIC and ``2t - 1`` in the
switches (the leaf's down-facing port, and both ends of every link above the leaf):
6 per port in 3 tiers.

Co-packaged optics (CPO) moves the switch-side modules into the switch package (NVIDIA
Quantum-X / Spectrum-X Photonics, Broadcom Bailly / Davisson): the switch-side ports draw
the CPO port power and stop being discrete parts; the NIC keeps its pluggable module.
Numbers in ``optical.yaml`` (``transceivers``, ``scale_out_switch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gputwin.errors import InputError, UnknownNameError
from gputwin.topology.optical import clos_fabric, optical_table


@dataclass(frozen=True, slots=True)
class FatTreeOptics:
    """The optical parts of a non-blocking fat tree for ``num_gpus`` GPUs."""

    num_gpus: int
    endpoint_ports: int
    radix: int
    port_gbps: float
    tiers: int
    num_switches: int
    nic_modules: int  # one pluggable per NIC port
    switch_side_ports: int  # leaf down-ports plus both ends of every link above the leaves
    switch_side_pluggables: int  # discrete modules in the switches (0 with CPO switches)
    nic_module_w: float  # per NIC port
    switch_port_w: float  # per switch-side port: its share of a pluggable, or a CPO port
    optics_power_w: float

    @property
    def modules_per_gpu(self) -> float:
        """Discrete pluggable modules per GPU (NIC side plus switch side)."""
        return (self.nic_modules + self.switch_side_pluggables) / self.num_gpus

    @property
    def optics_w_per_gpu(self) -> float:
        return self.optics_power_w / self.num_gpus


def fat_tree_optics(num_gpus: int, *, ports_per_gpu: int = 1, radix: int | None = None,
                    transceiver: str = "pluggable-800g", nic_transceiver: str = "pluggable-800g",
                    cpo_switches: bool = False, cpo_port: str = "cpo-800g",
                    port_gbps: float | None = None) -> FatTreeOptics:
    """The smallest non-blocking fat tree of ``radix``-port switches with ``port_gbps``
    ports (default: the table's scale-out switch) for ``num_gpus`` GPUs with
    ``ports_per_gpu`` NIC ports each, all links optical. ``transceiver`` is the switches'
    pluggable: a module faster than the port serves several ports (a 1.6T twin-port OSFP
    two 800G ports), a slower one is doubled up. Raises InputError or UnknownNameError."""
    table = optical_table()
    for name, flag in ((transceiver, "--transceiver"), (nic_transceiver, "--nic-transceiver"),
                       (cpo_port, "cpo_port")):
        if name not in table.transceivers:
            raise UnknownNameError("transceiver", name, list(table.transceivers), where=flag)
    if num_gpus < 1 or ports_per_gpu < 1:
        raise InputError(f"a fat tree needs at least one GPU and one port per GPU; got "
                         f"{num_gpus} GPUs, {ports_per_gpu} ports", where="--num-gpus")
    k = radix or table.scale_out_switch.radix
    if k < 4 or k % 2:
        raise InputError(f"a fat tree needs switches of an even radix of at least 4, got {k}",
                         where="--radix")
    ports = num_gpus * ports_per_gpu
    try:
        fab = clos_fabric(ports, k)
    except InputError as exc:
        raise InputError(exc.detail, where="--num-gpus") from None
    port_gbps = table.scale_out_switch.port_gbps if port_gbps is None else port_gbps
    if port_gbps <= 0:
        raise InputError(f"a port rate must be positive, got {port_gbps}", where="--port-gbps")
    nic, switch = table.transceivers[nic_transceiver], table.transceivers[transceiver]
    nic_per_port = math.ceil(port_gbps / nic.gbps)  # a NIC port cannot share a module
    switch_side = ports + 2 * fab.optical_links  # optical_links is 0 in one tier
    mod = table.transceivers[cpo_port] if cpo_switches else switch
    port_w = mod.power_w * port_gbps / mod.gbps
    pluggables = 0 if cpo_switches else math.ceil(switch_side * port_gbps / switch.gbps)
    nic_w = nic_per_port * nic.power_w
    return FatTreeOptics(num_gpus, ports, k, port_gbps, fab.tiers, fab.num_switches,
                         ports * nic_per_port, switch_side, pluggables, nic_w, port_w,
                         ports * nic_w + switch_side * port_w)
