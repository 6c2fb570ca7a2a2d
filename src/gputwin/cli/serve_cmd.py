"""``gputwin simulate serve``: an LLM serving fleet built from command-line options.

The options become a serving scenario (:mod:`gputwin.cli.serve_scenario`, validated by
:mod:`gputwin.scenario.serving`), so the CLI and scenario files share one validated path;
the summary is printed by :mod:`gputwin.cli.serve_output`. Lengths accept ``512`` (fixed),
``100-2000`` (uniform) or ``lognormal:MEAN/MEDIAN``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from gputwin.cli.serve_scenario import DEFAULT_GPU, DEFAULT_MODEL, build_scenario, refuse_unused
from gputwin.perf.engines import CAPACITY_POLICIES, default_engine, engine_names
from gputwin.perf.speculation import DEFAULT_DRAFT_KIND, DRAFT_KINDS, DRAFT_MODEL_KINDS
from gputwin.workload.llm_traces import LLM_TRACE_FORMATS


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
              help="Running sequences at most [default: the engine's for the part: vLLM "
                   "1,024 on CUDA/ROCm GPUs of 70 GiB or more but A100s, else 256]; per "
                   "attention-DP rank for TensorRT-LLM, per replica otherwise.")
@click.option("--max-num-batched-tokens", default=None, type=int, callback=positive_int,
              help="Tokens per step at most [default: the engine's for the part: vLLM "
                   "8,192 on those GPUs, else 2,048]; per attention-DP rank for TensorRT-LLM.")
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
@click.option("--frontend-latency", type=DURATION, default=None,
              help="The API server's time per request outside the engine loop, added to "
                   "TTFT and end-to-end latency (e.g. 4ms) [default: the engine's].")
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

    refuse_unused(opts)
    sc = build_scenario(opts)
    run_serving(sc, opts["out_dir"], opts["as_json"], opts["quiet"], opts["no_timing"],
                opts["outputs"])


fill_help(serve, SERVE_HELP)  # help texts of the options above that have none
