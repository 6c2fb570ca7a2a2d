"""Attention work by architecture: local-attention windows and head dimension."""

from __future__ import annotations

import dataclasses

import pytest

from gputwin.catalog.loader import Catalog
from gputwin.perf.attention_work import (
    causal_keys_per_query,
    head_dim_rate_factor,
    kernel_keys_per_query,
)
from gputwin.perf.calibration import default_calibration
from gputwin.perf.compute import layer_times
from gputwin.perf.flops import arch_of, layer_shapes
from gputwin.perf.training import ParallelConfig, TrainingConfig, make_plan


def test_causal_keys_whole_context_and_window() -> None:
    assert causal_keys_per_query(8192) == pytest.approx(4096)
    # position i sees min(i, W) keys: W - W^2/(2s) on average (continuous form)
    assert causal_keys_per_query(8192, 128) == pytest.approx(128 - 128 * 128 / (2 * 8192))
    # a window at least as long as the sequence is the whole context
    assert causal_keys_per_query(4096, 8192) == causal_keys_per_query(4096)
    assert causal_keys_per_query(4096, 4096) == causal_keys_per_query(4096)


def test_kernel_keys_average_the_local_layers(catalog: Catalog) -> None:
    a = arch_of(catalog.model("gpt-oss-120b"))  # 18 of 36 layers on a 128-token window
    extra = default_calibration().local_attention_extra_keys
    windowed = causal_keys_per_query(8192, 128) + extra
    expected = (18 * 4096 + 18 * windowed) / 36
    assert kernel_keys_per_query(a, 8192, extra) == pytest.approx(expected)
    # no local layers: the causal half
    llama = arch_of(catalog.model("llama3-8b"))
    assert kernel_keys_per_query(llama, 8192, extra) == pytest.approx(4096)
    # a short sequence inside the window is never charged more than the whole context
    assert kernel_keys_per_query(a, 256, extra) == pytest.approx(128)


def test_head_dim_factor_is_one_at_128_and_above(catalog: Catalog) -> None:
    c = default_calibration().attention_softmax_head_dim
    for name in ("llama3-8b", "deepseek-v3"):
        a = arch_of(catalog.model(name))
        for shape, _ in layer_shapes(a):
            assert head_dim_rate_factor(shape, a.num_attention_heads, c) == 1.0
    gpt_oss = arch_of(catalog.model("gpt-oss-120b"))
    shape = layer_shapes(gpt_oss)[0][0]
    # fitted to cuDNN's head dim 64 / 128 ratio on H100 (0.720)
    assert head_dim_rate_factor(shape, gpt_oss.num_attention_heads, c) == pytest.approx(
        0.72, abs=0.005)


def _attn_fwd_s(model: object, seq_len: int, catalog: Catalog) -> float:
    from gputwin.catalog.schema import ModelSpec

    assert isinstance(model, ModelSpec)
    cfg = TrainingConfig(global_batch_size=8, micro_batch_size=1, seq_len=seq_len)
    plan = make_plan(model, 8, 8, ParallelConfig(), cfg)
    c = default_calibration()
    accel = catalog.accelerator("h100-sxm-80gb")
    return sum(share * lt.attn_fwd_s
               for lt, share in layer_times(plan, accel, c.for_accelerator(accel.name), c))


def test_window_layers_cost_less_attention_time(catalog: Catalog) -> None:
    model = catalog.model("gpt-oss-120b")
    whole = model.model_copy(update={"local_attention_window": None,
                                     "local_attention_layers": 0})
    assert _attn_fwd_s(model, 8192, catalog) < _attn_fwd_s(whole, 8192, catalog)
    # the saving grows with the sequence: the windowed half stops growing
    short = _attn_fwd_s(model, 2048, catalog) / _attn_fwd_s(whole, 2048, catalog)
    long = _attn_fwd_s(model, 16384, catalog) / _attn_fwd_s(whole, 16384, catalog)
    assert long < short < 1.0


def test_head_dim_64_attention_is_slower_per_flop(catalog: Catalog) -> None:
    # the same attention FLOPs with heads of 64 (64 heads) and of 128 (32 heads)
    base = catalog.model("llama3-8b")
    narrow = base.model_copy(update={"num_attention_heads": 64, "head_dim": 64})
    ratio = _attn_fwd_s(narrow, 8192, catalog) / _attn_fwd_s(base, 8192, catalog)
    assert ratio == pytest.approx(1 / 0.72, rel=0.01)


def test_calibration_has_sources() -> None:
    import yaml

    from gputwin.perf.calibration import CALIBRATION_PATH

    data = yaml.safe_load(CALIBRATION_PATH.read_text())
    for key in ("local_attention_extra_keys", "attention_softmax_head_dim"):
        assert data[key] > 0
        assert "FITTED" in data[f"{key}_source"]
    assert dataclasses.fields(default_calibration())  # loads
