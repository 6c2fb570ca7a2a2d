"""``gputwin simulate serve``: an LLM serving fleet built from command-line options.

The options become a serving scenario (:mod:`gputwin.scenario.serving`), so the CLI and
scenario files share one validated path. Lengths accept ``512`` (fixed), ``100-2000``
(uniform) or ``lognormal:MEAN/MEDIAN``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import (
    DURATION,
    FINITE,
    NO_TIMING_HELP,
    OUT_HELP,
    OUTPUTS_HELP,
    SERVE_HELP,
    Finite,
    OutPath,
    closed_loop_options,
    fill_help,
    positive_int,
    wide_ep_options,
)
from gputwin.errors import InputError
from gputwin.perf.engines import CAPACITY_POLICIES, default_engine, engine_names
from gputwin.perf.speculation import DEFAULT_DRAFT_KIND, DRAFT_KINDS, DRAFT_MODEL_KINDS
from gputwin.units import format_grams
from gputwin.workload.llm_traces import LLM_TRACE_FORMATS

if TYPE_CHECKING:
    from gputwin.run.serving_results import ServingResult


#: What ``simulate serve`` runs when no model or hardware is named (the model and GPU of the
#: serving benchmarks in BENCHMARKS.md); the summary names both.
DEFAULT_MODEL = "llama3.1-8b"
DEFAULT_GPU = "h100-sxm-80gb"


class RouterChoice(click.Choice):  # type: ignore[type-arg]
    """``--router``: the router registry's names, read on first use (importing the
    serving package while building the command would slow down ``simulate --help``)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from gputwin.serving.router import router_names

        return router_names()

    @choices.setter
    def choices(self, value: object) -> None:
        pass  # derived from the registry


def parse_length(text: str, option: str) -> dict[str, Any]:
    """``"512"`` → fixed, ``"100-2000"`` → uniform, ``"lognormal:1000/600"`` → lognormal."""
    s = text.strip()
    if m := re.fullmatch(r"(\d+)", s):
        return {"dist": "fixed", "value": int(m[1])}
    if m := re.fullmatch(r"(\d+)\s*-\s*(\d+)", s):
        return {"dist": "uniform", "low": int(m[1]), "high": int(m[2])}
    if m := re.fullmatch(r"lognormal:([\d.]+)/([\d.]+)(?::(\d+))?", s):
        out: dict[str, Any] = {"dist": "lognormal", "mean": float(m[1]), "median": float(m[2])}
        if m[3]:
            out["high"] = int(m[3])
        return out
    raise InputError(f"expected N, LOW-HIGH or lognormal:MEAN/MEDIAN[:MAX], got {text!r}",
                     where=option)


@click.command()
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Catalog model name (or HF config.json).")
@click.option("--gpu", default=None, help="Accelerator, e.g. b200 [default: "
              f"{DEFAULT_GPU} when neither --gpu nor --system is given].")
@click.option("--system", default=None, help="System (node type) instead of --gpu.")
@click.option("--tp", default=1, show_default=True, type=int, callback=positive_int)
@click.option("--pp", default=1, show_default=True, type=int, callback=positive_int)
@click.option("--ep", default=1, show_default=True, type=int, callback=positive_int,
              help="Expert parallel size: inside --tp, or --tp x --dp-attention (wide EP).")
@wide_ep_options
@click.option("--weights", "weights_dtype", default="bf16", show_default=True,
              type=click.Choice(["bf16", "fp16", "fp8", "int8", "int4", "fp4", "nvfp4",
                                 "mxfp4"]),
              help="Weight format; fp4 = the model's FP4 format (nvfp4 unless it ships "
                   "mxfp4); weight-only without FP4 tensor cores.")
@click.option("--kv-cache", "kv_cache_dtype", default=None, type=click.Choice(["bf16", "fp8"]),
              help="KV-cache dtype [default: the engine's: bf16 for vLLM/SGLang, fp8 for "
                   "TensorRT-LLM with fp8/fp4 weights].")
