"""Blackwell Ultra's faster softmax exponential: the catalog's ``attention_sfu_speedup``
multiplies the attention rate of the serving model and nothing else."""

from __future__ import annotations

import pytest
from perf_serving_builders import make_perf

from gputwin.catalog.loader import default_catalog


def test_catalog_default_is_one_and_blackwell_ultra_is_sourced() -> None:
    cat = default_catalog()
    assert cat.accelerator("b200").attention_sfu_speedup == 1.0
    assert cat.accelerator("h100-sxm-80gb").attention_sfu_speedup == 1.0
    for name in ("b300", "gb300"):
        acc = cat.accelerator(name)
        assert acc.attention_sfu_speedup > 1.0
        assert "softmax" in acc.sources["attention_sfu_speedup"].lower()


def test_speedup_scales_the_attention_rate_only() -> None:
    # B300 and B200 share the bf16 peak and the training attention fraction, so their
    # attention rates differ by the speed-up alone; HBM bandwidth is equal as well
    b200 = make_perf("llama3.3-70b", "b200", weights_dtype="fp4")
    b300 = make_perf("llama3.3-70b", "b300", weights_dtype="fp4")
    speedup = default_catalog().accelerator("b300").attention_sfu_speedup
    assert b300._attn_rate == pytest.approx(b200._attn_rate * speedup, rel=1e-12)
    assert b300._bw == pytest.approx(b200._bw, rel=1e-12)


def test_long_prefill_gains_more_than_short() -> None:
    # a step of one 32K-token prefill is attention-heavy; one of 512 tokens is GEMM-bound
    b200 = make_perf("llama3.3-70b", "b200", weights_dtype="fp4")
    b300 = make_perf("llama3.3-70b", "b300", weights_dtype="fp4")

    def ratio(tokens: int) -> float:
        pairs = tokens * tokens / 2
        return (b200.step_time_s(tokens, 0.0, pairs, 0, 0.0)
                / b300.step_time_s(tokens, 0.0, pairs, 0, 0.0))

    assert ratio(32768) > ratio(512)
