"""``gputwin simulate serve``'s options as a serving scenario.

The options become a :class:`~gputwin.scenario.serving.ServingScenario` (one service, one
workload source, the site), so the CLI and scenario files share one validated path; a
validation error names the option that set the field. Lengths accept ``512`` (fixed),
``100-2000`` (uniform) or ``lognormal:MEAN/MEDIAN``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from gputwin.errors import InputError

#: What ``simulate serve`` runs when no model or hardware is named (the model and GPU of the
#: serving benchmarks in BENCHMARKS.md); the summary names both.
DEFAULT_MODEL = "llama3.1-8b"
DEFAULT_GPU = "h100-sxm-80gb"


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


def refuse_unused(opts: dict[str, Any]) -> None:
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
                   "frontend_latency": o["frontend_latency"],
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
