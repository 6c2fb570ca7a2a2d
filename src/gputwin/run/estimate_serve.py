"""Facade for ``gputwin estimate serve`` and the validation suite: names in, estimate out.

Metrics (one replica of ``tp × pp`` GPUs unless stated):

- ``prefill_time_s``: prefill of the whole batch arriving together (chunked by
  ``max_num_batched_tokens``); ``ttft_s`` the mean time to first token over that batch
  (``ttft_max_s`` the last one); ``prefill_time_single_s`` one prompt alone.
- ``decode_step_time_s``: one pure decode step of the batch at the mean context
  ``input + output/2``.
- ``tpot_s``: time per output token in steady-state continuous batching (a share of one
  sequence's steps, or every step, also carries the prompts the other ``batch - 1`` slots
  admit meanwhile, as prefill chunks), divided by the tokens a speculative step emits;
  ``throughput_tokens_per_s`` = output tokens/s of the batch, with every slot's prompt
  (``perf.serving_load.steady_state_mix``).
- ``max_throughput_tokens_per_s``: the same at the largest batch memory (and
  ``max_num_seqs``) allows, times ``num_replicas``.
- ``e2e_latency_s`` = ``ttft_s + (output − 1)·tpot_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import DoesNotFitError, InputError, UnknownNameError
from gputwin.perf.engines import engine_names, engine_profile
from gputwin.perf.serving import ServingConfig, ServingPerf, context_problem, prepare_serving
from gputwin.perf.serving_calib import ServingCalibration, load_serving_calibration
from gputwin.perf.serving_load import (
    StepLoad,
    bucketed_prompt_tokens,
    decode_load,
    prefill_batch_loads,
    steady_state_mix,
)
from gputwin.perf.speculation import SELF_DRAFT_KINDS
from gputwin.perf.split import cli_flag
from gputwin.requests import ServeRequest
from gputwin.run.estimate_train import _with_overrides
from gputwin.topology.hardware import resolve_hardware
from gputwin.units import format_bytes

BLOCK_SIZE = 16


@dataclass(frozen=True, slots=True)
class ServingEstimate:
    """Latency, throughput and memory of one serving configuration (SI units)."""

    prefill_time_s: float
    prefill_time_single_s: float
    ttft_s: float
    ttft_max_s: float
    decode_step_time_s: float
    tpot_s: float
    throughput_tokens_per_s: float
    e2e_latency_s: float
    max_batch_size_by_memory: int
    max_throughput_batch_size: int
    max_throughput_tokens_per_s: float
    memory: dict[str, float]
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (keys name their unit)."""
        return {
            "prefill_time_s": self.prefill_time_s,
            "prefill_time_single_s": self.prefill_time_single_s,
            "ttft_s": self.ttft_s,
            "ttft_max_s": self.ttft_max_s,
            "decode_step_time_s": self.decode_step_time_s,
            "tpot_s": self.tpot_s,
            "throughput_tokens_per_s": self.throughput_tokens_per_s,
            "e2e_latency_s": self.e2e_latency_s,
            "max_batch_size_by_memory": self.max_batch_size_by_memory,
            "max_throughput_batch_size": self.max_throughput_batch_size,
            "max_throughput_tokens_per_s": self.max_throughput_tokens_per_s,
            "memory": dict(self.memory),
            **self.memory,
            **self.extra,
        }


def _positive(option: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"--{option} must be a positive integer, got {value!r}")


def loads_time_s(perf: ServingPerf, loads: list[StepLoad], *, spec: bool = False) -> list[float]:
    """Seconds of each step load (speculative steps when ``spec``)."""
    out = []
    for ld in loads:
        if spec:
            out.append(perf.spec_step_time_s(ld.num_decode_seqs, ld.decode_context_tokens_sum,
                                             ld.num_prefill_tokens,
                                             ld.prefill_context_tokens_sum,
                                             ld.prefill_attn_pairs))
        else:
            out.append(perf.step_time_s(ld.num_prefill_tokens, ld.prefill_context_tokens_sum,
                                        ld.prefill_attn_pairs, ld.num_decode_seqs,
                                        ld.decode_context_tokens_sum))
    return out


def _prefill(perf: ServingPerf, batch: int, input_tokens: int) -> tuple[float, float, float]:
    """(total, mean TTFT, last TTFT) of prefilling ``batch`` prompts arriving together."""
    loads, done_at = prefill_batch_loads(batch, input_tokens,
                                         perf.config.max_num_batched_tokens)
    times = loads_time_s(perf, loads)
    ends = []
    acc = 0.0
    for t in times:
        acc += t
        ends.append(acc)
    ttfts = [ends[i] for i in done_at]
    return acc, sum(ttfts) / len(ttfts), ttfts[-1]