@click.option("--engine", default=default_engine(), show_default=True,
              type=click.Choice(engine_names()),
              help="Serving engine profile: scheduling defaults, host overheads, kernel "
                   "efficiencies and KV layout (docs/serving-engines.md).")
@click.option("--replicas", default=1, show_default=True, type=int, callback=positive_int)
@click.option("--trace", "trace", default=None, type=click.Path(path_type=Path),
              help="Replay a request trace instead of synthetic arrivals.")
@click.option("--trace-format", default="azure", show_default=True,
              type=click.Choice(LLM_TRACE_FORMATS),
              help="Format of --trace or --length-trace.")
@click.option("--trace-model", default=None,
              help="BurstGPT --trace: replay only the rows of this Model (e.g. ChatGPT).")
@click.option("--trace-log-type", default=None,
              help="BurstGPT --trace: replay only the rows of this Log Type (e.g. "
                   "'Conversation log').")
@click.option("--length-trace", default=None, type=click.Path(path_type=Path),
              help="Synthetic arrivals (--rate, --arrival) with prompt/output lengths "
                   "taken from this trace instead of --input-tokens/--output-tokens.")
@click.option("--length-sample", default="sequential", show_default=True,
              type=click.Choice(["sequential", "random"]),
              help="--length-trace: the trace's requests in order (from the start again "
                   "when it runs out), or drawn at random (seeded).")
@click.option("--max-requests", default=None, type=int, callback=positive_int,
              help="Keep the first N requests of the trace.")
@click.option("--speedup", default=1.0, show_default=True, type=Finite(0, min_open=True),
              help="Replay the trace this many times faster.")
@click.option("--rate", default=None, type=FINITE, help="Synthetic arrivals per second.")
@closed_loop_options()
@click.option("--num-requests", default=1000, show_default=True, type=int,
              callback=positive_int)
@click.option("--warmup-requests", default=0, show_default=True, type=click.IntRange(0),
              help="Leave the first N synthetic requests out of the metrics: a benchmark "
              "client's warm-up (AIPerf --warmup-request-count); they still load the server.")
@click.option("--arrival", default="poisson", show_default=True,
              type=click.Choice(["poisson", "gamma", "bursty", "fixed"]))
@click.option("--cv", default=1.0, show_default=True, type=FINITE, help="Gamma arrivals' CV.")
@click.option("--repeat", default=1, show_default=True, type=int, callback=positive_int,
              help="Send each distinct synthetic prompt this many times (prefix caching).")
@click.option("--input-tokens", default=None, help="N | LOW-HIGH | lognormal:MEAN/MEDIAN[:MAX] "
              "[default: lognormal:1000/600:MAX, MAX = min(16000, model context / 2)]")
@click.option("--output-tokens", default=None, help="N | LOW-HIGH | lognormal:MEAN/MEDIAN[:MAX] "
              "[default: lognormal:250/150:MAX, MAX = min(4000, model context / 2)]")
@click.option("--spec-tokens", default=0, show_default=True, type=int,
              help="Speculative decoding: draft tokens per step (0 = off).")
@click.option("--acceptance", default=0.7, show_default=True, type=Finite(0, 1))
@click.option("--draft-kind", default=None, type=click.Choice(DRAFT_KINDS),
              help=f"Speculative decoding: how drafts are made [default: {DEFAULT_DRAFT_KIND}].")
@click.option("--draft-model", default=None,
              help=f"Catalog model of the draft (--draft-kind {' or '.join(DRAFT_MODEL_KINDS)}).")
@click.option("--router", default="least_outstanding", show_default=True,
              type=RouterChoice())
@click.option("--max-num-seqs", default=None, type=int, callback=positive_int,
              help="Running sequences at most [default: the engine's]; per attention-DP "
                   "rank for TensorRT-LLM, per replica otherwise.")
@click.option("--max-num-batched-tokens", default=None, type=int, callback=positive_int,
              help="Tokens per step at most [default: the engine's]; per attention-DP "
                   "rank for TensorRT-LLM.")
@click.option("--block-size", default=None, type=int, callback=positive_int,
              help="KV block size in tokens [default: the engine's].")
@click.option("--gpu-memory-utilization", default=None, type=FINITE,
              help="KV memory fraction [default: the engine's].")
