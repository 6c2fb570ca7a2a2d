"""Step-time physics and invariants of the training model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from perf_builders import train


def test_breakdown_sums_to_the_step() -> None:
    est = train()
    parts = sum(v for k, v in est.breakdown.items() if k != "checkpoint_s")
    assert parts == pytest.approx(est.step_time_s, rel=1e-9)
    assert est.tokens_per_s == pytest.approx(256 * 2048 / est.step_time_s)
    assert est.tflops_per_gpu == pytest.approx(est.mfu * 989.4, rel=1e-6)


def test_bubble_shrinks_with_microbatches_and_interleaving() -> None:
    few = train(interleave=1, global_batch_size=64)  # pp 8, dp 4: 16 micro-batches
    many = train(interleave=1, global_batch_size=512)  # 128 micro-batches
    inter = train(interleave=6, global_batch_size=64)
    # the reported share is (p - 1)/(v·m) of the ideal step
    assert few.extra["bubble_frac"] == pytest.approx(7 / 16)
    assert many.extra["bubble_frac"] == pytest.approx(7 / 128)
    assert inter.extra["bubble_frac"] == pytest.approx(7 / (6 * 16))
    share = {k: e.breakdown["bubble_s"] / e.step_time_s for k, e in
             (("few", few), ("many", many), ("inter", inter))}
    assert share["many"] < share["few"]
    assert share["inter"] < share["few"]
    assert many.tokens_per_s_per_gpu > few.tokens_per_s_per_gpu


def test_fp8_is_faster_but_less_than_twice() -> None:
    bf16, fp8 = train(dtype="bf16"), train(dtype="fp8")
    speedup = bf16.step_time_s / fp8.step_time_s
    assert 1.2 < speedup < 1.8


def test_cross_leaf_oversubscribed_placement_is_slower() -> None:
    # TP8 inside a node, DP32 across 32 nodes: the gradient reduce-scatter crosses leaves.
    kw = dict(num_gpus=512, tp=8, pp=2, interleave=1, global_batch_size=512,
              oversubscription=4.0, nodes_per_leaf=16)
    packed = train(num_leaves_spanned=1, **kw)
    spread = train(num_leaves_spanned=4, **kw)
    assert spread.step_time_s > packed.step_time_s
    assert spread.breakdown["dp_comm_s"] + spread.breakdown["pp_comm_s"] > (
        packed.breakdown["dp_comm_s"] + packed.breakdown["pp_comm_s"])


def test_sequence_parallel_overlap_reduces_exposed_tp() -> None:
    assert (train(sequence_parallel=True).breakdown["tp_comm_s"]
            < train(sequence_parallel=False, check_memory=False).breakdown["tp_comm_s"])


def test_time_to_train_and_energy() -> None:
    tokens = 300e9
    est = train(tokens=tokens, storage="lustre")
    assert est.num_steps == pytest.approx(tokens / (256 * 2048))
    assert est.time_to_train_s is not None and est.energy_j is not None
    assert est.time_to_train_s > est.num_steps * est.step_time_s  # + checkpoints
    hours = est.time_to_train_s / 3600
    # Bounds: all GPUs idle without hosts ... all at TDP plus full host power.
    low = 128 * 70.0 * est.time_to_train_s
    high = (128 * 700.0 + 16 * 4600.0) * est.time_to_train_s
    assert low < est.energy_j < high
    assert hours > 0 and est.to_dict()["energy_j"] == est.energy_j


def test_checkpoint_is_amortised_over_the_interval() -> None:
    often = train(tokens=1e9, storage="lustre", checkpoint_interval_s=60)
    rarely = train(tokens=1e9, storage="lustre", checkpoint_interval_s=3600)
    assert often.time_to_train_s > rarely.time_to_train_s  # type: ignore[operator]
    assert often.step_time_s == rarely.step_time_s


def test_to_dict_has_the_promised_keys() -> None:
    d = train(tokens=1e9).to_dict()
    for key in ("step_time_s", "mfu", "hfu", "tokens_per_s", "tokens_per_s_per_gpu",
                "tflops_per_gpu", "memory_per_gpu_bytes", "memory", "breakdown", "dp",
                "time_to_train_s", "energy_j", "num_steps"):
        assert key in d
    import json

    json.dumps(d)


def test_moe_expert_parallel_costs_all_to_all() -> None:
    from perf_builders import flat_train

    kw = dict(model="mixtral-8x7b", gpu="b200", num_gpus=64, global_batch_size=256,
              micro_batch_size=2, seq_len=4096, dtype="fp8")
    ep8 = flat_train(ep=8, **kw)
    assert ep8.breakdown["ep_comm_s"] > 0
    assert ep8.memory.weights_bytes < flat_train(ep=1, check_memory=False,
                                                     **kw).memory.weights_bytes


def test_estimate_is_fast() -> None:
    import time

    train()
    start = time.perf_counter()
    for i in range(50):
        train(global_batch_size=256 * (1 + i % 5))
    per_call = (time.perf_counter() - start) / 50
    assert per_call < 5e-3


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.sampled_from([1, 2, 4]),
       mbs=st.sampled_from([1, 2]), accum=st.integers(1, 8),
       recompute=st.sampled_from(["none", "selective", "full"]),
       dtype=st.sampled_from(["bf16", "fp8"]))
def test_estimates_are_finite_and_consistent(tp: int, pp: int, mbs: int, accum: int,
                                             recompute: str, dtype: str) -> None:
    from perf_builders import flat_train

    num_gpus = 64
    dp = num_gpus // (tp * pp)
    est = flat_train(model="llama3-8b", gpu="h100-sxm-80gb", num_gpus=num_gpus, tp=tp,
                         pp=pp, micro_batch_size=mbs, global_batch_size=mbs * dp * accum * pp,
                         seq_len=4096, recompute=recompute, dtype=dtype, check_memory=False)
    assert math.isfinite(est.step_time_s) and est.step_time_s > 0
    assert 0 < est.mfu <= est.hfu < 1
    assert all(v >= 0 for v in est.breakdown.values())
    assert est.memory_per_gpu_bytes > 0
