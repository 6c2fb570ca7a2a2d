"""``gputwin estimate serve``: TTFT, TPOT, throughput and memory of an inference replica."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gputwin.cli.options import Finite, emit_json, gpus_on, positive_int, wide_ep_options
from gputwin.perf.engines import default_engine, engine_names
from gputwin.perf.speculation import DRAFT_KINDS

if TYPE_CHECKING:
    from gputwin.run.estimate_serve import ServingEstimate


def _summary(est: ServingEstimate, title: str, bucket: int | None = None) -> None:
    """Print a short readable summary (rich imported only here)."""
    from rich.console import Console
    from rich.table import Table

    from gputwin.units import format_bytes, format_duration

    d = est.to_dict()
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim")
    t.add_column()
    t.add_row("TTFT (mean / last of batch)",
              f"{format_duration(est.ttft_s)} / {format_duration(est.ttft_max_s)}")
    padded = f" (padded to its {bucket}-token context bucket)" if bucket else ""
    t.add_row("prefill, one prompt", format_duration(est.prefill_time_single_s) + padded)
    t.add_row("TPOT (steady state)", format_duration(est.tpot_s))
    t.add_row("decode step (pure)", format_duration(est.decode_step_time_s))
    t.add_row("end-to-end latency", format_duration(est.e2e_latency_s))
    t.add_row("throughput", f"{est.throughput_tokens_per_s:,.0f} output tokens/s")
    t.add_row("max batch (memory)", f"{est.max_batch_size_by_memory} sequences at the full "
                                    "context (input + output)")
    t.add_row("max throughput", f"{est.max_throughput_tokens_per_s:,.0f} output tokens/s at "
                                f"batch {est.max_throughput_batch_size} (steady state: "
                                "sequences at every age, mean context input + output/2)")
    t.add_row("weights per GPU", format_bytes(d["weights_bytes_per_gpu"]))
    t.add_row("KV per token", f"{format_bytes(d['kv_bytes_per_token_total'])} "
                              f"({format_bytes(d['kv_bytes_per_token_per_gpu'])} per GPU)")
    t.add_row("KV capacity", f"{d['kv_capacity_tokens']:,.0f} tokens")
    t.add_row("memory per GPU", f"{format_bytes(d['usable_memory_bytes'])} usable of "
                                f"{format_bytes(d['memory_capacity_bytes'])}; set aside beside "
                                "the weights: activation peak "
                                f"{format_bytes(d['activation_peak_bytes_per_gpu'])}, runtime "
                                f"{format_bytes(d['runtime_bytes_per_gpu'])}")
    if d["decode_tokens_per_step"] > 1:
        t.add_row("tokens per spec step", f"{d['decode_tokens_per_step']:.2f}")
    if "spec_speedup" in d:
        t.add_row("speculation speed-up", f"TPOT x{d['spec_speedup']:.2f}, throughput "
                                          f"x{d['spec_throughput_speedup']:.2f} (vs no drafts)")
    console.print(t)


def _buckets(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    """``--context-buckets 2048,4096`` -> [2048, 4096] (positive whole numbers)."""
    if value is None:
        return None
    try:
        out = [int(v) for v in value.split(",")] if value.strip() else []
    except ValueError:
        raise click.BadParameter(f"expected comma-separated token counts, got {value!r}",
                                 ctx, param) from None
    if not out or min(out) < 1:
        raise click.BadParameter(f"expected positive token counts, got {value!r}", ctx, param)
    return out


@click.command()
@click.option("--model", required=True, help="Model name (catalog) or HF config.json path.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--tp", type=int, default=1, show_default=True, callback=positive_int,
              help="Tensor parallel size of one replica.")
@click.option("--pp", type=int, default=1, show_default=True, callback=positive_int,
              help="Pipeline parallel size of one replica.")
@click.option("--ep", type=int, default=1, show_default=True, callback=positive_int,
              help="Expert parallel size: inside the TP group, or tp x dp-attention.")
@wide_ep_options
@click.option("--input-tokens", type=int, required=True, callback=positive_int)
@click.option("--output-tokens", type=int, required=True, callback=positive_int)
@click.option("--batch-size", type=int, default=1, show_default=True, callback=positive_int,
              help="Concurrent sequences.")
@click.option("--num-replicas", type=int, default=1, show_default=True, callback=positive_int,
              help="Replicas (multiplies the max throughput).")
@click.option("--weights", type=click.Choice(["bf16", "fp16", "fp8", "int8", "int4", "fp4",
                                             "nvfp4", "mxfp4"]),
              default="bf16", show_default=True,
              help="Weight quantisation; fp4 = the model's FP4 format (nvfp4 unless it ships "
                   "mxfp4); weight-only without FP4 tensor cores.")
@click.option("--kv-cache", type=click.Choice(["bf16", "fp8"]), default="bf16",
              show_default=True, help="KV-cache dtype.")
@click.option("--spec-tokens", type=click.IntRange(0, 16), default=0, show_default=True,
              help="Speculative tokens per step (0 = off).")
@click.option("--acceptance", type=Finite(0.0, 1.0), default=0.7,
              show_default=True, help="Per-token acceptance rate of the proposals.")
@click.option("--draft-model", default=None, help="Draft model (catalog) for speculation.")
@click.option("--spec-kind", default=None,
              type=click.Choice(DRAFT_KINDS),
              help="Proposer [default: draft_model with --draft-model]; fused_draft: the "
              "draft compiled into the target's graph (NxD Inference fused speculation).")
@click.option("--max-num-seqs", type=int, default=None, callback=positive_int,
              help="Engine batch limit [default: the engine's for the part: vLLM 1,024 on "
              "CUDA/ROCm GPUs of 70 GiB or more but A100s, 256 below].")
@click.option("--max-num-batched-tokens", type=int, default=None, callback=positive_int,
              help="Token budget of one step (chunked prefill) [default: the engine's for "
              "the part: vLLM 8,192 on those large GPUs, 2,048 below].")
@click.option("--calibration", type=click.Path(dir_okay=False), default=None,
              help="Calibration YAML from `gputwin calibrate`.")
@click.option("--engine", default=default_engine(), show_default=True,
              type=click.Choice(engine_names()),
              help="Engine profile: host overheads and kernel efficiencies "
                   "(docs/serving-engines.md); batch limits stay as given.")
@click.option("--context-buckets", default=None, callback=_buckets,
              help="Compiled context-encoding lengths, e.g. 2048,4096,8192,12288 (AWS "
                   "Neuron): the prompt is prefilled padded to the smallest that holds it.")
@click.option("--kv-cache-length", type=int, default=None, callback=positive_int,
              help="Static KV cache per batch slot, in tokens (JetStream's dense cache, "
                   "e.g. max_cache_length 2048): decode attention reads every slot's whole "
                   "cache each step [default: the tokens held, paged].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def serve(model: str, gpu: str | None, system: str | None, tp: int, pp: int, ep: int,
          dp_attention: int, redundant_experts: int, ep_imbalance: float | None,
          input_tokens: int, output_tokens: int, batch_size: int, num_replicas: int,
          weights: str, kv_cache: str, spec_tokens: int, acceptance: float,
          draft_model: str | None, spec_kind: str | None, max_num_seqs: int | None,
          max_num_batched_tokens: int | None, calibration: str | None, engine: str,
          context_buckets: list[int] | None, kv_cache_length: int | None,
          as_json: bool) -> None:
    """TTFT, TPOT, throughput and memory of one inference replica."""
    from gputwin.perf.serving_load import bucketed_prompt_tokens
    from gputwin.perf.split import Split, cli_flag
    from gputwin.requests import ServeRequest, validated
    from gputwin.run.estimate_serve import estimate_serve

    fields = dict(
        model=model, gpu=gpu, system=system, tp=tp, pp=pp, ep=ep, dp_attention=dp_attention,
        redundant_experts=redundant_experts, ep_imbalance=ep_imbalance,
        input_tokens=input_tokens,
        output_tokens=output_tokens, batch_size=batch_size, num_replicas=num_replicas,
        weights=weights, kv_cache=kv_cache, spec_tokens=spec_tokens, acceptance=acceptance,
        draft_model=draft_model, spec_kind=spec_kind, max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens, calibration=calibration,
        engine=engine, context_buckets=context_buckets, kv_cache_length=kv_cache_length,
    )
    est = estimate_serve(validated(ServeRequest, {k: v for k, v in fields.items()
                                                  if v is not None}, where=cli_flag))
    if as_json:
        emit_json(est.to_dict())
        return
    split = Split(tp=tp, pp=pp, ep=ep, dp_attention=dp_attention)
    on = gpus_on(split.replica_gpus, gpu, system)
    _summary(est, f"{model} on {on}, {split.label}, weights {weights}, "
                  f"KV {kv_cache}, batch {batch_size}, {input_tokens}->{output_tokens} tokens",
             bucketed_prompt_tokens(input_tokens, context_buckets) if context_buckets else None)
