"""The optimum-habana profile: Intel's static-batch benchmark runner on Gaudi (Optimum for
Intel Gaudi's run_generation.py). Selectable by name, left out of the planner's default
engine search, refused off Intel parts, and it differs from its base (vllm) only where
the static loop differs: vendor, scheduling, the fitted host time and the KV layout."""

from __future__ import annotations

import dataclasses

import pytest

from gputwin.catalog.loader import default_catalog
from gputwin.errors import InputError
from gputwin.perf.engines import current_engine_names, engine_names, engine_profile
from gputwin.perf.serving import ServingConfig, prepare_serving
from gputwin.perf.serving_calib import default_serving_calibration
from gputwin.requests import ServeRequest, validated
from gputwin.run.estimate_serve import estimate_serve
from gputwin.topology.hardware import resolve_hardware

NAME = "optimum-habana"
#: what the static runner sets; every other figure (and its source) is vllm's
OWN = {"runs_on", "max_num_seqs", "max_num_batched_tokens", "enable_chunked_prefill",
       "cuda_graph_batch_sizes", "capacity_policy", "step_overhead_s", "per_seq_overhead_s",
       "block_size", "default_kv_dtype",
       # its own step time replaces vllm's per-vendor one; no API server (in process)
       "vendor_step_overhead_s", "frontend_latency_s",
       # it allocates each bucket's KV at start-up: not vLLM V1's memory profiling; its
       # commands give its limits, not vLLM V1's defaults by part
       "profiling", "large_gpu_limits"}
_META = {"name", "title", "sources", "base"}


def _perf(engine: str, gpu: str = "gaudi3"):  # type: ignore[no-untyped-def]
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=gpu, system=None)
    return prepare_serving(ServingConfig(cat.model("llama3.1-8b"), hw, weights_dtype="fp8",
                                         kv_cache_dtype="fp8", engine=engine))


def test_it_is_selectable_but_not_searched_by_default() -> None:
    from gputwin.cli.estimate_serve import serve as estimate_serve_cmd

    assert NAME in engine_names()
    assert NAME not in current_engine_names()  # a plan tries it only when named
    p = engine_profile(NAME)
    assert p.base == "vllm"
    opt = next(o for o in estimate_serve_cmd.params if o.name == "engine")
    assert NAME in opt.type.choices  # type: ignore[attr-defined]


def test_it_differs_from_vllm_only_in_the_static_runner_figures() -> None:
    p, v = engine_profile(NAME), engine_profile("vllm")
    differ = {f.name for f in dataclasses.fields(p)
              if f.name not in _META and getattr(p, f.name) != getattr(v, f.name)}
    assert differ <= OWN
    assert {"runs_on", "step_overhead_s", "per_seq_overhead_s", "capacity_policy"} <= differ
    for key in ("step_overhead_s", "per_seq_overhead_s"):
        assert "FITTED" in p.sources[key]
    for key in set(p.sources) - OWN - {"pad_decode_to_graph"}:
        assert p.sources[key] == v.sources[key]  # inherited, source and all
    assert not p.enable_chunked_prefill and not p.pad_decode_to_graph
    assert p.capacity_policy == "no_evict"  # KV of input + max_new_tokens allocated up front
    assert default_serving_calibration().host_overheads(NAME) == (
        p.step_overhead_s, p.per_seq_overhead_s)


@pytest.mark.parametrize(("gpu", "runs"), [
    ("gaudi3", True), ("gaudi2", True), ("h100-sxm-80gb", False), ("mi300x", False)])
def test_it_runs_on_intel_parts_only(gpu: str, runs: bool) -> None:
    assert engine_profile(NAME).runs_on_part("intel")
    if runs:
        _perf(NAME, gpu)
        return
    with pytest.raises(InputError, match=f"runs on intel accelerators; {gpu}") as exc:
        _perf(NAME, gpu)
    assert exc.value.where == "--engine"


def test_a_decode_step_pays_the_fitted_step_time_and_nothing_per_sequence() -> None:
    """Same device step as vllm; the host part is the profile's 1 ms, flat in the batch,
    where vllm adds 3.5 ms and 20 us per running sequence."""
    oh, vl = _perf(NAME), _perf("vllm")
    p, v = engine_profile(NAME), engine_profile("vllm")
    for n in (1, 256, 1536):
        ctx = n * 192.0
        gap = vl.step_time_s(0, 0.0, 0.0, n, ctx) - oh.step_time_s(0, 0.0, 0.0, n, ctx)
        expected = (v.step_overhead_s - p.step_overhead_s
                    + (v.per_seq_overhead_s - p.per_seq_overhead_s) * n)
        assert gap == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_static_batch_runs_faster_than_under_vllm_host_costs() -> None:
    """Intel's Gaudi 3 Llama 3.1 8B FP8 128/128 row at batch 1,536: without vLLM's
    per-sequence host time the static throughput rises; a TTFT at batch 1 changes only by
    the step time (3.5 -> 1 ms)."""
    def est(engine: str, batch: int):  # type: ignore[no-untyped-def]
        return estimate_serve(validated(ServeRequest, {
            "model": "llama3.1-8b", "gpu": "gaudi3", "weights": "fp8", "kv_cache": "fp8",
            "input_tokens": 128, "output_tokens": 128, "batch_size": batch,
            "max_num_seqs": batch, "engine": engine}))
    big_oh, big_v = est(NAME, 1536), est("vllm", 1536)
    key = "static_throughput_tokens_per_s"
    assert big_oh.extra[key] > 1.2 * big_v.extra[key]
    one_oh, one_v = est(NAME, 1), est("vllm", 1)
    assert one_v.ttft_s - one_oh.ttft_s == pytest.approx(  # a prefill step has no decode seqs
        engine_profile("vllm").step_overhead_s - engine_profile(NAME).step_overhead_s, rel=1e-6)


def test_the_profile_defaults_leave_kv_room_on_a_gaudi_3() -> None:
    """The scheduling defaults are usable by the simulator: Llama 3.1 8B FP8 on one Gaudi 3
    keeps a KV pool (a whole-batch token budget would reserve activations for every prompt
    token and leave none)."""
    from gputwin.perf.engines import kv_room_problem

    p = engine_profile(NAME)
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="gaudi3", system=None)
    perf = prepare_serving(ServingConfig(
        cat.model("llama3.1-8b"), hw, weights_dtype="fp8", kv_cache_dtype="fp8", engine=NAME,
        max_num_seqs=p.max_num_seqs, max_num_batched_tokens=p.max_num_batched_tokens))
    assert kv_room_problem(perf.memory, p, p.block_size, p.memory_frac) is None
    huge = prepare_serving(ServingConfig(
        cat.model("llama3.1-8b"), hw, weights_dtype="fp8", kv_cache_dtype="fp8", engine=NAME,
        max_num_seqs=p.max_num_seqs, max_num_batched_tokens=2**20))
    assert kv_room_problem(huge.memory, p, p.block_size, p.memory_frac) is not None
