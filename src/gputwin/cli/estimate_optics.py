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
              "cpo-800g (topology/optical.yaml).")
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
    sl = out["ocs_slice"]
    click.echo(f"{num_chips} chips of {system} ({out['links_per_chip']} links x "
               f"{out['link_gbps']:.0f} Gb/s each); torus {'x'.join(map(str, sl['chip_torus']))}"
               f" of {sl['blocks']} blocks, {sl['num_ocs']} OCSes; {op} of "
               f"{size_bytes / 2**20:,.0f} MiB")
    for f in out["fabrics"]:
        click.echo(_line(f))
    if not sl["twistable"]:
        click.echo(f"  (no ocs-twisted row: a twisted torus needs an n x n x 2n or n x 2n x 2n "
                   f"slice, not {'x'.join(map(str, sl['chip_torus']))})")


def _line(f: dict[str, Any]) -> str:
    rec = f["chip_failure_recovery_s"]
    rec_s = "until repair" if rec is None else f"{rec:g} s"
    return (f"  {f['fabric']:<13} {f['collective_time_s'] * 1e3:8.2f} ms "
            f"({f['collective_algorithm']}); fabric {f['fabric_power_w'] / 1e3:,.1f} kW = "
            f"{f['fabric_power_frac']:.1%} of system, {f['fabric_pj_per_bit']:.1f} pJ/bit; "
            f"{f['num_switches']:,} switches, {f['transceivers']:,} transceivers; after a "
            f"chip failure: {rec_s}; slice availability {f['slice_availability_frac']:.1%}")
