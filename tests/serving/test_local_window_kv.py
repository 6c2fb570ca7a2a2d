"""Local-attention layers in a hybrid KV pool (vLLM V1): a sequence holds blocks for its
whole context in the whole-context layers and only for its window in the local ones."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serving_builders import LinearStepModel, engine, finish_times, real_perf, requests_from

from gputwin.perf.engines import engine_profile, kv_pool_blocks, local_kv_layout, sized_by
from gputwin.serving.config import EngineConfig
from gputwin.serving.fleet import Fleet, FleetOutcome, PoolSpec, ServiceSpec
from gputwin.serving.request import DECODE, DROPPED, FINISHED, ReqState
from gputwin.serving.scheduler import Scheduler
from gputwin.workload.llm_request import LlmRequest


def _sched(blocks: int = 1000, window: int = 32, weight: int = 2, budget: int = 64
           ) -> Scheduler:
    cfg = engine(blocks, max_num_batched_tokens=budget, local_window_tokens=window,
                 local_block_weight=weight, enable_prefix_caching=False)
    return Scheduler(cfg, lambda req, now: None)


def test_a_prefill_chunk_holds_the_window_and_the_chunk_then_decode_keeps_the_window() -> None:
    s = _sched()  # block 16, window 32 tokens, a local block costs 2 pool blocks
    req = ReqState(LlmRequest(0, 0.0, 100, 10), 10)
    req.num_tokens = 100
    s.enqueue(req)
    chunks, _, _ = s.plan()  # tokens [0, 64): 4 blocks in every layer
    assert chunks == [(req, 64)]
    assert s.pool.num_used == 4 + 2 * 4
    s.S += 1
    s.apply_chunks(chunks, 1.0)
    chunks, _, _ = s.plan()  # [64, 100): 7 blocks; the local ones from token 33 (block 2)
    assert chunks == [(req, 36)]
    assert s.pool.num_used == 7 + 2 * (7 - 2)
    s.S += 1
    s.apply_chunks(chunks, 2.0)  # decodes now: the window (2 blocks) and one block
    assert req.status == DECODE and req.local == 3
    assert s.pool.num_used == 7 + 2 * 3
    assert s.held_blocks(req) == s.pool.num_used


def test_a_model_without_local_layers_counts_blocks_as_before() -> None:
    s = Scheduler(engine(100), lambda req, now: None)
    assert s.lw == 0 and s.sequence_blocks(100) == 7


rows_strategy = st.lists(
    st.tuples(st.floats(0, 5), st.integers(1, 600), st.integers(1, 200)), min_size=1,
    max_size=40).map(lambda rows: sorted(rows))


def _run(rows: list[tuple[float, int, int]], cfg: EngineConfig) -> tuple[FleetOutcome, int]:
    used_max = 0
    fleet = Fleet([ServiceSpec("default", PoolSpec(cfg, LinearStepModel(), 1, 1,
                                                   "round_robin"))], requests_from(rows))

    def check(now: float, _: object) -> None:
        nonlocal used_max
        for life in fleet.lives:
            used_max = max(used_max, life.replica.kv_used_blocks_at(now + 1e9))
            life.replica.pool.check()

    fleet.sim.add_observer(check)
    return fleet.run(), used_max


@settings(max_examples=40, deadline=None)
@given(rows_strategy, st.integers(24, 300), st.sampled_from([16, 48, 128]),
       st.integers(1, 6), st.sampled_from(["recompute", "swap"]), st.booleans())
def test_hybrid_pool_loses_no_request_and_skipping_changes_nothing(
        rows: list[tuple[float, int, int]], blocks: int, window: int, weight: int,
        mode: str, caching: bool) -> None:
    cfg = engine(blocks, preemption_mode=mode, local_window_tokens=window,
                 local_block_weight=weight, enable_prefix_caching=caching)
    out, used_max = _run(rows, cfg)
    ref, _ = _run(rows, engine(blocks, preemption_mode=mode, local_window_tokens=window,
                               local_block_weight=weight, enable_prefix_caching=caching,
                               skip_decode_steps=False))
    assert used_max <= blocks
    assert finish_times(out) == pytest.approx(finish_times(ref), rel=1e-9, abs=1e-12)
    for st_ in out.states:
        assert st_.status in (FINISHED, DROPPED)
        if st_.status == FINISHED:
            assert st_.generated == st_.output
        else:
            assert "KV blocks" in st_.reason or "max_model_len" in st_.reason
    rep = out.lives[0].replica
    assert rep.pool.num_used == 0


def test_a_short_window_fits_requests_a_plain_pool_drops() -> None:
    # a 900-token sequence needs 57 blocks in every layer (more than 40); with a
    # 16-token window and a 128-token budget its local layers hold at most 10 (the
    # window before a whole chunk), so 57 + 10 fit in 70
    rows = [(0.0, 880, 20)]
    plain, _ = _run(rows, engine(40, max_num_batched_tokens=128))
    hybrid, _ = _run(rows, engine(70, max_num_batched_tokens=128, local_window_tokens=16,
                                  local_block_weight=1))
    assert plain.states[0].status == DROPPED
    assert hybrid.states[0].status == FINISHED


def _max_decoders(cfg: EngineConfig, perf: object, reqs: list[LlmRequest]) -> int:
    fleet = Fleet([ServiceSpec("default", PoolSpec(cfg, perf, 1, 1, "round_robin"))], reqs)
    most = 0

    def watch(now: float, _: object) -> None:
        nonlocal most
        most = max(most, fleet.lives[0].replica.sched.n_dec)

    fleet.sim.add_observer(watch)
    out = fleet.run()
    assert all(s.status == FINISHED for s in out.states)
    return most


@pytest.mark.parametrize("engine_name", ["vllm", "sglang"])
def test_gemma3_at_16k_runs_the_batch_estimate_serve_fits(engine_name: str) -> None:
    # Gemma 3 27B on one H100, 16,000-token prompts: 10 whole-context and 52 local
    # layers (window 1,024). vLLM's hybrid pool runs the batch estimate serve sizes;
    # before it, every layer held every token once the windows of 256 sequences no
    # longer fitted, and 2 ran. SGLang keeps the set-aside rule (its own split pools
    # are not modelled).
    perf = real_perf("gemma3-27b")
    profile = engine_profile(engine_name)
    layout = local_kv_layout(perf.memory, profile)
    weight = layout[0] if layout else 0
    cfg = EngineConfig(
        num_kv_blocks=kv_pool_blocks(perf.memory, profile, 16, 0.9), max_num_seqs=256,
        max_num_batched_tokens=4096, max_model_len=131072, local_block_weight=weight,
        local_window_tokens=perf.memory.shape.attn_window if weight else 0)
    reqs = [LlmRequest(i, 0.0, 16000, 384) for i in range(20)]
    fits = perf.memory.max_batch_size_by_memory(16384)
    ran = _max_decoders(cfg, perf, reqs)
    if engine_name == "vllm":
        assert layout == (6, pytest.approx(10 * 2 * 16 * 128 * 2))  # 6 groups of 10
        assert ran == fits == 10  # 9 before the pool counted vLLM's 0.25 GiB reserve, not 2.3
    else:
        assert layout is None and ran == 2


def test_vllm_v0_caches_every_token_in_every_layer() -> None:
    perf = real_perf("gemma3-27b")
    v0 = kv_pool_blocks(perf.memory, engine_profile("vllm-v0"), 16, 0.9)
    # the pool as vLLM V0 sizes it (its own reserve), every layer holding every token
    free = sized_by(perf.memory, engine_profile("vllm-v0")).free_kv_bytes_per_gpu(0.9)
    assert v0 == int(free / perf.memory.kv_bytes_per_token_per_gpu // 16)


def test_random_sizes_keep_the_pool_consistent() -> None:
    rnd = random.Random(7)
    rows = sorted((rnd.uniform(0, 20), rnd.randint(1, 3000), rnd.randint(1, 400))
                  for _ in range(300))
    out, used_max = _run(rows, engine(600, max_num_batched_tokens=512, max_num_seqs=64,
                                      local_window_tokens=128, local_block_weight=3))
    assert used_max <= 600
    assert sum(s.status == FINISHED for s in out.states) + sum(
        s.status == DROPPED for s in out.states) == len(rows)


@pytest.mark.parametrize(("model", "weight", "waste"), [
    ("gemma3-4b", 6, 0.0345),  # vLLM logs 'Add 1 padding layers, may waste at most 3.45%'
    ("gemma3-27b", 6, 8 / 52),  # 52 sliding layers in 6 groups of 10
    ("gpt-oss-120b", 1, 0.0),
    ("llama4-scout", 3, 0.0),
])
def test_local_groups_are_padded_as_vllm_pads_them(model: str, weight: int,
                                                   waste: float) -> None:
    memory = real_perf(model).memory
    layout = local_kv_layout(memory, engine_profile("vllm"))
    assert layout is not None and layout[0] == weight
    local = memory.shape.local_kv_bytes_per_token_per_gpu
    assert weight * layout[1] / local - 1.0 == pytest.approx(waste, abs=5e-5)


def test_a_model_with_only_local_layers_keeps_the_set_aside_rule() -> None:
    assert local_kv_layout(real_perf("mistral-7b").memory, engine_profile("vllm")) is None
