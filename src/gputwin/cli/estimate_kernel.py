"""``gputwin estimate kernel``: the rate the models give one GEMM or fused attention pass."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import emit_json, positive_int


@click.command()
@click.option("--gpu", required=True, help="Accelerator name (catalog).")
@click.option("--op", type=click.Choice(["gemm", "attention"]), required=True)
@click.option("--dtype", default="bf16", show_default=True, help="Input dtype (a catalog peak).")
@click.option("--m", type=int, default=None, callback=positive_int, help="GEMM rows.")
@click.option("--n", type=int, default=None, callback=positive_int, help="GEMM columns.")
@click.option("--k", type=int, default=None, callback=positive_int, help="GEMM inner dimension.")
@click.option("--head-dim", type=int, default=128, show_default=True, callback=positive_int)
@click.option("--head-dim-v", type=int, default=None, callback=positive_int,
              help="Value head dim [default: --head-dim] (MLA: 128 with --head-dim 192).")
@click.option("--pass", "pass_", type=click.Choice(["fwd", "bwd"]), default="fwd",
              show_default=True)
@click.option("--causal/--no-causal", default=True, show_default=True)
@click.option("--seq", type=int, default=8192, show_default=True, callback=positive_int)
@click.option("--batch", type=int, default=1, show_default=True, callback=positive_int)
@click.option("--heads", type=int, default=32, show_default=True, callback=positive_int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kernel(gpu: str, op: str, dtype: str, m: int | None, n: int | None, k: int | None,
           head_dim: int, head_dim_v: int | None, pass_: str, causal: bool, seq: int,
           batch: int, heads: int, as_json: bool) -> None:
    """TFLOP/s and time of one kernel as the training and serving models price it.

    \b
    Example:
      gputwin estimate kernel --gpu h100-sxm-80gb --op gemm --m 8192 --n 8192 --k 8192
      gputwin estimate kernel --gpu gb200 --op attention --head-dim 128 --pass bwd
    """
    from gputwin.errors import InputError
    from gputwin.perf.kernel import kernel_estimate

    shape: dict[str, Any]
    if op == "gemm":
        if m is None or n is None or k is None:
            raise InputError("a GEMM needs --m, --n and --k", where="--op gemm")
        shape = {"m": m, "n": n, "k": k}
    else:
        shape = {"head_dim": head_dim, "head_dim_v": head_dim_v, "pass": pass_,
                 "causal": causal, "seq": seq, "batch": batch, "heads": heads}
    flags = {"part": "--gpu", "head_dim_v": "--head-dim-v", "head_dim": "--head-dim"}
    est = kernel_estimate(op=op, part=gpu, dtype=dtype, **shape,
                          where=lambda name: flags.get(name, f"--{name}")).to_dict()
    if as_json:
        emit_json(est)
        return
    click.echo(f"{op} on {est['part']} ({dtype}): {est['tflops']:,.1f} TFLOP/s "
               f"({est['efficiency']:.0%} of the {est['peak_tflops']:,.0f} TFLOP/s peak), "
               f"{est['time_ms']:.3f} ms for {est['flop'] / 1e12:,.3f} TFLOP")
    click.echo(f"  inside a training step (sustained_frac applied): "
               f"{est['in_step_tflops']:,.1f} TFLOP/s")
    if "traffic_bytes" in est:
        bound = "memory-bound" if est["memory_bound"] else "compute-bound"
        click.echo(f"  {bound}: {est['traffic_bytes'] / 1e6:,.1f} MB of operands and result "
                   f"at {est['traffic_bytes'] / (est['time_ms'] / 1e3) / 1e9:,.0f} GB/s")
    if "serving_tflops" in est:
        click.echo(f"  serving prefill-attention rate: {est['serving_tflops']:,.1f} TFLOP/s")
    click.echo("  (perf/kernel.py; checked against kernel benchmarks: validate --kind kernel)")
