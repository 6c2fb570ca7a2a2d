"""``gputwin estimate dataflow``: serving speed on SRAM-resident parts (Groq, Cerebras)."""

from __future__ import annotations

import click

from gputwin.cli.options import emit_json, positive_int


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
    click.echo(f"{model} on {gpu} (software stack {est.stack}): {est.chips} chips "
               f"({est.weights_bytes / 1e9:.1f} GB weights, {est.kv_bytes / 1e9:.2f} GB KV cache)")
    click.echo(f"  {est.tokens_per_s_per_user:,.0f} tokens/s per user (TPOT "
               f"{est.tpot_s * 1e3:.2f} ms), TTFT {est.ttft_s * 1e3:.1f} ms")
    click.echo(f"  system (pipeline full, upper bound): "
               f"{est.system_output_tokens_per_s:,.0f} output tokens/s")
    notes = []
    if est.speculation_speedup > 1.0:
        notes.append(f"the stack's speculative decoding {est.speculation_speedup:.2f}x")
    if est.system_hops_s > 0.0:
        notes.append(f"{est.system_crossings} crossings between systems "
                     f"({est.system_hops_s * 1e3:.2f} ms per token before the draft)")
    if notes:
        click.echo(f"  includes {' and '.join(notes)} (perf/dataflow.yaml; --stack to change)")