@click.option("--no-prefix-caching", is_flag=True)
@click.option("--chunked-prefill/--no-chunked-prefill", "chunked_prefill", default=None,
              help="Chunked prefill [default: the engine's: on for vLLM/SGLang, off for "
                   "TensorRT-LLM].")
@click.option("--preemption", default="recompute", show_default=True,
              type=click.Choice(["recompute", "swap"]))
@click.option("--num-scheduler-steps", default=1, show_default=True, type=int,
              callback=positive_int,
              help="vLLM V0 multi-step scheduling: the scheduler runs once per N decode "
                   "steps, so arrivals wait for the run's end.")
@click.option("--prefill-min-free-kv", default=0.0, show_default=True,
              type=Finite(0, 1, max_open=True),
              help="Admit a new prefill only while this share of the KV blocks is free "
                   "(AMD's MLPerf vLLM VLLM_SCHED_PREFILL_KVC_FREEPCT / 100; 0 = off).")
@click.option("--capacity-policy", type=click.Choice(list(CAPACITY_POLICIES)), default=None,
              help="How the scheduler admits against KV capacity [default: the engine's]: "
                   "greedy (vLLM; TensorRT-LLM MAX_UTILIZATION), no_evict (TensorRT-LLM "
                   "GUARANTEED_NO_EVICT) or new_token_ratio (SGLang).")
@click.option("--cuda-graph-padding/--no-cuda-graph-padding", default=None,
              help="Pad a pure-decode batch to the next captured CUDA-graph size "
                   "[default: the engine's].")
@click.option("--enable-mixed-chunk", is_flag=True, default=None,
              help="SGLang --enable-mixed-chunk: the running requests decode inside prefill "
                   "batches [default: off, prefill batches run apart from decode batches].")
@click.option("--adp-enable-balance", is_flag=True,
              help="TensorRT-LLM attention-DP balance (attention_dp_config.enable_balance): "
                   "hold context requests until every attention-DP rank has one.")
@click.option("--adp-timeout-iters", default=50, show_default=True, type=int,
              help="TensorRT-LLM attention_dp_config.timeout_iters.")
@click.option("--adp-batching-wait-iters", default=10, show_default=True, type=int,
              help="TensorRT-LLM attention_dp_config.batching_wait_iters.")
@click.option("--batch-wait-timeout-iters", default=0, show_default=True, type=int,
              help="TensorRT-LLM batch waiting (no attention DP): hold context requests "
                   "up to N iterations (0 = off).")
@click.option("--batch-wait-max-tokens-ratio", default=0.0, show_default=True, type=FINITE,
              help="TensorRT-LLM batch_wait_max_tokens_ratio: release held context "
                   "requests once a step's tokens reach this share of the budget.")
@click.option("--disaggregate", default=None, metavar="P:D",
              help="Disaggregated prefill/decode with P prefill and D decode replicas.")
@click.option("--ttft-slo", default=None, type=DURATION, help="e.g. 2s")
@click.option("--tpot-slo", default=None, type=DURATION, help="e.g. 100ms")
@click.option("--region", default=None,
              help="Grid region of the site (e.g. US-CAL-CISO, GB, SG) [default: US-CAL-CISO].")
@click.option("--cooling", default=None, type=click.Choice(["air", "air-legacy", "liquid",
                                                            "immersion"]),
              help="Facility cooling [default: liquid for liquid-cooled systems, else air].")
@click.option("--provider", default=None,
              type=click.Choice(["hyperscaler", "neocloud", "marketplace", "owned"]),
              help="Price book class, or owned (full cost of ownership) [default: the first "
              "class the price book lists the part at: neocloud, hyperscaler, marketplace].")
@click.option("--pricing", default=None, type=click.Choice(["on-demand", "reserved", "spot"]),
              help="Price book pricing [default: the first listed: on-demand, reserved, "
              "spot].")
@click.option("--start", default=None,
              help="Date of simulated time 0 in the grid year [default: 2023-01-01T00:00].")