def _steady_step_s(perf: ServingPerf, batch: int, input_tokens: int, output_tokens: int,
                   tokens_per_step: float, prompts: int | None = None) -> float:
    """Mean step of steady-state continuous batching (``prompts`` per lifetime: every slot
    refilled, or ``batch - 1`` for the steps one sequence decodes in)."""
    mix = steady_state_mix(batch, input_tokens, output_tokens, tokens_per_step,
                           perf.config.max_num_batched_tokens, prompts)
    times = loads_time_s(perf, [load for load, _ in mix],
                         spec=perf.config.num_speculative_tokens > 0)
    return sum(t * share for t, (_, share) in zip(times, mix, strict=True))


def _memory(perf: ServingPerf, gpu_memory_utilization: float) -> dict[str, float]:
    blocks = perf.memory.num_kv_blocks(BLOCK_SIZE, gpu_memory_utilization)
    return {
        "weights_bytes_per_gpu": perf.weights_bytes_per_gpu,
        "kv_bytes_per_token_per_gpu": perf.kv_bytes_per_token_per_gpu,
        "kv_bytes_per_token_total": perf.kv_bytes_per_token_total,
        "activation_peak_bytes_per_gpu": perf.memory.activation_peak_bytes(),
        "num_kv_blocks": float(blocks),
        "kv_capacity_tokens": float(blocks * BLOCK_SIZE),
        "memory_capacity_bytes": perf.config.hw.accelerator.memory_bytes,
        "usable_memory_bytes": perf.memory.hbm_bytes,
        "runtime_bytes_per_gpu": perf.memory.runtime_bytes(),
    }


def estimate_serve(request: ServeRequest, *,
                   catalog: Catalog | None = None) -> ServingEstimate:
    """Estimate one serving configuration (see :class:`ServeRequest`).

    Raises :class:`InputError` naming the option, and :class:`DoesNotFitError` (need vs
    capacity) when the weights or the batch's KV cache do not fit.
    """
    return _estimate_serve(request, catalog or default_catalog())


def _engine_defaults(r: ServeRequest, cat: Catalog) -> ServeRequest:
    """``r`` with the limits and memory share it leaves unset taken from its engine's
    profile for the part (vLLM's batch defaults depend on the GPU's memory and name)."""
    if None not in (r.max_num_seqs, r.max_num_batched_tokens, r.gpu_memory_utilization):
        return r
    if r.engine not in engine_names():
        raise UnknownNameError("engine", r.engine, list(engine_names()), where="--engine")
    profile = engine_profile(r.engine)
    acc = resolve_hardware(cat, gpu=r.gpu, system=r.system, where=cli_flag).accelerator
    seqs, budget = profile.limits_for(acc)
    return r.model_copy(update={
        "max_num_seqs": r.max_num_seqs or seqs,
        "max_num_batched_tokens": r.max_num_batched_tokens or budget,
        "gpu_memory_utilization": r.gpu_memory_utilization or profile.memory_frac})


def _estimate_serve(r: ServeRequest, cat: Catalog) -> ServingEstimate:
    """Resolve names, validate every option and estimate one serving configuration."""
    r = _engine_defaults(r, cat)
    assert r.gpu_memory_utilization is not None  # _engine_defaults filled it
    spec = _with_overrides(cat.model(r.model, where="--model"), r.model_overrides)
    _check_sizes(spec, r.input_tokens, r.output_tokens, r.gpu_memory_utilization,
                 {"batch-size": r.batch_size, "num-replicas": r.num_replicas, "tp": r.tp,
                  "pp": r.pp, "ep": r.ep, "dp-attention": r.dp_attention})
    _check_buckets(spec, r.context_buckets)
    config = _serving_config(cat, spec, r)
    cal = load_serving_calibration(r.calibration)
    perf = prepare_serving(config, cal)
    load = (r.batch_size, r.input_tokens, r.output_tokens, r.num_replicas,
            r.gpu_memory_utilization, bucketed_prompt_tokens(r.input_tokens, r.context_buckets))
    est = _estimate(perf, *load)
    if r.spec_tokens:
        _add_spec_speedup(est, config, cal, load)
    return est


