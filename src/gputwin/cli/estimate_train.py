"""``gputwin estimate train``: step time, MFU, memory and time-to-train of a training job."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args

import click

from gputwin.cli.estimate_failures import (
    failure_options,
    failures_section,
    pop_failure_options,
    print_failures,
    with_failures,
)
from gputwin.cli.options import (
    COUNT,
    DURATION,
    FINITE,
    comma_list,
    emit_json,
    gpus_on,
    moe_dispatch_options,
    option_of,
    positive_int,
)
from gputwin.requests import OffloadModule, PipelineSchedule, RecomputeModule

if TYPE_CHECKING:
    from gputwin.perf.training import TrainingEstimate


def _summary(est: TrainingEstimate, title: str) -> None:
    """Print a short readable summary (rich imported only here)."""
    from rich.console import Console
    from rich.table import Table

    from gputwin.units import format_bytes, format_duration

    d = est.to_dict()
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    head = Table.grid(padding=(0, 2))
    head.add_column(style="dim")
    head.add_column()
    head.add_row("step time", format_duration(est.step_time_s))
    head.add_row("MFU / HFU", f"{est.mfu:.1%} / {est.hfu:.1%}")
    head.add_row("throughput", f"{est.tokens_per_s:,.0f} tokens/s "
                               f"({est.tokens_per_s_per_gpu:,.0f} per GPU)")
    head.add_row("model TFLOP/s per GPU", f"{est.tflops_per_gpu:.0f}")
    cap = est.memory_capacity_bytes
    used = est.memory_per_gpu_bytes
    room = (f"{format_bytes(cap - used)} free" if used <= cap
            else f"[red]over by {format_bytes(used - cap)}: does not fit[/red]")
    head.add_row("memory per GPU", f"{format_bytes(used)} of {format_bytes(cap)} usable "
                                   f"({used / cap:.0%}, {room})")
    mem = d["memory"]
    head.add_row("", "  ".join(f"{k.removesuffix('_bytes')} {format_bytes(v)}"
                               for k, v in mem.items()))
    if d["host_activations_bytes"]:
        head.add_row("host memory", f"{format_bytes(d['host_activations_bytes'])} per GPU of "
                                    "offloaded activations at the peak")
    head.add_row("data parallel", f"{est.dp} (micro-batches per step: "
                                  f"{int(d['num_microbatches'])})")
    if est.num_steps is not None and est.time_to_train_s is not None:
        head.add_row("steps", f"{est.num_steps:,.0f}")
        head.add_row("time to train", format_duration(est.time_to_train_s))
        if est.energy_j is not None:
            head.add_row("energy", f"{est.energy_j / 3.6e9:,.1f} MWh")
    console.print(head)
    table = Table(title="step time breakdown", show_edge=False)
    table.add_column("component")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for key, value in est.breakdown.items():
        if value > 0:
            table.add_row(key.removesuffix("_s"), f"{value:.4g}",
                          f"{value / est.step_time_s:.1%}")
    console.print(table)


def _schedule_text(lay: Any) -> str:
    """``, deepep fp8-dispatch, a2a overlap, dualpipe``: the non-default MoE dispatch and
    pipeline choices of a layout (empty when it has none)."""
    parts = []
    if lay.ep > 1 and lay.ep_dispatcher != "alltoall":
        parts.append(lay.ep_dispatcher + (" fp8-dispatch" if lay.ep_dispatch_fp8 else ""))
    elif lay.ep > 1 and lay.ep_dispatch_fp8:
        parts.append("fp8-dispatch")
    if lay.moe_a2a_overlap:
        parts.append("a2a overlap")
    if lay.pipeline_schedule != "1f1b":
        parts.append(lay.pipeline_schedule)
    return "".join(", " + p for p in parts)


def _memory_saving_text(lay: Any) -> str:
    """``recompute selective (mla_up_proj, mlp)``, ``recompute full (first 5 layers)``,
    ``recompute none, 40 layers offloaded``: what the layout does to save activations."""
    text = f"recompute {lay.recompute}"
    if lay.recompute == "selective":
        text += f" ({', '.join(lay.recompute_modules or ['core_attn'])})"
    elif lay.recompute == "full" and lay.recompute_num_layers:
        text += f" (first {lay.recompute_num_layers} layers per chunk)"
    if lay.offload_activation_layers:
        text += f", {lay.offload_activation_layers} layers offloaded"
    if lay.offload_modules:
        text += f", inputs of {', '.join(lay.offload_modules)} offloaded"
    return text


@click.command()
@click.option("--model", required=True, help="Model name (catalog) or HF config.json path.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--num-gpus", type=int, required=True, callback=positive_int)
@click.option("--global-batch-size", type=int, default=None, callback=positive_int,
              help="Sequences per optimizer step.")
@click.option("--global-batch-tokens", type=COUNT, default=None,
              help="Tokens per optimizer step instead (e.g. 16M): the nearest multiple of "
                   "micro-batch x dp sequences.")
@click.option("--micro-batch-size", type=int, default=1, show_default=True,
              callback=positive_int)
@click.option("--seq-len", type=int, default=None, callback=positive_int,
              help="Sequence length [default: the model's training length (catalog)].")
@click.option("--tp", type=int, default=1, show_default=True, callback=positive_int,
              help="Tensor parallel size.")
@click.option("--pp", type=int, default=1, show_default=True, callback=positive_int,
              help="Pipeline parallel size.")
@click.option("--cp", type=int, default=1, show_default=True, callback=positive_int,
              help="Context parallel size.")
@click.option("--ep", type=int, default=1, show_default=True, callback=positive_int,
              help="Expert parallel size (MoE).")
@click.option("--interleave", type=int, default=1, show_default=True, callback=positive_int,
              help="Virtual pipeline stages per rank (interleaved 1F1B).")
@click.option("--recompute", type=click.Choice(["none", "selective", "full"]),
              default="selective", show_default=True, help="Activation recomputation.")
@click.option("--recompute-modules", default=None, callback=comma_list,
              help="With --recompute selective: the modules to checkpoint, comma-separated, of "
                   f"{', '.join(get_args(RecomputeModule))} (Megatron-Core recompute_modules) "
                   "[default: core_attn].")
@click.option("--recompute-num-layers", type=int, default=None, callback=positive_int,
              help="With --recompute full: recompute only the first N layers of each pipeline "
                   "chunk (Megatron-Core's block method) [default: every layer].")
@click.option("--offload-activation-layers", type=click.IntRange(min=0), default=None,
              help="Layers whose activations go to host memory in the forward pass and come "
                   "back for the backward (Megatron-Core cpu_offloading_num_layers; pp 1, "
                   "recompute none).")
@click.option("--offload-modules", default=None, callback=comma_list,
              help="Modules whose inputs go to host memory in every layer, comma-separated, "
                   f"of {', '.join(get_args(OffloadModule))} (Megatron-Core fine-grained "
                   "activation offloading; any pp).")
@click.option("--main-grads-fp32", is_flag=True, default=None,
              help="Accumulate and reduce gradients in FP32 (Megatron-LM's default with bf16).")
@click.option("--fused-cross-entropy", is_flag=True, default=None,
              help="Transformer Engine's fused cross entropy (NeMo's recipes): the loss keeps "
                   "only the BF16 logits.")
@click.option("--adam-moments-bf16", is_flag=True, default=None,
              help="Keep Adam's moments in BF16 (Megatron-Core's precision-aware optimizer).")
@click.option("--sequence-parallel", is_flag=True, help="Megatron sequence parallelism.")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp8"]), default="bf16",
              show_default=True)
@click.option("--zero-stage", type=click.IntRange(0, 3), default=1, show_default=True,
              help="0 DDP, 1 distributed optimizer, 2 +gradients, 3 FSDP.")
@click.option("--balanced-stages/--even-stages", default=True, show_default=True,
              help="First/last pipeline stages hold fewer layers when pp x interleave does not "
                   "divide the layers (Llama 3 style), or every stage the rounded-up count.")
@click.option("--offload-optimizer", is_flag=True,
              help="Keep Adam's state on the host and step it there (CPU offload).")
@moe_dispatch_options
@click.option("--pipeline-schedule", type=click.Choice(get_args(PipelineSchedule)), default="1f1b",
              show_default=True,
              help="1F1B (interleaved with --interleave > 1) or DeepSeek-V3's DualPipe (even "
                   "--pp; pairs forward and backward chunks so the EP all-to-all hides).")
@click.option("--fabric", default=None, help="Scale-out fabric overriding the system's.")
@click.option("--storage", default=None, help="Storage tier for data and checkpoints.")
@click.option("--tokens", type=COUNT, default=None,
              help="Training tokens (e.g. 300e9 or 1.2T): adds time to train and energy.")
@click.option("--checkpoint-interval", "checkpoint_interval_s", type=DURATION, default=3600.0,
              show_default=True, help="Training time between checkpoints (e.g. 30min).")
@click.option("--oversubscription", type=FINITE, default=1.0, show_default=True,
              help="Leaf down/up bandwidth ratio (>= 1).")
@click.option("--nodes-per-leaf", type=int, default=32, show_default=True,
              callback=positive_int)
@click.option("--num-leaves-spanned", type=int, default=None, callback=positive_int,
              help="Leaf switches the job's nodes sit under [default: packed].")
@click.option("--no-memory-check", "skip_memory_check", is_flag=True,
              help="Estimate a layout whose modelled memory exceeds the GPU's (e.g. one run "
                   "with activation offload, which is not modelled) instead of refusing it; "
                   "the overflow is reported.")
@failure_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def train(ctx: click.Context, /, as_json: bool, skip_memory_check: bool,
          **options: Any) -> None:
    """Step time, MFU, memory and time-to-train of one training job."""
    from gputwin.requests import TrainRequest
    from gputwin.run.estimate_train import estimate_train

    failures = pop_failure_options(ctx, options)
    request = TrainRequest.from_flat({k: v for k, v in options.items() if v is not None},
                                     where=option_of(ctx.command))
    est = estimate_train(request, check_memory=not skip_memory_check)
    goodput = None if failures is None else failures_section(request, est, failures)
    if as_json:
        emit_json(est.to_dict() if goodput is None else with_failures(est.to_dict(), goodput))
        return
    lay = request.layout
    on = gpus_on(request.num_gpus, request.gpu, request.system)
    _summary(est, f"{request.model} on {on}: tp={lay.tp} pp={lay.pp} "
                  f"cp={lay.cp} ep={lay.ep} dp={est.dp}, {lay.dtype}{_schedule_text(lay)}, "
                  f"{_memory_saving_text(lay)}")
    if goodput is not None:
        print_failures(goodput)
