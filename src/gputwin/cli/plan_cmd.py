"""``gputwin plan train``: search the training layouts that fit and rank them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import COUNT, emit_json, positive_int

if TYPE_CHECKING:
    from gputwin.run.plan_train import TrainPlan


@click.group()
def plan() -> None:
    """Search configurations: training layouts."""


def _print_plan(result: TrainPlan) -> None:
    """The best layouts as a table, then why the others were not kept (rich only here)."""
    from rich.console import Console
    from rich.table import Table

    from gputwin.units import format_bytes, format_duration

    console = Console(width=max(Console().width, 132))
    req = result.request
    console.print(f"[bold]{req.model}[/bold] on {req.gpu or req.system}, seq {result.seq_len}, "
                  f"ranked by {req.objective}")
    table = Table(show_edge=False)
    for col in ("#", "GPUs", "layout", "GBS", "step", "MFU", "tok/s/GPU", "memory/GPU",
                "loses on"):
        table.add_column(col, justify="left" if col in ("layout", "loses on") else "right")
    for rank, cand in enumerate(result.shown, 1):
        est = cand.estimate
        table.add_row(str(rank), str(cand.num_gpus), layout_text(cand.layout()),
                      str(cand.config.global_batch_size), format_duration(est.step_time_s),
                      f"{est.mfu:.1%}", f"{est.tokens_per_s_per_gpu:,.0f}",
                      format_bytes(est.memory_per_gpu_bytes), result.loses_on(cand) or "best")
    console.print(table)
    best = result.result.best.estimate
    if best.time_to_train_s is not None:
        console.print(f"time to train (best): {format_duration(best.time_to_train_s)}")
    rejected = ", ".join(f"{k} {v:,}" for k, v in result.result.rejected.most_common())
    console.print(f"{result.result.num_layouts:,} splits searched, "
                  f"{len(result.result.candidates):,} layouts fit and were timed; not kept: "
                  f"{rejected}")


def layout_text(lay: dict[str, Any]) -> str:
    """``tp8 pp16/v4 cp2 dp64 mbs1 sel z1`` — the parts that differ from the trivial split."""
    parts = [f"tp{lay['tp']}", f"pp{lay['pp']}" + (f"/v{lay['interleave']}"
                                                   if lay["interleave"] > 1 else "")]
    parts += [f"{k}{lay[k]}" for k in ("cp", "ep") if lay[k] > 1]
    parts += [f"dp{lay['dp']}", f"mbs{lay['micro_batch_size']}",
              {"none": "no-rc", "selective": "sel-rc", "full": "full-rc"}[str(lay["recompute"])],
              f"zero{lay['zero_stage']}", str(lay["dtype"])]
    if lay.get("offload_optimizer"):
        parts.append("offload")
    return " ".join(parts)


@plan.command("train")
@click.option("--model", required=True, help="Model name (catalog) or HF config.json path.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--num-gpus", "num_gpus_text", required=True,
              help="GPU count, list (1024,2048) or doubling range (1024:16384).")
@click.option("--global-batch-size", type=int, default=None, callback=positive_int,
              help="Sequences per step [default: ~4M tokens].")
@click.option("--global-batch-tokens", type=COUNT, default=None,
              help="Tokens per step (e.g. 16M) instead of sequences.")
@click.option("--seq-len", type=int, default=None, callback=positive_int,
              help="Sequence length [default: the model's training length].")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp8", "any"]), default="bf16",
              show_default=True, help="'any' tries bf16 and fp8.")
@click.option("--objective", type=click.Choice(["throughput", "time", "cost", "energy"]),
              default="throughput", show_default=True)
@click.option("--tokens", type=COUNT, default=None,
              help="Training tokens: adds time to train, energy and cost.")
@click.option("--provider", type=click.Choice(["hyperscaler", "neocloud", "marketplace",
                                               "owned"]), default="neocloud",
              show_default=True, help="Price book provider (cost objective).")
@click.option("--pricing", type=click.Choice(["on-demand", "reserved", "spot"]),
              default="on-demand", show_default=True)
@click.option("--max-tp", type=int, default=None, callback=positive_int,
              help="Largest tensor-parallel size [default: the scale-up domain].")
@click.option("--allow-offload", is_flag=True, help="Also try optimizer CPU offload.")
@click.option("--top", type=int, default=5, show_default=True, callback=positive_int)
@click.option("--fabric", default=None, help="Scale-out fabric overriding the system's.")
@click.option("--oversubscription", type=float, default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def train(num_gpus_text: str, dtype: str, as_json: bool, **options: Any) -> None:
    """Search every layout (TP, PP, interleave, CP, EP, DP, micro-batch, recomputation,
    ZeRO/FSDP, sequence parallelism, dtype) that fits, ranked by the objective."""
    from gputwin.plan.train import num_gpus_choices
    from gputwin.requests import TrainPlanRequest, validated
    from gputwin.run.plan_train import plan_train

    fields = {k: v for k, v in options.items() if v is not None}
    fields["num_gpus"] = list(num_gpus_choices(num_gpus_text))
    fields["dtypes"] = ["bf16", "fp8"] if dtype == "any" else [dtype]
    result = plan_train(validated(TrainPlanRequest, fields))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_plan(result)