def _serving_config(cat: Catalog, spec: ModelSpec, r: ServeRequest) -> ServingConfig:
    """The replica ``r`` describes: hardware, split, precisions, speculation, limits."""
    draft, kind = _speculation(cat, r.spec_tokens, r.spec_kind, r.draft_model,
                               r.draft_model_overrides)
    hw = resolve_hardware(cat, gpu=r.gpu, system=r.system, where=cli_flag)
    assert r.max_num_seqs is not None and r.max_num_batched_tokens is not None  # filled
    # a replica beyond one node: the one split rule (perf.split, in check_config)
    return ServingConfig(spec, hw, tp=r.tp, pp=r.pp, ep=r.ep, dp_attention=r.dp_attention,
                         redundant_experts=r.redundant_experts, ep_imbalance=r.ep_imbalance,
                         weights_dtype=r.weights, kv_cache_dtype=r.kv_cache,
                         num_speculative_tokens=r.spec_tokens, draft_model=draft,
                         draft_kind=kind if r.spec_tokens else None,
                         max_num_batched_tokens=r.max_num_batched_tokens,
                         max_num_seqs=r.max_num_seqs, acceptance_rate=r.acceptance,
                         engine=r.engine, kv_cache_length=r.kv_cache_length)


def _add_spec_speedup(est: ServingEstimate, config: ServingConfig,
                      cal: ServingCalibration, load: tuple[int, int, int, int, float, int]
                      ) -> None:
    """Record the speed-up of speculation over the same replica without it."""
    plain = prepare_serving(replace(config, num_speculative_tokens=0, draft_model=None,
                                    draft_kind=None), cal)
    base = _estimate(plain, *load)
    est.extra["spec_speedup"] = base.tpot_s / est.tpot_s
    est.extra["spec_throughput_speedup"] = (est.throughput_tokens_per_s
                                            / base.throughput_tokens_per_s)


def _speculation(cat: Catalog, spec_tokens: int, spec_kind: str | None,
                 draft_model: str | None, overrides: Mapping[str, Any] | None,
                 ) -> tuple[ModelSpec | None, str | None]:
    """(draft model, proposer kind) of the speculation flags, refusing a kind or a draft
    without ``--spec-tokens`` and ``--spec-tokens`` without either."""
    if not spec_tokens and (spec_kind or draft_model):
        raise InputError(f"{'--spec-kind' if spec_kind else '--draft-model'} needs "
                         "--spec-tokens N (draft tokens per step; 0 = no speculation)",
                         where="--spec-tokens")
    draft = (_with_overrides(cat.model(draft_model, where="--draft-model"), overrides)
             if draft_model else None)
    kind = spec_kind or ("draft_model" if draft is not None else None)
    if spec_tokens and kind is None:
        raise InputError("--spec-tokens needs --draft-model or --spec-kind "
                         f"({', '.join(SELF_DRAFT_KINDS)})")
    return draft, kind


def _check_sizes(spec: ModelSpec, input_tokens: int, output_tokens: int,
                 gpu_memory_utilization: float, counts: Mapping[str, int]) -> None:
    """The lengths (positive, within the model's context), the memory fraction and the
    positive counts (flag name -> value); raises :class:`InputError` naming the flag."""
    for option, value in (("input-tokens", input_tokens), ("output-tokens", output_tokens),
                          *counts.items()):
        _positive(option, value)
    too_long = context_problem(spec, input_tokens, output_tokens)
    if too_long is not None:
        raise InputError(too_long)
    if not 0.0 < gpu_memory_utilization <= 1.0:
        raise InputError(f"--gpu-memory-utilization must be in (0, 1], got "
                         f"{gpu_memory_utilization}")


def _check_buckets(spec: ModelSpec, buckets: list[int] | None) -> None:
    """Compiled context-encoding lengths fit the model's context (a longer bucket cannot be
    compiled, and a prompt padded to it would be prefilled at that length)."""
    too_long = [b for b in buckets or () if b > spec.max_seq_len]
    if too_long:
        raise InputError(f"bucket {max(too_long)} exceeds the {spec.max_seq_len}-token "
                         f"context of {spec.name}", where="--context-buckets")


