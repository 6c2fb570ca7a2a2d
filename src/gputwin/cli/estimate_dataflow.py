"""``gputwin estimate dataflow``: serving speed on SRAM-resident parts (Groq, Cerebras)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from gputwin.cli.options import emit_json, positive_int

if TYPE_CHECKING:
    from gputwin.perf.dataflow import DataflowEstimate


@click.command()
@click.option("--model", required=True, help="Model name (catalog).")
@click.option("--gpu", required=True, help="groq-lpu or cerebras-wse3 (perf/dataflow.yaml).")
@click.option("--input-tokens", type=int, default=512, show_default=True, callback=positive_int)
@click.option("--output-tokens", type=int, default=512, show_default=True,
              callback=positive_int)
@click.option("--batch-size", type=int, default=1, show_default=True, callback=positive_int,
              help="Sequences per pipeline stage.")
@click.option("--weights", default=None, help="Weight dtype [default: the part's].")
@click.option("--stack", default=None,
              help="Vendor software release, e.g. 2024-08 (perf/dataflow.yaml) [default: the "
                   "part's newest].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def dataflow(model: str, gpu: str, input_tokens: int, output_tokens: int, batch_size: int,
             weights: str | None, stack: str | None, as_json: bool) -> None:
    """Chips needed, tokens/s per user and system rate of a model held in on-chip SRAM.

    \b
    Example:
      gputwin estimate dataflow --model llama2-70b --gpu groq-lpu
      gputwin estimate dataflow --model llama3.1-70b --gpu cerebras-wse3 --stack 2024-08
    """
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.dataflow import estimate_dataflow

    cat = default_catalog()
    est = estimate_dataflow(cat.accelerator(gpu, where="--gpu"), cat.model(model, where="--model"),
                            input_tokens=input_tokens,
                            output_tokens=output_tokens, batch_size=batch_size,
                            weights_dtype=weights, stack=stack)
    if as_json:
        emit_json({"model": model, "gpu": gpu, **est.to_dict()})
        return
    for line in describe(model, gpu, est):
        click.echo(line)


def describe(model: str, gpu: str, est: DataflowEstimate) -> list[str]:
    """The text report: what was sized, the speed, and what it assumes."""
    from gputwin.perf.dataflow import dataflow_parts

    part = dataflow_parts()[gpu]
    noun = part.chip_noun
    spec = part.stacks[est.stack].speculation
    lines = [
        f"{model} on {gpu} (software stack {est.stack}): {est.chips:,} {noun}",
        f"  holding {est.weights_bytes / 1e9:.1f} GB of {est.weights_dtype} weights and "
        f"{est.kv_bytes / 1e9:.2f} GB of KV cache in SRAM ({est.usable_sram_frac:.0%} of "
        "each chip's SRAM counted usable)",
        f"  {est.tokens_per_s_per_user:,.0f} output tokens/s per user (TPOT "
        f"{est.tpot_s * 1e3:.2f} ms), TTFT {est.ttft_s * 1e3:.1f} ms",
        "  (one request on the pipeline, without network or queueing; vendor listings vary "
        "with load)",
        f"  system (pipeline full, upper bound): "
        f"{est.system_output_tokens_per_s:,.0f} output tokens/s",
        f"  assumes {est.layer_latency_s * 1e6:.1f} us fixed latency per layer crossing "
        f"(the stack's, fitted to published speeds)"]
    if est.draft_tokens > 0:
        lines.append(f"  includes speculative decoding {est.speculation_speedup:.2f}x: a "
                     f"{est.draft_model}-sized draft proposes {est.draft_tokens} "
                     f"token{'s' if est.draft_tokens != 1 else ''} per "
                     f"target pass, each accepted with probability {est.draft_acceptance:.2f}")
    elif est.speculation_speedup > 1.0:
        lines.append(f"  includes the stack's speculative decoding as an effective "
                     f"{est.speculation_speedup:.2f}x (fitted; no draft model is simulated)")
    elif spec is not None:
        who = (", ".join(spec.models) if spec.models is not None
               else f"models of {spec.min_params / 1e9:.0f}B+ parameters")
        lines.append(f"  no speculative decoding for this model: the stack drafts only for {who}")
    if est.system_hops_s > 0.0:
        lines.append(f"  includes {est.system_crossings} crossings between systems "
                     f"({est.system_hops_s * 1e3:.2f} ms per token before the draft)")
    lines.append("  (perf/dataflow.yaml; --stack for another release, --weights for another "
                 "precision)")
    return lines
