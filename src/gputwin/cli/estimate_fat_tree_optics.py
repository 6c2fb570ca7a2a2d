"""``gputwin estimate fat-tree-optics``: switches, optical modules and optics power of a GPU
cluster's non-blocking fat tree, with pluggable modules in the switches and with
co-packaged optics (CPO) switches."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from gputwin.cli.options import FINITE, emit_json, positive_int


@click.command("fat-tree-optics")
@click.option("--num-gpus", type=int, default=131072, show_default=True, callback=positive_int,
              help="GPUs on the back-end (scale-out) network.")
@click.option("--ports-per-gpu", type=int, default=1, show_default=True, callback=positive_int,
              help="NIC ports per GPU (one 800G port per GPU on GB200/GB300).")
@click.option("--radix", type=int, default=None, callback=positive_int,
              help="Ports per switch (default 144: NVIDIA Quantum-X800, 144 x 800G).")
@click.option("--port-gbps", type=FINITE, default=None,
              help="Rate of every NIC and switch port in Gb/s (default 800).")
@click.option("--transceiver", default="pluggable-800g", show_default=True,
              help="The switches' pluggable module (without CPO); pluggable-1.6t is a twin-port "
              "module serving two 800G ports (topology/optical.yaml).")
@click.option("--nic-transceiver", default="pluggable-800g", show_default=True,
              help="The module in each NIC port (kept with CPO switches).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def fat_tree_optics_cmd(num_gpus: int, ports_per_gpu: int, radix: int | None,
                        port_gbps: float | None, transceiver: str, nic_transceiver: str,
                        as_json: bool) -> None:
    """Optics of a GPU fat tree (every link optical), pluggable vs co-packaged switches.

    \b
    Example:
      gputwin estimate fat-tree-optics --num-gpus 131072
    """
    from gputwin.topology.fat_tree_optics import fat_tree_optics

    rows = [fat_tree_optics(num_gpus, ports_per_gpu=ports_per_gpu, radix=radix,
                            transceiver=transceiver, nic_transceiver=nic_transceiver,
                            cpo_switches=cpo, port_gbps=port_gbps)
            for cpo in (False, True)]
    out = [_as_dict(r, cpo) for r, cpo in zip(rows, (False, True), strict=True)]
    if as_json:
        emit_json({"num_gpus": num_gpus, "transceiver": transceiver,
                   "nic_transceiver": nic_transceiver, "fabrics": out})
        return
    r = rows[0]
    click.echo(f"{num_gpus:,} GPUs x {ports_per_gpu} NIC port(s) of {r.port_gbps:g} Gb/s: "
               f"non-blocking {r.tiers}-tier "
               f"fat tree of {r.radix}-port switches, {r.num_switches:,} switches; every link "
               f"optical, with optics at both ends")
    for d in out:
        click.echo(_line(d))


def _as_dict(r: Any, cpo: bool) -> dict[str, Any]:
    return dataclasses.asdict(r) | {
        "switch_optics": "co-packaged" if cpo else "pluggable",
        "modules_per_gpu": r.modules_per_gpu, "optics_w_per_gpu": r.optics_w_per_gpu}


def _line(d: dict[str, Any]) -> str:
    return (f"  {d['switch_optics'] + ' switches':<22} optics {d['optics_power_w'] / 1e3:,.0f} kW "
            f"({d['optics_w_per_gpu']:.0f} W per GPU): {d['nic_modules']:,} NIC modules at "
            f"{d['nic_module_w']:g} W + {d['switch_side_ports']:,} switch ports at "
            f"{d['switch_port_w']:g} W each; {d['modules_per_gpu']:.1f} discrete modules per GPU")