@click.option("--horizon", default=None, type=DURATION, help="Stop at this simulated time.")
@click.option("--no-skip", is_flag=True, help="Step by step (reference; slower).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_dir", default=None,  # policy: gputwin.run.outputs
              type=OutPath(file_okay=False), help=OUT_HELP)
@click.option("--outputs", default=None, metavar="LIST", help=OUTPUTS_HELP)
@click.option("--no-timing", is_flag=True, help=NO_TIMING_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True)
def serve(**opts: Any) -> None:
    """Simulate an LLM serving fleet: TTFT, TPOT, throughput, goodput, energy, cost.

    The load is required, one of: --trace FILE (replay a trace), --rate QPS (synthetic
    open-loop arrivals) or --concurrency N (closed-loop clients). --num-requests and the
    synthetic lengths apply to --rate and --concurrency only."""
    from gputwin.cli.simulate_cmd import run_serving

    _refuse_unused(opts)
    sc = build_scenario(opts)
    run_serving(sc, opts["out_dir"], opts["as_json"], opts["quiet"], opts["no_timing"],
                opts["outputs"])


fill_help(serve, SERVE_HELP)  # help texts of the options above that have none


def _refuse_unused(opts: dict[str, Any]) -> None:
    """Refuse options given on the command line that the run's load would ignore (their
    defaults pass: click's parameter source tells the two apart)."""
    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

    if opts["concurrency"] is not None:  # a closed loop has no arrival process
        for name in ("arrival", "cv"):
            if given(name):
                raise InputError(f"--{name} shapes open-loop arrivals (--rate); closed-loop "
                                 "clients send as responses come back", where=f"--{name}")
    if opts["trace"] is None:
        return
    if opts["rate"] is not None:
        raise InputError("give --trace (replay its arrivals) or --rate (synthetic arrivals), "
                         "not both", where="--rate")
    for name, what in (("num_requests", "--max-requests keeps the first N"),
                       ("arrival", "its own arrival times"), ("cv", "its own arrival times"),
                       ("input_tokens", "its own lengths"),
                       ("output_tokens", "its own lengths")):
        if given(name):
            flag = "--" + name.replace("_", "-")
            raise InputError("applies to synthetic requests (--rate, --concurrency); a "
                             f"replayed --trace sends its own rows ({what})", where=flag)


def build_scenario(o: dict[str, Any]) -> Any:
    """The :class:`ServingScenario` the options describe (raises :class:`InputError`)."""
    from pydantic import ValidationError

    from gputwin.catalog.loader import default_catalog
    from gputwin.scenario.serving import ServingScenario, check_serving, resolve_trace_paths
    from gputwin.yaml_io import validation_error_to_input_error

    service, source = _service_options(o), _workload_source(o)
    section: dict[str, Any] = {"services": [service], "workload": [source]}
    site = {k: o[k] for k in _SITE_OPTIONS if o[k] is not None}
    data = {"name": "serve", "seed": o["seed"], "horizon": o["horizon"], "site": site,
            "serving": section}
    try:
        sc = ServingScenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, "options", flag_of=_flag_of) from None

    def where(key: tuple[Any, ...]) -> str:
        if key[:1] == ("site",) and key[-1] not in _SITE_OPTIONS:
            return "--cooling" if key[-1] == "racks" else "site"
        return _flag_of(key) or "--" + str(key[-1]).replace("_", "-")

    check_serving(sc, default_catalog(), where)
    return resolve_trace_paths(
        sc, Path.cwd(), lambda key: "--length-trace" if "lengths" in key else "--trace")


# Scenario fields built from options that are not named after them (the rest are:
# ``max_num_seqs`` comes from ``--max-num-seqs``).
_WORKLOAD_FLAGS = {
    "prompt": "--input-tokens", "output": "--output-tokens", "rate": "--rate", "cv": "--cv",
    "process": "--arrival", "num_requests": "--num-requests", "concurrency": "--concurrency",
    "think_time": "--think-time", "repeat": "--repeat", "speedup": "--speedup",
    "warmup_requests": "--warmup-requests",
    "max_requests": "--max-requests", "path": "--trace", "lengths": "--length-trace",
    "sample": "--length-sample", "format": "--trace-format", "model_filter": "--trace-model",
    "log_type": "--trace-log-type"}