def _check_fit(perf: ServingPerf, batch: int, context: int, util: float,
               max_batch: int) -> None:
    free = perf.memory.free_kv_bytes_per_gpu(util)
    name = perf.config.model.name
    accel = perf.config.hw.accelerator
    if free <= 0:
        need = perf.weights_bytes_per_gpu + perf.memory.set_aside_bytes()
        draft = perf.config.draft_model if perf.config.num_speculative_tokens else None
        if draft is not None:  # the draft's weights share the GPUs: say so
            name = f"{name} with draft model {draft.name}"
        # the share applies to the whole memory (vLLM, SGLang) or to what is left
        # (TensorRT-LLM): then nothing is left whatever the share
        total = perf.memory.memory_mode == "total"
        offered = perf.memory.hbm_bytes * (util if total else 1.0)
        raise DoesNotFitError(
            f"{name} needs {format_bytes(need)} per GPU before any KV cache (weights "
            f"{format_bytes(perf.weights_bytes_per_gpu)}) but {accel.name} offers "
            f"{format_bytes(offered)}" + (f" at utilisation {util}" if total else "")
            + "; raise --tp/--pp or quantise --weights")
    if batch > max_batch:
        need = batch * perf.memory.kv_bytes_per_sequence(context, BLOCK_SIZE)
        raise DoesNotFitError(
            f"--batch-size {batch} x {context} tokens needs {format_bytes(need)} of KV cache "
            f"per GPU but {format_bytes(free)} is free (at most {max_batch} sequences); "
            "lower --batch-size" + ("" if perf.config.kv_cache_dtype == "fp8"
                                    else " or use --kv-cache fp8"))


def _estimate(perf: ServingPerf, batch: int, inp: int, out: int, replicas: int,
              util: float, prompt: int) -> ServingEstimate:
    """``prompt``: the tokens each prompt is prefilled at (``inp`` padded to its
    context-encoding bucket; ``inp`` without buckets)."""
    # a static cache holds its whole length per slot from the start (JetStream)
    static = perf.config.kv_cache_length
    max_batch = perf.memory.max_batch_size_by_memory(static or inp + out, BLOCK_SIZE, util)
    _check_fit(perf, batch, static or inp + out, util, max_batch)
    per_step = perf.speculation.expected_tokens_per_step()
    total, ttft, ttft_max = _prefill(perf, batch, prompt)
    single = _prefill(perf, 1, prompt)[0]
    decode = loads_time_s(perf, [decode_load(batch, inp + out / 2.0)],
                          spec=perf.config.num_speculative_tokens > 0)[0]
    steady = _steady_step_s(perf, batch, inp, out, per_step)
    # one sequence's decode steps carry the other slots' new prompts, not its own
    tpot = _steady_step_s(perf, batch, inp, out, per_step, batch - 1) / per_step
    # steady state keeps sequences at every age: the average holds input + output/2 tokens
    mean_ctx = static or int(inp + out / 2)
    cap = perf.memory.max_batch_size_by_memory(mean_ctx, BLOCK_SIZE, util)
    best_batch = max(1, min(perf.config.max_num_seqs, cap))
    best_step = _steady_step_s(perf, best_batch, inp, out, per_step)
    max_tput = replicas * best_batch * per_step / best_step
    # a prefill-to-decode KV hand-off needs the scale-out NICs (none: no such hand-off)
    networked = perf.config.hw.scale_out_bandwidth_per_gpu_bytes_per_s > 0
    extra = {
        "decode_tokens_per_step": per_step,
        **({"kv_transfer_time_s": perf.kv_transfer_time_s(inp)} if networked else {}),
        "num_gpus": float(perf.config.num_gpus * replicas),
        "steady_step_time_s": steady,
        "max_throughput_tokens_per_s_per_gpu": max_tput / (perf.config.num_gpus * replicas),
        # disaggregated pools (wide-EP reports): input tokens/s of a prefill replica
        # prefilling the batch, output tokens/s of a decode replica at the batch
        "prefill_tokens_per_s_per_gpu": batch * inp / total / perf.config.num_gpus,
        "decode_tokens_per_s_per_gpu": batch * per_step / decode / perf.config.num_gpus,
        # static batching (all prompts, then all decode steps), as TensorRT-LLM's tables
        "static_throughput_tokens_per_s": batch * out / (total + out / per_step * decode),
    }
    return ServingEstimate(
        prefill_time_s=total, prefill_time_single_s=single, ttft_s=ttft, ttft_max_s=ttft_max,
        decode_step_time_s=decode, tpot_s=tpot,
        throughput_tokens_per_s=batch * per_step / steady,
        e2e_latency_s=ttft + (out - 1) * tpot, max_batch_size_by_memory=max_batch,
        max_throughput_batch_size=best_batch, max_throughput_tokens_per_s=max_tput,
        memory=_memory(perf, util), extra=extra,
    )
