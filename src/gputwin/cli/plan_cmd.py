"""``gputwin plan train``: search the training layouts that fit and rank them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import (
    COUNT,
    DURATION,
    FINITE,
    Finite,
    OutPath,
    closed_loop_options,
    emit_json,
    moe_dispatch_options,
    positive_int,
    wide_console,
)
from gputwin.workload.llm_traces import LLM_TRACE_FORMATS

if TYPE_CHECKING:
    from gputwin.run.plan_serve import ServePlan
    from gputwin.run.plan_train import TrainPlan


@click.group()
def plan() -> None:
    """Search configurations: training layouts, serving deployments."""


def _print_plan(result: TrainPlan) -> None:
    """The best layouts as a table, then why the others were not kept (rich only here)."""
    from rich.table import Table

    from gputwin.units import format_bytes, format_duration

    console = wide_console(132)
    req = result.request
    score = _SCORE_COLUMNS.get(req.objective)
    tokens = "1T tokens (no --tokens given)" if req.tokens is None else f"{req.tokens:,.0f} tokens"
    console.print(f"[bold]{req.model}[/bold] on {req.gpu or req.system}, seq {result.seq_len}, "
                  f"ranked by {req.objective}"
                  + ("" if score is None else f": {score[1]} {tokens}"))
    table = Table(show_edge=False)
    for col in ("#", "GPUs", "layout", "GBS", "step", "MFU", "tok/s/GPU", "memory/GPU",
                *([] if score is None else [score[0]]), "loses on"):
        table.add_column(col, justify="left" if col in ("layout", "loses on") else "right")
    for rank, cand in enumerate(result.shown, 1):
        est = cand.estimate
        table.add_row(str(rank), str(cand.num_gpus), layout_text(cand.layout()),
                      str(cand.config.global_batch_size), format_duration(est.step_time_s),
                      f"{est.mfu:.1%}", f"{est.tokens_per_s_per_gpu:,.0f}",
                      format_bytes(est.memory_per_gpu_bytes),
                      *([] if score is None else [score[2](cand.score)]),
                      result.loses_on(cand) or "best")
    console.print(table)
    best = result.result.best.estimate
    if best.time_to_train_s is not None:
        console.print(f"time to train (best): {format_duration(best.time_to_train_s)}")
    rejected = ", ".join(f"{k} {v:,}" for k, v in result.result.rejected.most_common())
    console.print(f"{result.result.num_layouts:,} splits searched, "
                  f"{len(result.result.candidates):,} layouts fit and were timed; not kept: "
                  f"{rejected}")


def _time_text(seconds: float) -> str:
    from gputwin.units import format_duration

    return format_duration(seconds)


#: what a ranking objective ranks by: (column, what the title says, format of the score)
_SCORE_COLUMNS: dict[str, tuple[str, str, Any]] = {
    "time": ("time to train", "time to train", _time_text),
    "cost": ("USD", "USD to train", lambda usd: f"${usd:,.0f}"),
    "energy": ("GPU energy", "GPU energy to train", lambda joules: f"{joules / 3.6e9:,.1f} MWh"),
}


def _recompute_text(lay: dict[str, Any]) -> str:
    """``no-rc``, ``full-rc`` or ``sel-rc(moe_act+mla_up_proj)``."""
    text = {"none": "no-rc", "selective": "sel-rc", "full": "full-rc"}[str(lay["recompute"])]
    modules = lay.get("recompute_modules")
    return f"{text}({'+'.join(modules)})" if modules else text


def layout_text(lay: dict[str, Any]) -> str:
    """``tp8 pp16/v4 cp2 dp64 mbs1 sel z1`` — the parts that differ from the trivial split."""
    parts = [f"tp{lay['tp']}", f"pp{lay['pp']}" + (f"/v{lay['interleave']}"
                                                   if lay["interleave"] > 1 else "")]
    parts += [f"{k}{lay[k]}" for k in ("cp", "ep") if lay[k] > 1]
    parts += [f"dp{lay['dp']}", f"mbs{lay['micro_batch_size']}",
              _recompute_text(lay),
              f"zero{lay['zero_stage']}", str(lay["dtype"])]
    if lay.get("offload_optimizer"):
        parts.append("offload")
    if lay.get("offload_activation_layers"):
        parts.append(f"act-offload{lay['offload_activation_layers']}")
    if lay.get("ep", 1) > 1 and lay.get("ep_dispatcher", "alltoall") != "alltoall":
        parts.append(str(lay["ep_dispatcher"]))
    if lay.get("ep", 1) > 1 and lay.get("ep_dispatch_fp8"):
        parts.append("fp8-dispatch")
    if lay.get("moe_a2a_overlap"):
        parts.append("a2a-overlap")
    if lay.get("pipeline_schedule", "1f1b") != "1f1b":
        parts.append(str(lay["pipeline_schedule"]))
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
              show_default=True, help="'any' tries bf16 and fp8 (those the part supports).")
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
@click.option("--allow-offload", is_flag=True,
              help="Also try CPU offload: the optimizer's state, and (pp 1, no recomputation) "
                   "the activations of the fewest layers that make the layout fit.")
@moe_dispatch_options
@click.option("--try-dualpipe", is_flag=True,
              help="Also time DeepSeek's DualPipe schedule on the layouts that can run it "
                   "(even pp, no interleave, an even number of micro-batches).")
@click.option("--top", type=int, default=5, show_default=True, callback=positive_int)
@click.option("--fabric", default=None, help="Scale-out fabric overriding the system's.")
@click.option("--oversubscription", type=FINITE, default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def train(num_gpus_text: str, dtype: str, as_json: bool, **options: Any) -> None:
    """Search every layout (TP, PP, interleave, CP, EP, DP, micro-batch, recomputation,
    ZeRO/FSDP, sequence parallelism, dtype) that fits, ranked by the objective."""
    from gputwin.plan.train import num_gpus_choices
    from gputwin.requests import TrainPlanRequest, validated
    from gputwin.run.plan_train import plan_train

    _check_owned_pricing(options["provider"], options["pricing"])
    fields = {k: v for k, v in options.items() if v is not None}
    fields["num_gpus"] = list(num_gpus_choices(num_gpus_text))
    fields["dtypes"] = [dtype]
    result = plan_train(validated(TrainPlanRequest, fields, where=_plan_flag))
    if as_json:
        emit_json(result.to_dict())
        return
    _print_plan(result)


def _check_owned_pricing(provider: str, pricing: str) -> None:
    """``--provider owned`` with a ``--pricing`` given: refused, as `estimate energy` does
    (owned GPUs are priced by their full cost of ownership, not a rental pricing)."""
    from gputwin.energy.accounting import owned_pricing_problem

    source = click.get_current_context().get_parameter_source("pricing")
    given = source is not click.core.ParameterSource.DEFAULT
    problem = owned_pricing_problem(provider, pricing if given else None)
    if problem is not None:
        raise click.UsageError(f"--pricing: {problem}")


# ---- plan serve ----------------------------------------------------------------------

# request fields of the plan commands whose option has another name
_PLAN_FLAGS = {"gpus": "--gpu", "kv_caches": "--kv-cache", "engines": "--engine",
               "num_gpus": "--num-gpus", "dtypes": "--dtype", "prune": "--no-prune"}


def _plan_flag(field: str) -> str:
    """The option of ``plan train`` / ``plan serve`` behind request field ``field``."""
    top = field.split(".")[0]
    return _PLAN_FLAGS.get(top) or "--" + top.replace("_", "-")


def _csv(text: str | None, option: str, kind: type = str) -> list[Any] | None:
    """``"a,b"`` → ``["a", "b"]`` (``None`` stays ``None``); bad items raise InputError."""
    from gputwin.errors import InputError

    if text is None:
        return None
    try:
        return [kind(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"expected a comma-separated list, got {text!r}", where=option) from None


@plan.command("serve")
@click.option("--model", required=True, help="Model name (catalog).")
@click.option("--rate", type=FINITE, default=None, help="Requests per second (Poisson).")
@closed_loop_options('Needs --e2e-slo, or --ttft-slo with --tpot-slo.')
@click.option("--input-tokens", type=int, default=None, callback=positive_int,
              help="Prompt tokens per request (fixed).")
@click.option("--output-tokens", type=int, default=None, callback=positive_int,
              help="Output tokens per request (fixed).")
@click.option("--trace", default=None, type=click.Path(dir_okay=False),
              help="Replay a request trace instead of --rate and fixed lengths.")
@click.option("--trace-format", type=click.Choice(LLM_TRACE_FORMATS),
              default="azure", show_default=True)
@click.option("--trace-model", default=None,
              help="BurstGPT --trace: keep only the rows of this Model (e.g. ChatGPT).")
@click.option("--trace-log-type", default=None,
              help="BurstGPT --trace: keep only the rows of this Log Type.")
@click.option("--max-requests", type=int, default=None, callback=positive_int)
@click.option("--speedup", type=Finite(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--ttft-slo", type=DURATION, default=None, help="e.g. 2s")
@click.option("--tpot-slo", type=DURATION, default=None, help="e.g. 100ms")
@click.option("--e2e-slo", type=DURATION, default=None, help="e.g. 30s")
@click.option("--percentile", type=click.Choice(["p50", "p90", "p99"]), default="p99",
              show_default=True, help="Percentile every SLO applies to.")
@click.option("--gpu", "gpus", default=None,
              help="Accelerators, comma-separated [default: every one with a price].")
@click.option("--weights", default=None, help="Weight dtypes, e.g. bf16,fp8 [default: "
              "bf16, fp8 and fp4 where the part supports them].")
@click.option("--kv-cache", "kv_caches", default="bf16,fp8", show_default=True)
@click.option("--max-num-seqs", default="128,256,512", show_default=True)
@click.option("--engine", "engines", default=None,
              help="Engine profiles, e.g. vllm,trtllm [default: every current one; "
              "release profiles such as vllm-v0 only when named].")
@click.option("--max-tp", type=int, default=None, callback=positive_int)
@click.option("--disaggregate", is_flag=True, help="Also try prefill:decode pools.")
@click.option("--max-replicas", type=int, default=64, show_default=True,
              callback=positive_int)
@click.option("--replica-slack", type=int, default=1, show_default=True,
              help="Replicas beyond the estimate's need to try too.")
@click.option("--provider", type=click.Choice(["hyperscaler", "neocloud", "marketplace",
                                               "owned"]), default="neocloud",
              show_default=True)
@click.option("--pricing", type=click.Choice(["on-demand", "reserved", "spot"]),
              default="on-demand", show_default=True)
@click.option("--top", type=int, default=10, show_default=True, callback=positive_int,
              help="Deployments meeting the SLOs to find and show.")
@click.option("--finalists", type=int, default=16, show_default=True, callback=positive_int,
              help="Confirming simulations per round.")
@click.option("--max-simulations", type=int, default=256, show_default=True,
              callback=positive_int)
@click.option("--num-requests", type=int, default=None, callback=positive_int,
              help="Requests per confirming simulation [default: ~60 s of arrivals].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--no-prune", is_flag=True, help="Simulate without the analytic bounds.")
@click.option("--workers", type=int, default=None, callback=positive_int,
              help="Local worker processes [default: the CPUs].")
@click.option("--ray-address", default=None,
              help="Run the simulations on Ray ('local' starts one here).")
@click.option("--out", "out_dir", default=None, type=OutPath(file_okay=False),
              help="Keep candidates.parquet (resumable) and report.html here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def serve(gpus: str | None, weights: str | None, kv_caches: str, max_num_seqs: str,
          engines: str | None, no_prune: bool, workers: int | None, ray_address: str | None,
          out_dir: str | None, as_json: bool, **options: Any) -> None:
    """Search serving deployments (GPU, TP/PP/EP, weights and KV precision, engine, batch
    limit, replicas, prefill:decode) that meet the SLOs; rank by cost per million tokens."""
    import sys
    from pathlib import Path

    from gputwin.requests import ServePlanRequest, validated
    from gputwin.run.plan_serve import plan_serve

    fields = {k: v for k, v in options.items() if v is not None}
    fields.update(gpus=_csv(gpus, "--gpu"), weights=_csv(weights, "--weights"),
                  kv_caches=_csv(kv_caches, "--kv-cache"),
                  max_num_seqs=_csv(max_num_seqs, "--max-num-seqs", int),
                  engines=_csv(engines, "--engine"), prune=not no_prune)
    request = validated(ServePlanRequest, {k: v for k, v in fields.items() if v is not None},
                        where=_plan_flag)
    out = Path(out_dir) if out_dir else None
    show = not as_json and sys.stderr.isatty()
    result = _with_bar(lambda p: plan_serve(request, out_dir=out, workers=workers,
                                            ray_address=ray_address, progress=p), show)
    data = result.to_dict()
    if out is not None:
        from gputwin.report.plan_serve import render_plan_report
        from gputwin.textio import write_text_atomic

        passed = [result.candidate(r) for r in result.passed]
        write_text_atomic(out / "report.html", render_plan_report(data, result.rows, passed),
                          where=f"--out {out}")
    if as_json:
        emit_json(data)
        return
    _print_serve(result, out)


def _with_bar(run: Any, show: bool) -> ServePlan:
    """Run with a rich progress bar of confirming simulations on stderr (when shown)."""
    if not show:
        return run(None)  # type: ignore[no-any-return]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[bold]confirming[/]", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sim", total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run(report)  # type: ignore[no-any-return]


def _print_serve(result: ServePlan, out: Any) -> None:
    from rich.table import Table

    from gputwin.energy.tables import ESTIMATE_FOOTNOTE, ESTIMATE_MARK
    from gputwin.plan.serve import deployment_label

    console = wide_console(140)
    d = result.to_dict()
    req, t = result.request, result.traffic
    limits = ", ".join(f"{name} {_ms(value)}" for name, value in (
        ("TTFT", req.ttft_slo), ("TPOT", req.tpot_slo), ("e2e", req.e2e_slo))
        if value is not None)
    load = (f"{t.rate_per_s:.3g} req/s" if req.concurrency is None else
            f"{req.concurrency} concurrent users (>= {t.rate_per_s:.3g} req/s within the SLOs)")
    console.print(f"[bold]{req.model}[/bold] at {load}, "
                  f"{t.input_tokens:.0f} in / {t.output_tokens:.0f} out tokens; SLOs at "
                  f"{req.percentile}: {limits}; {req.provider}/{req.pricing} prices")
    from gputwin.report.page import skipped_rows_text

    skipped = skipped_rows_text(dict(t.trace_rows_skipped))
    if skipped is not None:
        console.print(f"trace: {skipped}")
    pareto = {c["key"] for c in d["pareto"]}
    table = Table(show_edge=False)
    for col in ("#", "deployment", "GPUs", "$/h", "$/M tok", "TTFT", "TPOT", "e2e",
                "goodput/s", "pareto"):
        table.add_column(col, justify="left" if col == "deployment" else "right")
    pct = req.percentile
    for rank, c in enumerate(d["candidates"], 1):
        est = ESTIMATE_MARK if c["price_estimated"] else ""
        table.add_row(str(rank), deployment_label(c), str(c["gpus"]),
                      f"{est}{c['usd_per_hour']:.2f}",
                      f"{est}{c['cost_usd_per_million_tokens']:.3f}",
                      _ms(c["ttft_s"][pct]), _ms(c["tpot_s"][pct]), _ms(c["e2e_s"][pct]),
                      f"{c['goodput_steady_rps']:.2f}", "*" if c["key"] in pareto else "")
    console.print(table)
    if any(c["price_estimated"] for c in d["candidates"]):
        console.print(ESTIMATE_FOOTNOTE)
    rejected = ", ".join(f"{k} {v:,}" for k, v in result.search.rejected.most_common())
    console.print(f"{d['num_shapes']:,} replica shapes, {d['num_deployments']:,} deployments "
                  f"kept by the analytic bounds (not kept: {rejected or 'none'}); "
                  f"{d['num_simulated']} simulated, {d['num_resumed']} resumed, "
                  f"{d['num_slo_met']} met the SLOs; {d['wall_s']:.1f} s")
    if not d["num_deployments"]:
        console.print("[red]no deployment can meet the SLOs[/red]: every replica shape "
                      "that runs misses them with one request alone, or its replicas "
                      "cannot carry the rate (--max-replicas); see 'not kept'")
    elif not d["candidates"]:
        console.print("[red]no deployment met the SLOs[/red]: relax them, allow more "
                      "replicas (--max-replicas) or more simulations (--max-simulations)")
    if out is not None:
        console.print(f"wrote {out}/candidates.parquet and {out}/report.html")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:,.0f} ms"