_SERVICE_FLAGS = {
    "weights_dtype": "--weights", "kv_cache_dtype": "--kv-cache", "name": "--engine",
    "enable_chunked_prefill": "--chunked-prefill", "enable_prefix_caching":
    "--no-prefix-caching", "preemption_mode": "--preemption", "skip_decode_steps": "--no-skip",
    "num_tokens": "--spec-tokens", "acceptance": "--acceptance", "kind": "--draft-kind",
    "draft_model": "--draft-model", "prefill_replicas": "--disaggregate",
    "decode_replicas": "--disaggregate", "disaggregation": "--disaggregate",
    "ttft": "--ttft-slo", "tpot": "--tpot-slo",
    "speculative": "--spec-tokens", "prefill_min_free_kv_frac": "--prefill-min-free-kv"}
_SITE_OPTIONS = ("region", "cooling", "provider", "pricing", "start")


def _flag_of(loc: tuple[Any, ...]) -> str | None:
    """The option of ``simulate serve`` that set scenario field ``loc`` (None: not one)."""
    names = [p for p in loc if isinstance(p, str)]
    if loc[:2] == ("serving", "workload"):
        return next((_WORKLOAD_FLAGS[p] for p in names[2:] if p in _WORKLOAD_FLAGS), None)
    if loc[:2] == ("serving", "services") and len(names) > 2:
        own = next((_SERVICE_FLAGS[p] for p in reversed(names[2:]) if p in _SERVICE_FLAGS),
                   None)
        return own or "--" + names[-1].replace("_", "-")
    if names[:1] == ["site"] and len(names) > 1 and names[1] in _SITE_OPTIONS:
        return "--" + names[1]
    return "--horizon" if names[:1] == ["horizon"] else None


_CONTEXT_HOLD_FLAGS = ("adp_enable_balance", "adp_timeout_iters", "adp_batching_wait_iters",
                       "batch_wait_timeout_iters", "batch_wait_max_tokens_ratio")


def _service_options(o: dict[str, Any]) -> dict[str, Any]:
    """The one service of a ``simulate serve`` run, as scenario data."""
    gpu = DEFAULT_GPU if o["gpu"] is None and o["system"] is None else o["gpu"]
    service: dict[str, Any] = {
        "name": "default", "model": o["model"], "gpu": gpu, "system": o["system"],
        "tp": o["tp"], "pp": o["pp"], "ep": o["ep"], "weights_dtype": o["weights_dtype"],
        "dp_attention": o["dp_attention"], "redundant_experts": o["redundant_experts"],
        "ep_imbalance": o["ep_imbalance"],
        "kv_cache_dtype": o["kv_cache_dtype"], "replicas": o["replicas"], "router": o["router"],
        "engine": {"name": o["engine"], "block_size": o["block_size"],
                   "max_num_seqs": o["max_num_seqs"],
                   "max_num_batched_tokens": o["max_num_batched_tokens"],
                   "gpu_memory_utilization": o["gpu_memory_utilization"],
                   "enable_prefix_caching": not o["no_prefix_caching"],
                   "enable_chunked_prefill": o["chunked_prefill"],
                   "preemption_mode": o["preemption"], "skip_decode_steps": not o["no_skip"],
                   "num_scheduler_steps": o["num_scheduler_steps"],
                   "enable_mixed_chunk": o["enable_mixed_chunk"] or None,
                   "prefill_min_free_kv_frac": o["prefill_min_free_kv"],
                   "capacity_policy": o["capacity_policy"],
                   "cuda_graph_padding": o["cuda_graph_padding"],
                   **{k: o[k] for k in _CONTEXT_HOLD_FLAGS}},
        "slo": {"ttft": o["ttft_slo"], "tpot": o["tpot_slo"]},
    }
    if o["spec_tokens"]:
        # no --draft-kind: the scenario's default proposer
        kind = {"kind": o["draft_kind"]} if o["draft_kind"] else {}
        service["speculative"] = {"num_tokens": o["spec_tokens"], "acceptance": o["acceptance"],
                                  **kind, "draft_model": o["draft_model"]}
    elif o["draft_kind"] or o["draft_model"]:
        raise InputError(f"{'--draft-kind' if o['draft_kind'] else '--draft-model'} needs "
                         "--spec-tokens N (draft tokens per step; 0 = no speculation)",
                         where="--spec-tokens")
    if o["disaggregate"]:
        m = re.fullmatch(r"(\d+):(\d+)", o["disaggregate"].strip())
        if not m:
            raise InputError(f"expected P:D, got {o['disaggregate']!r}", where="--disaggregate")
        service["disaggregation"] = {"prefill_replicas": int(m[1]),
                                     "decode_replicas": int(m[2])}
    return service


