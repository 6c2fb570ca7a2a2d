"""``gputwin estimate collective``: time and bandwidth of one collective."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import BYTES, FINITE, emit_json, positive_int
from gputwin.topology.comm_types import CollectiveEstimate, CollectiveOp
from gputwin.units import format_bytes, format_duration

_OPS = [o.value for o in CollectiveOp]
_ALGOS = ["auto", "ring", "tree", "nvls", "hierarchical", "direct"]


def _human(est: CollectiveEstimate) -> str:
    def gbs(x: float) -> str:
        return "n/a" if x == float("inf") else f"{x / 1e9:.1f} GB/s"

    lines = [
        f"{est.op.value} of {format_bytes(est.size_bytes)} on {est.num_gpus} GPUs "
        f"({est.num_nodes} node(s), {est.num_domains} scale-up domain(s))",
        f"  time       {format_duration(est.time_s) if est.time_s else '0 s'}",
        f"  algbw      {gbs(est.algbw_bytes_per_s)}",
        f"  busbw      {gbs(est.busbw_bytes_per_s)}  (nccl-tests convention)",
        f"  algorithm  {est.algorithm}" + (f" / {est.protocol}" if est.protocol else ""),
    ]
    return "\n".join(lines)


@click.command()
@click.option("--op", type=click.Choice(_OPS), default="all_reduce", show_default=True,
              help="Collective operation.")
@click.option("--size", "size_bytes", type=BYTES, required=True,
              help="Buffer size as in nccl-tests, e.g. 1GiB, 256MB.")
@click.option("--num-gpus", type=int, required=True, callback=positive_int,
              help="Ranks in the communicator.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--fabric", default=None, help="Scale-out fabric overriding the system's.")
@click.option("--algorithm", type=click.Choice(_ALGOS), default="auto", show_default=True)
@click.option("--topology", type=click.Choice(["single_node", "rail_optimized", "fat_tree"]),
              default="rail_optimized", show_default=True)
@click.option("--nodes-per-leaf", type=int, default=32, show_default=True,
              callback=positive_int)
@click.option("--oversubscription", type=FINITE, default=1.0, show_default=True,
              help="Leaf down/up bandwidth ratio (>= 1).")
@click.option("--rank-stride", type=int, default=1, show_default=True, callback=positive_int,
              help="Distance between ranks (8 = one GPU per 8-GPU node).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def collective(as_json: bool, **options: Any) -> None:
    """Time of one collective (all-reduce, all-gather, ...) on a GPU fabric."""
    from gputwin.requests import CollectiveRequest, validated
    from gputwin.run.estimate_collective import collective_flag, estimate_collective

    fields = {k: v for k, v in options.items() if v is not None}
    est = estimate_collective(validated(CollectiveRequest, fields, where=collective_flag))
    if as_json:
        emit_json(est.to_dict())
    else:
        click.echo(_human(est))
