"""Local (sliding-window / chunked) attention layers in the serving step model and KV."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.perf.serving import ServingConfig, ServingPerf, local_attention, prepare_serving
from gputwin.topology.hardware import resolve_hardware

CAT = default_catalog()


def _perf(model: ModelSpec, gpu: str = "h200-sxm-141gb", seqs: int = 256) -> ServingPerf:
    hw = resolve_hardware(CAT, gpu=gpu)
    return prepare_serving(ServingConfig(model, hw, weights_dtype="fp8", kv_cache_dtype="fp8",
                                         max_num_seqs=seqs))


def _full(model: ModelSpec) -> ModelSpec:
    return model.model_copy(update={"local_attention_window": None,
                                    "local_attention_layers": 0})


def test_window_caps_each_side_at_window_tokens_per_query() -> None:
    assert local_attention(128.0, 10, 4, 5e4, 6e4, 7e4, 8e4) == (1280.0, 1280.0, 512.0, 512.0)
    assert local_attention(4096.0, 10, 4, 5e3, 6e3, 7e3, 8e3) == (5e3, 6e3, 7e3, 8e3)


def test_gpt_oss_splits_half_its_layers_into_windowed_groups() -> None:
    perf = _perf(CAT.model("gpt-oss-120b"))
    windowed = sum(g.num_layers for g in perf.shape.groups if g.attn_window == 128.0)
    assert windowed == 18 and sum(g.num_layers for g in perf.shape.groups) == 36
    assert perf.shape.local_kv_bytes_per_token_per_gpu == pytest.approx(
        perf.kv_bytes_per_token_per_gpu / 2)


def test_long_context_decode_is_cheaper_and_short_context_unchanged() -> None:
    oss = CAT.model("gpt-oss-120b")
    win, full = _perf(oss), _perf(_full(oss))
    long_ctx = (0, 0.0, 0.0, 256, 256 * 6000.0)
    short = (0, 0.0, 0.0, 256, 256 * 100.0)  # under the 128-token window
    # decode attention is linear in the context: half the layers now read 128 of 6,000
    attention = full.step_time_s(*long_ctx) - full.step_time_s(0, 0.0, 0.0, 256, 256.0)
    saved = full.step_time_s(*long_ctx) - win.step_time_s(*long_ctx)
    assert saved == pytest.approx(attention * (6000 - 128) / 5999 / 2, rel=1e-9)
    assert win.step_time_s(*short) == pytest.approx(full.step_time_s(*short), rel=1e-12)
    assert win.decode_kink(256) == 256 * 128 and full.decode_kink(256) == float("inf")


def test_kv_pool_sets_the_window_aside_when_that_holds_more() -> None:
    oss = CAT.model("gpt-oss-120b")
    win, full = _perf(oss), _perf(_full(oss))
    # 18 of 36 layers need only 128 tokens per sequence: nearly twice the context fits
    assert 1.8 < win.memory.num_kv_blocks(32) / full.memory.num_kv_blocks(32) < 2.0
    # a window longer than everything the pool can hold gains nothing (4,096 sequences:
    # vLLM's sampler peak grows with them, and 8,192 would leave no pool at all)
    many = [prepare_serving(dataclasses.replace(p.config, max_num_seqs=4096))
            for p in (win, full)]
    assert many[0].memory.num_kv_blocks(32) == many[1].memory.num_kv_blocks(32) > 0


@pytest.mark.parametrize(("window", "layers"), [(128, 0), (None, 4), (128, 99)])
def test_inconsistent_local_attention_is_refused(window: int | None, layers: int) -> None:
    data = CAT.model("llama3.1-8b").model_dump()
    data.update(local_attention_window=window, local_attention_layers=layers)
    with pytest.raises(ValidationError, match="local_attention"):
        ModelSpec.model_validate(data)


def test_disaggregated_transfer_ships_a_window_of_the_local_layers() -> None:
    """gpt-oss: half its layers keep 128 tokens, so a 10,000-token prompt ships the full
    KV of 18 layers and 128 tokens of the other 18."""
    oss = CAT.model("gpt-oss-120b")
    win, full = _perf(oss), _perf(_full(oss))
    bw = 1e9
    lat = full.config.hw.scale_out_fabric.latency_s
    full_s = full.kv_transfer_time_s(10_000, bw) - lat
    win_s = win.kv_transfer_time_s(10_000, bw) - lat
    assert win_s == pytest.approx(full_s * (10_000 + 128) / (2 * 10_000), rel=1e-9)
    assert win.kv_transfer_time_s(100, bw) == pytest.approx(full.kv_transfer_time_s(100, bw))


def test_long_sequences_fit_by_their_window_when_the_pool_sets_too_much_aside() -> None:
    """Gemma 3 27B: 52 of 62 layers keep a 1,024-token window. With 256 sequences' windows
    set aside the pool gains nothing, yet a batch of 16K-token sequences holds its
    whole context in only 10 layers and the window in the others, which vLLM's hybrid
    pool groups as 6 groups of 10 (the last padded): each costs ~1.8 GiB in BF16, not
    the ~7.9 GiB of every layer holding every token."""
    gemma = CAT.model("gemma3-27b")
    hw = resolve_hardware(CAT, gpu="h100-sxm-80gb")
    win, full = (prepare_serving(ServingConfig(m, hw, max_num_seqs=256))
                 for m in (gemma, _full(gemma)))
    ctx, block = 16_640, 16
    per_token = win.kv_bytes_per_token_per_gpu
    held = (1024 // block + 1) * block
    expect = ctx * per_token * 10 / 62 + held * per_token * 60 / 62
    assert win.memory.kv_bytes_per_sequence(ctx, block) == pytest.approx(expect, rel=1e-12)
    assert full.memory.kv_bytes_per_sequence(ctx, block) == pytest.approx(ctx * per_token)
    free = win.memory.free_kv_bytes_per_gpu(0.9)
    assert win.memory.max_batch_size_by_memory(ctx, block) == int(free // expect) >= 8
    assert full.memory.max_batch_size_by_memory(ctx, block) == int(free // (ctx * per_token))
    # a context inside the window costs what it costs without one
    assert win.memory.max_batch_size_by_memory(900, block) == (
        full.memory.max_batch_size_by_memory(900, block))