def _workload_source(o: dict[str, Any]) -> dict[str, Any]:
    """The run's requests: a trace replay, or synthetic arrivals with lengths given, from a
    trace, or the model's defaults."""
    if o["trace"] is not None and o["length_trace"] is not None:
        raise InputError("give --trace (replay) or --length-trace with --rate, not both",
                         where="--length-trace")
    if o["concurrency"] is not None and (o["rate"] is not None or o["trace"] is not None):
        raise InputError("give --concurrency (closed loop) or --rate / --trace (open loop), "
                         "not both", where="--concurrency")
    if o["trace"] is not None:
        if o["repeat"] > 1:
            raise InputError("--repeat repeats synthetic prompts; a replayed trace keeps its "
                             "own (give --rate instead of --trace)", where="--repeat")
        if o["warmup_requests"]:
            raise InputError("--warmup-requests applies to synthetic requests (--rate, "
                             "--concurrency)", where="--warmup-requests")
        return {"kind": "trace", "format": o["trace_format"], "path": str(o["trace"]),
                "speedup": o["speedup"], "max_requests": o["max_requests"],
                "model_filter": o["trace_model"], "log_type": o["trace_log_type"]}
    for flag in ("trace_model", "trace_log_type"):
        if o[flag] is not None:
            raise InputError("filters the rows of a replayed BurstGPT trace: give --trace",
                             where="--" + flag.replace("_", "-"))
    if o["rate"] is None and o["concurrency"] is None:
        raise InputError("give --trace FILE, --rate QPS or --concurrency N (with "
                         "--num-requests)", where="options")
    from gputwin.scenario.serving_workload import default_lengths  # fitted to the model's context

    source: dict[str, Any] = {"kind": "synthetic", "num_requests": o["num_requests"],
                              "repeat": o["repeat"]}
    if o["warmup_requests"]:
        source["warmup_requests"] = o["warmup_requests"]
    if o["think_time"] is not None and o["concurrency"] is None:
        raise InputError("--think-time is the pause of closed-loop clients: give "
                         "--concurrency too", where="--think-time")
    if o["concurrency"] is not None:
        source["concurrency"] = o["concurrency"]
        if o["think_time"] is not None:
            source["think_time"] = o["think_time"]
    else:
        source["arrival"] = {"process": o["arrival"], "rate": o["rate"], "cv": o["cv"]}
    if o["length_trace"] is not None:
        if o["input_tokens"] or o["output_tokens"]:
            raise InputError("give --length-trace or --input-tokens/--output-tokens, "
                             "not both", where="--length-trace")
        source["lengths"] = {"format": o["trace_format"], "path": str(o["length_trace"]),
                             "sample": o["length_sample"]}
    else:
        prompt, output = default_lengths(o["model"])
        source["prompt"] = parse_length(o["input_tokens"] or prompt, "--input-tokens")
        source["output"] = parse_length(o["output_tokens"] or output, "--output-tokens")
    return source


def _failures_cell(f: dict[str, Any]) -> str:
    """``serving.failures`` in one cell: faults by cause, capacity lost, requests hit."""
    causes = ", ".join(f"{k} {v}" for k, v in f["by_cause"].items())
    plural = "" if f["faults"] == 1 else "s"
    return (f"{f['faults']:,} fault{plural}" + (f" ({causes})" if causes else "")
            + f", {f['replica_down_hours']:,.2f} replica-h down "
            f"({f['capacity_lost_frac']:.1%} of capacity); {f['requests_retried']:,} "
            f"requests retried, {f['requests_failed']:,} failed, "
            f"{f['output_tokens_lost']:,} output tokens lost")


