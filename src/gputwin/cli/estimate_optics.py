"""``gputwin estimate optics``: optical circuit switching vs a static torus vs a packet-
switched Clos for one cluster size (collective time, power, failures, availability)."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import BYTES, FINITE, emit_json, positive_int


@click.command()
@click.option("--num-chips", type=int, default=4096, show_default=True, callback=positive_int,
              help="Chips in the slice (whole 4x4x4 blocks, 64 chips each).")
@click.option("--system", default="tpu-v5p-slice", show_default=True,
              help="A torus system of the catalog (its ICI links set the bandwidth).")
@click.option("--op", default="all_reduce", show_default=True,
              help="Collective to time: all_reduce, all_gather, all_to_all, ...")
@click.option("--size", "size_bytes", type=BYTES, default="1GiB", show_default=True,
              help="Collective buffer size (nccl-tests convention).")
@click.option("--transceiver", default="pluggable-800g", show_default=True,
              help="Optics of the torus' optical links: pluggable-800g, pluggable-400g, "
              "pluggable-1.6t, cpo-800g (topology/optical.yaml).")
@click.option("--spare-blocks", type=int, default=1, show_default=True,
              help="Healthy spare blocks (64 chips) the pod holds beyond the slice.")
@click.option("--host-availability", type=FINITE, default=None,
              help="Share of time a host (4 chips) is up (default 0.995).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def optics(num_chips: int, system: str, op: str, size_bytes: float, transceiver: str,
           spare_blocks: int, host_availability: float | None, as_json: bool) -> None:
    """Optical circuit-switched torus vs static torus vs electrical packet-switched Clos.

    \b
    Example:
      gputwin estimate optics --num-chips 4096 --op all_to_all --transceiver cpo-800g
    """
    from gputwin.run.estimate_optics import estimate_optics

    out = estimate_optics(num_chips=num_chips, system=system, op=op, size_bytes=size_bytes,
                          transceiver=transceiver, spare_blocks=spare_blocks,
                          host_availability_frac=host_availability)
    if as_json:
        emit_json(out)
        return
    for line in _report(out):
        click.echo(line)


def _report(out: dict[str, Any]) -> list[str]:
    """What was assumed, then one row per fabric, then what the columns mean."""
    sl = out["ocs_slice"]
    torus = "x".join(map(str, sl["chip_torus"]))
    lines = [
        f"{out['num_chips']:,} chips of {out['system']} ({out['links_per_chip']} links x "
        f"{out['link_gbps']:.0f} Gb/s each): a {torus} torus of {sl['blocks']} 4x4x4 blocks; "
        f"{out['op']} of {out['size_bytes'] / 2**20:,.0f} MiB",
        f"assumed: {out['transceiver']} modules at {out['transceiver_w']:g} W "
        f"({out['transceiver_pj_per_bit']:.1f} pJ/bit), one per optical link end; "
        f"OCS {out['ocs_power_w']:g} W each; {out['chip_power_w']:.0f} W per chip (system "
        f"power, host share included); hosts up {out['host_availability_frac']:.1%} of the "
        f"time; {out['spare_blocks']} spare block(s)",
        f"  {'fabric':<13} {'collective':>17}  {'fabric power':>32}  {'switches':>8} "
        f"{'modules':>8}  {'chip-failure outage':<20} {'slice up':>8}"]
    lines += [_line(f) for f in out["fabrics"]]
    lines += ["  fabric power: switches + optical modules (share of system + fabric power, "
              "per bit of the chips' link bandwidth)",
              "  slice up: chance enough blocks are healthy (OCS: any of the pod's; static: "
              "the slice's own; Clos: any hosts)"]
    if not sl["twistable"]:
        lines.append(f"  (no ocs-twisted row: a twisted torus needs an n x n x 2n or n x 2n x 2n "
                     f"slice, not {torus})")
    return lines


def _line(f: dict[str, Any]) -> str:
    rec = f["chip_failure_recovery_s"]
    rec_s = "until repair" if rec is None else f"{rec:g} s"
    coll = f"{f['collective_time_s'] * 1e3:.2f} ms {f['collective_algorithm']}"
    power = (f"{f['fabric_power_w'] / 1e3:,.1f} kW ({f['fabric_power_frac']:.1%}, "
             f"{f['fabric_pj_per_bit']:.1f} pJ/bit)")
    return (f"  {f['fabric']:<13} {coll:>17}  {power:>32}  {f['num_switches']:>8,} "
            f"{f['transceivers']:>8,}  {rec_s:<20} {f['slice_availability_frac']:>8.1%}")
