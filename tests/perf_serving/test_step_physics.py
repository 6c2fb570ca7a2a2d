"""Physics and invariants of the serving step-time model."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perf_serving_builders import components_total_s, make_perf

from gputwin.errors import InputError
from gputwin.perf.serving import ServingPerf, step_components
from gputwin.perf.speculation import expected_accepted_tokens


def _decode(perf: ServingPerf, batch: int, ctx: int = 1024) -> float:
    return perf.step_time_s(0, 0.0, 0.0, batch, float(batch * ctx))


def test_decode_is_memory_bound_at_small_batch() -> None:
    p = make_perf()
    t1, t8 = _decode(p, 1), _decode(p, 8)
    # 8x the tokens but the weights are read once: far less than 8x the time
    assert t8 < 1.3 * t1
    # and a step cannot beat streaming the weights once from HBM
    hbm = p.config.hw.accelerator.memory_bandwidth_bytes_per_s
    assert t1 > p.weights_bytes_per_gpu / hbm


def test_decode_grows_linearly_only_when_compute_bound() -> None:
    p = make_perf()
    small = _decode(p, 16, 0) / _decode(p, 8, 0)
    big = _decode(p, 4096, 0) / _decode(p, 2048, 0)
    assert small < 1.2 < 1.7 < big <= 2.05


def test_ttft_grows_with_prompt() -> None:
    p = make_perf()
    times = [p.step_time_s(n, 0.0, n * n / 2.0, 0, 0.0) for n in (128, 512, 2048, 8192)]
    assert times == sorted(times)
    assert times[-1] / times[-2] > 3.5  # compute-bound: ~linear plus quadratic attention


def test_fp8_kv_doubles_kv_capacity() -> None:
    bf16, fp8 = make_perf(), make_perf(kv_cache_dtype="fp8")
    assert fp8.kv_bytes_per_token_per_gpu == pytest.approx(bf16.kv_bytes_per_token_per_gpu / 2)
    assert fp8.memory.num_kv_blocks() == pytest.approx(2 * bf16.memory.num_kv_blocks(), rel=1e-3)


def test_llama2_70b_kv_bytes_per_token() -> None:
    # 80 layers x 2 (K,V) x 8 KV heads x 128 dims x 2 bytes = 320 KiB (GQA)
    p = make_perf("llama2-70b", tp=8)
    assert p.kv_bytes_per_token_total == 80 * 2 * 8 * 128 * 2
    assert p.kv_bytes_per_token_per_gpu == p.kv_bytes_per_token_total / 8


def test_weight_quantisation_halves_weight_bytes_and_speeds_decode() -> None:
    bf16, fp8, int4 = (make_perf("llama2-70b", tp=4, weights_dtype=w)
                       for w in ("bf16", "fp8", "int4"))
    assert fp8.weights_bytes_per_gpu < 0.55 * bf16.weights_bytes_per_gpu
    assert int4.weights_bytes_per_gpu < 0.6 * fp8.weights_bytes_per_gpu
    assert _decode(int4, 1) < _decode(fp8, 1) < _decode(bf16, 1)
    # prefill: FP8 W8A8 runs at the FP8 peak, int4 weight-only at bf16 plus dequant
    pre = [q.step_time_s(8192, 0.0, 8192 * 4096.0, 0, 0.0) for q in (bf16, fp8, int4)]
    assert pre[1] < 0.75 * pre[0] and pre[2] >= pre[0]


def test_more_tp_is_faster_but_adds_communication() -> None:
    tps = [make_perf("llama2-70b", tp=t) for t in (2, 4, 8)]
    steps = [_decode(p, 8) for p in tps]
    assert steps == sorted(steps, reverse=True)
    # scaling is sub-linear: two all-reduces per layer at microsecond latency each
    assert steps[0] / steps[2] < 4.0
    comps = [step_components(p, 0, 0.0, 0.0, 8, 8192.0)["fixed_s"] for p in tps]
    assert 0 < comps[0] < comps[2]


def test_moe_reads_only_touched_experts() -> None:
    p = make_perf("mixtral-8x7b", tp=2)
    one, many = _decode(p, 1), _decode(p, 256)
    # a single token touches 2 of 8 experts: much less than all the weights
    hbm = p.config.hw.accelerator.memory_bandwidth_bytes_per_s
    assert one < 0.6 * p.weights_bytes_per_gpu / hbm + 0.01
    assert many > 2.0 * one


def test_speculative_decoding_helps_at_batch_1_and_hurts_at_large_batch() -> None:
    plain = make_perf("llama3-70b", tp=4)
    spec = make_perf("llama3-70b", tp=4, num_speculative_tokens=4, draft_kind="draft_model",
                     draft_model="llama3.1-8b", acceptance_rate=0.8)
    def speedup(batch: int) -> float:
        ctx = float(batch * 1000)
        per_tok = spec.spec_step_time_s(batch, ctx) / spec.speculation.expected_tokens_per_step()
        return plain.step_time_s(0, 0.0, 0.0, batch, ctx) / per_tok
    assert speedup(1) > 1.3
    assert speedup(512) < 1.0


def test_eagle_and_ngram_are_cheaper_than_a_draft_model() -> None:
    kw: dict[str, Any] = {"tp": 4, "num_speculative_tokens": 3}
    eagle = make_perf("llama3-70b", draft_kind="eagle", **kw)
    ngram = make_perf("llama3-70b", draft_kind="ngram", **kw)
    draft = make_perf("llama3-70b", draft_kind="draft_model", draft_model="llama3.1-8b", **kw)
    costs = [p.speculation.draft_time_s(4, 4000.0) for p in (ngram, eagle, draft)]
    assert costs == sorted(costs) and costs[0] < 1e-3


def test_fused_draft_drops_only_the_per_proposal_host_launch() -> None:
    kw: dict[str, Any] = {"tp": 4, "num_speculative_tokens": 7, "draft_model": "llama3.2-1b"}
    host = make_perf("llama3-70b", draft_kind="draft_model", **kw)
    fused = make_perf("llama3-70b", draft_kind="fused_draft", **kw)
    assert fused._draft is not None and host._draft is not None
    launch_s = host._draft._step_oh
    assert launch_s > 0.0
    gap = host.speculation.draft_time_s(2, 8000.0) - fused.speculation.draft_time_s(2, 8000.0)
    assert gap == pytest.approx(7 * launch_s)
    # the proposals still cost device time, and verification is the same
    assert fused.speculation.draft_time_s(2, 8000.0) > 0.0
    assert (host.spec_step_time_s(2, 8000.0) - fused.spec_step_time_s(2, 8000.0)
            == pytest.approx(gap))


def test_fused_draft_needs_a_draft_model() -> None:
    with pytest.raises(InputError, match="draft-model"):
        make_perf("llama3-70b", tp=4, num_speculative_tokens=3, draft_kind="fused_draft")


@given(st.floats(0.0, 0.99), st.integers(1, 8))
def test_expected_accepted_tokens_bounds(alpha: float, k: int) -> None:
    e = expected_accepted_tokens(alpha, k)
    assert 1.0 <= e <= k + 1
    assert e == pytest.approx(sum(alpha**i for i in range(k + 1)))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4096), st.integers(0, 512), st.integers(0, 4000))
def test_components_sum_to_step_time(prefill: int, decode: int, ctx: int) -> None:
    p = make_perf("mixtral-8x7b", tp=2)
    args = (prefill, float(ctx * (prefill > 0)), prefill * (ctx + prefill / 2.0), decode,
            float(decode * ctx))
    t = p.step_time_s(*args)
    total = components_total_s(p, step_components(p, *args))
    assert total == pytest.approx(t, rel=1e-9, abs=1e-12)
    assert t >= 0.0


def test_step_time_is_fast() -> None:
    p = make_perf("llama2-70b", tp=8)
    p.step_time_s(512, 1000.0, 512 * 1500.0, 64, 64 * 1500.0)  # warm the comm cache
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        p.step_time_s(512, 1000.0, 512 * 1500.0, 64, 64 * 1500.0)
    assert (time.perf_counter() - start) / n < 20e-6


def test_kv_transfer_scales_with_tokens() -> None:
    p = make_perf("llama2-70b", tp=8)
    t1, t2 = p.kv_transfer_time_s(1000), p.kv_transfer_time_s(2000)
    assert 0 < t1 < t2 < 2 * t1 + 1e-9
    assert p.kv_transfer_time_s(1000, bandwidth_bytes_per_s=1e9) == pytest.approx(
        p.config.hw.scale_out_fabric.latency_s + 1000 * p.kv_bytes_per_token_total / 1e9)


@pytest.mark.parametrize(("kw", "word"), [
    ({"tp": 3}, "--tp"), ({"weights_dtype": "int3"}, "--weights"),
    ({"kv_cache_dtype": "int8"}, "--kv-cache"), ({"ep": 2}, "--ep"),
    ({"num_speculative_tokens": 2}, "draft kind"),
])
def test_bad_config_names_the_option(kw: dict[str, Any], word: str) -> None:
    with pytest.raises(InputError, match=word):
        make_perf("llama2-70b", **kw)


def test_narrow_experts_run_below_the_dense_gemm_rate() -> None:
    # the grouped expert GEMMs of a MoE layer lose efficiency with the expert's width:
    # a larger moe_width_half slows a compute-heavy MoE step, leaves a dense model alone
    import dataclasses

    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving import ServingConfig, ServingPerf
    from gputwin.perf.serving_calib import default_serving_calibration
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="b200", system=None)
    base = default_serving_calibration()
    wide = dataclasses.replace(base, moe_width_half=base.moe_width_half * 4)

    def prefill_s(model: str, cal: object) -> float:
        cfg = ServingConfig(cat.model(model), hw, weights_dtype="fp4", kv_cache_dtype="fp8")
        perf = ServingPerf(cfg, cal)  # type: ignore[arg-type]
        return perf.step_time_s(8192, 0.0, 8192 * 4096.0, 0, 0.0)

    moe = prefill_s("qwen3-30b-a3b", base)
    assert prefill_s("qwen3-30b-a3b", wide) > 1.5 * moe
    assert prefill_s("llama3.1-8b", wide) == prefill_s("llama3.1-8b", base)
    # at the fitted value a 768-wide expert runs at 768 / (768 + half) of the dense rate
    perf = ServingPerf(ServingConfig(cat.model("qwen3-30b-a3b"), hw, weights_dtype="fp4",
                                     kv_cache_dtype="fp8"), base)
    g = next(g for g in perf.shape.groups if g.local_experts)
    assert g.expert_width == 768
    assert perf._groups[0][1] == pytest.approx(768 / (768 + base.moe_width_half))


def test_an_expert_that_runs_gets_at_least_one_row() -> None:
    # one decode token touches k of E experts, each with one row: the expert GEMMs run at
    # the rate of one row, not of k/E rows (which made a batch-1 gpt-oss-120b step on an
    # H100 take 56 ms, sixty times its weight-read time)
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving import ServingConfig, ServingPerf
    from gputwin.perf.serving_calib import default_serving_calibration
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="h100-sxm-80gb", system=None)
    perf = ServingPerf(ServingConfig(cat.model("gpt-oss-120b"), hw, weights_dtype="mxfp4",
                                     kv_cache_dtype="bf16", engine="trtllm"),
                       default_serving_calibration())
    one = perf.step_time_s(0, 0.0, 0.0, 1, 1000.0)
    assert 1e-3 < one < 6e-3
    # with every expert busy (a large batch) the rows are the mean, as before
    g = next(g for g in perf.shape.groups if g.local_experts)
    touched = 1.0 - math.exp(g.log_miss * 4096)
    assert touched == pytest.approx(1.0)
    assert perf._expert_rate(g, 4096, 1.0, touched) == pytest.approx(
        perf._gemm_rate * 128 / (128 + perf._expert_tile[1]) / perf._gemm_mult)


def test_weight_only_experts_saturate_at_the_mixed_input_tile() -> None:
    """Weight-only experts (MXFP4 dequantised in the main loop, as gpt-oss runs on Hopper)
    reach half their rate at ``weight_only_expert_half_rows`` rows per expert, the 16-row
    tiles of those kernels; experts on native tensor-core formats keep the dense GEMMs'
    half. A decode batch of 64 (2 rows per touched expert) then costs a small multiple of
    reading the touched experts' weights, not the ~4x it was priced at with the dense law
    (InferenceX gpt-oss-120b on H200: measured TPOT 20.6 ms at 1k/1k)."""
    import dataclasses

    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving import ServingConfig, ServingPerf
    from gputwin.perf.serving_calib import default_serving_calibration
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    cal = default_serving_calibration()

    def perf(gpu: str, weights: str, c: object = cal) -> ServingPerf:
        hw = resolve_hardware(cat, gpu=gpu, system=None)
        return ServingPerf(ServingConfig(cat.model("gpt-oss-120b"), hw, weights_dtype=weights,
                                         kv_cache_dtype="bf16", engine="trtllm"),
                           c)  # type: ignore[arg-type]

    hopper = perf("h200-sxm-141gb", "mxfp4")
    wo = cal.weight_only_expert_half_rows
    assert hopper._expert_tile == (wo, wo) and wo < cal.gemm_half_tokens
    dense = (cal.gemm_half_tokens, cal.gemm_half_tokens)
    assert perf("h200-sxm-141gb", "fp8")._expert_tile == dense
    assert perf("b200", "mxfp4")._expert_tile == dense  # native MXFP4, CUTLASS MoE
    step = _decode(hopper, 64, 1000)
    read_s = hopper.weights_bytes_per_gpu / (
        hopper.config.hw.accelerator.memory_bandwidth_bytes_per_s
        * hopper.calibration.for_accelerator("h200").bandwidth_frac)
    assert read_s < step < 2.5 * read_s
    dense_law = dataclasses.replace(cal, weight_only_expert_half_rows=cal.gemm_half_tokens)
    assert _decode(perf("h200-sxm-141gb", "mxfp4", dense_law), 64, 1000) > 1.5 * step


def test_adaptive_tile_experts_pad_a_few_rows_to_their_own_tile() -> None:
    """Engines whose Blackwell MXFP4 MoE kernels pick the token tile per step (vLLM and
    SGLang on FlashInfer's TRTLLM-Gen MoE: 8-64 rows per expert) price a few rows per
    expert against that tile, and a batch with many rows per expert as before:
    ``rows/(rows + tile)`` with the tile the rows clamped to [smallest tile, 64]."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.engines import engine_profile
    from gputwin.perf.serving import ServingConfig, ServingPerf
    from gputwin.perf.serving_calib import default_serving_calibration
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    cal = default_serving_calibration()

    def perf(engine: str, gpu: str = "b200", weights: str = "mxfp4") -> ServingPerf:
        hw = resolve_hardware(cat, gpu=gpu, system=None)
        return ServingPerf(ServingConfig(cat.model("gpt-oss-120b"), hw, weights_dtype=weights,
                                         kv_cache_dtype="fp8", engine=engine), cal)

    vllm, trt = perf("vllm"), perf("trtllm")
    low = engine_profile("vllm").blackwell_moe_min_tile_rows["mxfp4"]
    assert vllm._expert_tile == (low, cal.gemm_half_tokens) and low < cal.gemm_half_tokens
    assert trt._expert_tile == (cal.gemm_half_tokens, cal.gemm_half_tokens)
    # only Blackwell's native MXFP4: FP8 experts there, and Hopper's weight-only, unchanged
    assert perf("vllm", weights="fp8")._expert_tile[0] == cal.gemm_half_tokens
    assert perf("vllm", gpu="h200-sxm-141gb")._expert_tile == perf(
        "trtllm", gpu="h200-sxm-141gb")._expert_tile
    g = next(g for g in vllm.shape.groups if g.local_experts)
    # 2 rows per expert: priced against the smallest tile, far faster than the dense law
    rows = 2.0
    routed = rows / g.rows_per_expert_per_token
    rate = vllm._expert_rate(g, int(routed), 1.0, 1.0)
    got_rows = int(routed) * g.rows_per_expert_per_token
    assert rate == pytest.approx(vllm._gemm_rate * got_rows / (got_rows + low))
    assert rate > 3 * trt._expert_rate(g, int(routed), 1.0, 1.0) * (
        vllm._gemm_rate / trt._gemm_rate)
    # 128 rows per expert (a large batch): the same dense law as the CUTLASS engine
    big = int(128 / g.rows_per_expert_per_token)
    assert vllm._expert_rate(g, big, 1.0, 1.0) / vllm._gemm_rate == pytest.approx(
        trt._expert_rate(g, big, 1.0, 1.0) / trt._gemm_rate)


def test_pipeline_stages_run_micro_batches_in_flight() -> None:
    """With ``pp`` stages the engine keeps ``pp`` micro-batches in flight (TensorRT-LLM's
    PP executor loop, vLLM's batch queue): a step of B sequences costs one traverse of
    B/pp, not of B, so each GPU stays busy and per-GPU throughput does not halve."""
    one = make_perf("llama3-70b", gpu="rtx-pro-6000", weights_dtype="fp4")
    two = make_perf("llama3-70b", gpu="rtx-pro-6000", weights_dtype="fp4", pp=2)
    b, ctx = 256, 1500
    t_pp = two.step_time_s(0, 0.0, 0.0, b, float(b * ctx))
    t_half = one.step_time_s(0, 0.0, 0.0, b // 2, float(b // 2 * ctx))
    t_full = one.step_time_s(0, 0.0, 0.0, b, float(b * ctx))
    # a traverse of B/2 (plus a hand-off), well under the traverse of all B
    assert t_half <= t_pp < 0.8 * t_full
    # the largest micro-batch sets the step: 5 tokens over 2 stages -> 3 (0.6 of the step)
    from gputwin.perf.serving import micro_batch
    assert micro_batch(5, 2) == (3, 0.6)
    assert micro_batch(1, 4) == (1, 1.0)
    # one sequence cannot be split: its step is the whole traverse, as before
    t1 = two.step_time_s(0, 0.0, 0.0, 1, float(ctx))
    assert t1 >= one.step_time_s(0, 0.0, 0.0, 1, float(ctx))
    # the fitting decomposition agrees with the step
    comp = step_components(two, 0, 0.0, 0.0, b, float(b * ctx))
    assert comp["seqs"] == b
    # each stage GPU is busy the whole step, not 1/pp of it
    busy = two.busy_activity_frac(b * 100, 100 * t_pp, 100, b * 100.0)
    assert busy > 0.5 * one.busy_activity_frac(b * 100, 100 * t_full, 100, b * 100.0)


def test_steady_mix_is_the_fluid_step_when_prompts_fill_every_step() -> None:
    """256 sequences of 230/200 tokens: more prompts per lifetime than steps, so every
    step carries prompt tokens and the mix is the fluid average step."""
    from gputwin.perf.serving_load import steady_state_load, steady_state_mix

    mix = steady_state_mix(256, 230, 200, 1.0, 8192)
    assert mix == [(steady_state_load(256, 230, 200, 1.0), 1.0)]


def test_steady_mix_of_one_sequence_prefills_once_per_lifetime() -> None:
    """A batch of one: one step in 128 takes the whole 2,048-token prompt, the others
    decode alone; the prompt tokens per lifetime are those of the fluid model."""
    from gputwin.perf.serving_load import steady_state_load, steady_state_mix

    (carrying, share), (alone, rest) = steady_state_mix(1, 2048, 128, 1.0, 8192)
    assert share == pytest.approx(1 / 128) and rest == pytest.approx(127 / 128)
    assert carrying.num_prefill_tokens == 2048 and alone.num_prefill_tokens == 0
    assert carrying.num_decode_seqs == alone.num_decode_seqs == 1
    fluid = steady_state_load(1, 2048, 128, 1.0)
    assert carrying.num_prefill_tokens * share == pytest.approx(
        fluid.num_prefill_tokens, rel=0.02)
    # a prompt longer than a step's room is taken in chunks
    (chunked, share_c), _ = steady_state_mix(1, 20000, 2000, 1.0, 8192)
    assert chunked.num_prefill_tokens == 6667 and share_c == pytest.approx(3 / 2000)


def test_moe_tpot_at_batch_one_is_its_pure_decode_step() -> None:
    """A mixture-of-experts model decoding alone reads only its routed experts. At batch
    one no other slot admits a prompt while a sequence decodes, so its TPOT is the pure
    decode step (was 61 ms against a 17 ms step when each token also carried 16 prompt
    tokens); the throughput still pays each sequence's own prompt once."""
    from gputwin.perf.serving_load import steady_state_mix
    from gputwin.requests import ServeRequest, validated
    from gputwin.run.estimate_serve import estimate_serve

    est = estimate_serve(validated(ServeRequest, {
        "model": "gpt-oss-20b", "gpu": "gb10", "tp": 1, "weights": "fp4",
        "input_tokens": 2048, "output_tokens": 128, "batch_size": 1}))
    assert est.tpot_s == pytest.approx(est.decode_step_time_s, rel=1e-6)
    cycle = est.decode_step_time_s + est.prefill_time_s / 128
    assert 1 / est.throughput_tokens_per_s == pytest.approx(cycle, rel=0.05)
    # no other prompt: the decode-only step alone
    [(alone, share)] = steady_state_mix(1, 2048, 128, 1.0, 8192, prompts=0)
    assert share == 1.0 and alone.num_prefill_tokens == 0 and alone.num_decode_seqs == 1


def test_tp_split_and_expert_parallel_moe_differ_only_by_the_ep_imbalance() -> None:
    # per GPU, 1/8 of each of 256 experts (TP) and 32 whole experts (EP inside TP) are
    # the same expert FLOP, weight bytes and grouped-GEMM tiles at the same rows per
    # expert: the model prices them alike (the narrow-expert law on the whole expert's
    # width in both) and charges EP only its load imbalance
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.serving import ServingConfig, prepare_serving
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    hw = resolve_hardware(cat, gpu="h200-sxm-141gb", system=None)
    m = cat.model("deepseek-r1")

    def perf(ep: int, imbalance: float | None = None) -> ServingPerf:
        return prepare_serving(ServingConfig(m, hw, tp=8, ep=ep, weights_dtype="fp8",
                                             ep_imbalance=imbalance))

    tp_moe, ep_even, ep_moe = perf(1), perf(8, 1.0), perf(8)
    assert [w for _, w in tp_moe._groups] == [w for _, w in ep_moe._groups]
    for steps in ((8192, 0.0, 8192 * 4096.0, 0, 0.0), (0, 0.0, 0.0, 180, 180 * 2000.0)):
        assert ep_even.step_time_s(*steps) == pytest.approx(tp_moe.step_time_s(*steps),
                                                            rel=1e-9)
        assert ep_moe.step_time_s(*steps) > 1.1 * tp_moe.step_time_s(*steps)