def print_serving_summary(result: ServingResult, paths: dict[str, Path]) -> None:
    from rich.console import Console

    console = Console()
    for name, s in result.summary["services"].items():
        console.print(_service_table(result, name, s))
        for warning in s.get("warnings", []):
            console.print(f"[bold yellow]warning[/]: {name}: {warning}")
    rag = result.summary.get("rag")
    if rag:
        stages = ", ".join(f"{label} {rag[key]['p50'] * 1e3:,.1f}/{rag[key]['p99'] * 1e3:,.1f}"
                           for key, label in (("embed_s", "embed"), ("retrieve_s", "retrieve"),
                                              ("rerank_s", "rerank"), ("llm_ttft_s", "LLM TTFT"))
                           if rag[key]["p50"] is not None)
        console.print(f"RAG stages p50/p99 (ms): {stages}")
    if "sites" in result.summary:  # a run across sites: the user-side view
        _print_sites(console, result.summary)
    _print_site_and_tail(console, result, paths)


def drop_reasons_text(reasons: dict[str, int]) -> str:
    """Dropped requests by reason, most first: ``"20 prompt longer than ..."``."""
    return "; ".join(f"{n:,} {reason}" for reason, n in
                     sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))


def _ms(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v * 1e3:,.1f} ms" if v is not None else f"{k} -"
                     for k, v in d.items() if k in ("mean", "p50", "p90", "p99"))


def _service_table(result: ServingResult, name: str, s: dict[str, Any]) -> Any:
    """One service's summary as a two-column rich table."""
    from rich.table import Table

    from gputwin.run.serving_summary import replica_shape_text

    table = Table(title=f"gputwin serve: {result.scenario_name} / {name} "
                        f"(seed {result.seed})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if s.get("model"):
        table.add_row("service", f"{s['model']}, {replica_shape_text(s)}, "
                                 f"{s.get('replicas_peak') or 1:g} at peak")
    warm = s.get("warmup_requests") or 0
    table.add_row("requests", f"{s['num_requests']:,}: {s['finished']:,} finished, "
                              f"{s['dropped']:,} dropped, {s['in_flight']:,} in flight"
                  + (f" (after {warm:,} warm-up, not measured)" if warm else ""))
    if s.get("dropped_by_reason"):
        table.add_row("dropped", drop_reasons_text(s["dropped_by_reason"]))
    for label, key in (("TTFT", "ttft_s"), ("TPOT", "tpot_s"), ("ITL", "itl_s"),
                       ("end-to-end", "e2e_s")):
        table.add_row(label, _ms(s[key]))
    table.add_row("throughput", f"{s['output_tokens_per_s']:,.0f} output tok/s, "
                                f"{s['throughput_rps']:,.2f} req/s")
    att = s["slo_attainment_frac"]
    table.add_row("goodput", "- (no SLO: give --ttft-slo/--tpot-slo)" if att is None else
                  f"{s['goodput_active_rps']:,.2f} req/s meeting the SLO ({att:.1%})")
    table.add_row("KV cache", f"mean {s['kv_used_frac_mean'] or 0:.1%}, peak "
                              f"{s['kv_used_frac_peak'] or 0:.1%}; prefix hits "
                              f"{s['prefix_cache_hit_frac']:.1%}; "
                              f"{s['num_preemptions']:,} preemptions")
    if s.get("failures") is not None:
        table.add_row("failures", _failures_cell(s["failures"]))
    e = s["energy_per_output_token_j"]
    c = s["cost_per_million_output_tokens_usd"]
    table.add_row("energy / cost", ("-" if e is None else f"{e:.3f} J/output token")
                  + ", " + ("-" if c is None else f"${c:,.2f} per M output tokens"))
    table.add_row("carbon / water", f"{format_grams(s['co2e_g'])} CO2e "
                  f"({format_grams(s['co2e_embodied_g'])} embodied), {s['water_l']:,.2f} L")
    return table


def _print_site_and_tail(console: Any, result: ServingResult, paths: dict[str, Path]) -> None:
    """The site and power-supply lines, generation services, timing and files written."""
    site = result.summary.get("site") or {}
    if site:
        console.print(f"site {site['region']} ({', '.join(site['cooling'])} cooling, PUE "
                      f"{site['pue']:.2f}); cost: {site['cost_basis']}")
        from gputwin.report.energy import supply_cli_line

        supply_line = supply_cli_line(site.get("supply"))
        if supply_line is not None:
            console.print(f"power supply: {supply_line}")
    for name, g in (result.summary.get("generation") or {}).items():
        console.print(_generation_line(name, g))
    from gputwin.report.page import skipped_rows_text

    skipped = skipped_rows_text(result.summary.get("trace_rows_skipped"))
    if skipped is not None:
        console.print(f"trace: {skipped}")
    reuse = result.summary.get("trace_prefix_reuse_frac")
    if reuse is not None:
        console.print(f"trace: {reuse:.1%} of prompt tokens are in prefix blocks an earlier "
                      "request sent (the hit rate of an unbounded prefix cache)")
    console.print(f"simulated {result.end_time_s:,.1f} s in {result.wall_time_s:.2f} s wall "
                  f"({result.num_events:,} events)")
    for path in paths.values():
        console.print(f"wrote {path}")


def _print_sites(console: Any, s: dict[str, Any]) -> None:
    """User-side latency, cost and where requests went (runs with ``sites:``)."""
    from rich.table import Table

    table = Table(title=f"sites: placement {s['placement']}, routing {s['routing']}",
                  title_justify="left")
    for col in ("site", "kind", "grid", "requests", "GPU-h", "cost $", "backhaul GB"):
        table.add_column(col, justify="left" if col in ("site", "kind", "grid") else "right")
    for name, r in s["sites"].items():
        cost = "-" if r["cost_usd"] is None else f"{r['cost_usd']:,.2f}"
        table.add_row(name, r["kind"], r["grid"], f"{r['requests_served']:,.0f}",
                      f"{r['gpu_hours']:,.2f}", cost, f"{r['backhaul_bytes'] / 1e9:,.3f}")
    console.print(table)
    per_m = s["cost_per_million_tokens_usd"]
    console.print(f"user-side end-to-end p50 {s['e2e_p50_s']:.3f} s, p99 {s['e2e_p99_s']:.3f} s"
                  f"; cost per million tokens "
                  + ("-" if per_m is None else f"${per_m:,.2f}"))
    for line in s.get("explanation", []):
        console.print(line)
    for o in (s.get("failures") or {}).get("site_outages", []):
        console.print(f"site outage: {o['site']} down {o['start_s'] / 60:,.1f}-"
                      f"{o['end_s'] / 60:,.1f} min, {o['replicas_down']} replicas; "
                      f"{o['requests_retried']:,} requests retried elsewhere, "
                      f"{o['requests_failed']:,} failed")


def _generation_line(name: str, g: dict[str, Any]) -> str:
    """One line per image/video generation service."""
    lat = g["latency_s"]

    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:,.1f} s"

    out = (f"{name} ({g['model']}, {g['replicas']} x {g['gpus_per_replica']} {g['gpu']}): "
           f"{g['finished']:,}/{g['num_requests']:,} delivered; latency p50 {sec(lat['p50'])}, "
           f"p90 {sec(lat['p90'])}, p99 {sec(lat['p99'])}; GPUs busy "
           f"{(g['gpu_utilisation_frac'] or 0):.0%}")
    if g["gpu_seconds_per_video_second"] is not None:
        out += f"; {g['gpu_seconds_per_video_second']:,.0f} GPU-s per video second"
    if g["cost_per_video_second_usd"] is not None:
        out += f"; ${g['cost_per_video_second_usd']:.2f} per generated second"
    elif g["cost_per_sample_usd"] is not None:
        out += f"; ${g['cost_per_sample_usd']:.3f} per sample"
    return out
