"""Memory model: Korthikanti et al. activation formulas, ZeRO sharding, capacity checks."""

from __future__ import annotations

import pytest
from perf_builders import train

from gputwin.catalog.loader import Catalog
from gputwin.errors import DoesNotFitError
from gputwin.perf.activations import activation_bytes_per_token
from gputwin.perf.flops import arch_of, layer_shapes
from gputwin.perf.memory import inflight_microbatches
from gputwin.perf.plan import Plan


def _plan(arch, **kw):  # type: ignore[no-untyped-def]
    base = dict(arch=arch, num_gpus=64, tp=8, pp=8, cp=1, ep=1, dp=1, interleave=1,
                sequence_parallel=True, zero_stage=1, micro_batch_size=1, seq_len=2048,
                global_batch_size=64, dtype="bf16", recompute="selective")
    base.update(kw)
    return Plan(**base)


def test_korthikanti_activation_formula(catalog: Catalog) -> None:
    # Korthikanti et al. 2022: with SP and selective recompute, 34·s·b·h/t bytes per layer;
    # without SP, s·b·h·(10 + 24/t).
    arch = arch_of(catalog.model("gpt3-175b"))
    shape = layer_shapes(arch)[0][0]
    h, t = arch.hidden_size, 8
    assert activation_bytes_per_token(shape, _plan(arch)) == pytest.approx(34 * h / t)
    no_sp = _plan(arch, sequence_parallel=False)
    assert activation_bytes_per_token(shape, no_sp) == pytest.approx(h * (10 + 24 / t))


def test_interleaving_adds_inflight_activations(catalog: Catalog) -> None:
    arch = arch_of(catalog.model("gpt3-175b"))
    plain = inflight_microbatches(_plan(arch))
    inter = inflight_microbatches(_plan(arch, interleave=3))
    assert plain == 8
    assert inter == pytest.approx(8 * (1 + 7 / 24))


def test_zero_stages_shrink_memory() -> None:
    mems = [train(zero_stage=z, num_gpus=512, global_batch_size=1024, check_memory=False).memory
            for z in (0, 1, 2, 3)]
    assert mems[0].optimizer_bytes > mems[1].optimizer_bytes
    assert mems[1].gradients_bytes > mems[2].gradients_bytes
    assert mems[2].weights_bytes > mems[3].weights_bytes
    totals = [m.total_bytes for m in mems]
    assert totals == sorted(totals, reverse=True)


def test_more_recompute_less_memory_more_time() -> None:
    est = {r: train(recompute=r) for r in ("none", "selective", "full")}
    assert est["full"].memory.activations_bytes < est["selective"].memory.activations_bytes
    assert est["selective"].memory.activations_bytes <= est["none"].memory.activations_bytes
    assert est["full"].step_time_s > est["selective"].step_time_s > est["none"].step_time_s


def test_sequence_parallel_saves_activation_memory() -> None:
    sp = train(sequence_parallel=True).memory.activations_bytes
    no = train(sequence_parallel=False, check_memory=False).memory.activations_bytes
    assert no > 1.5 * sp


def test_175b_does_not_fit_on_8_gpus() -> None:
    with pytest.raises(DoesNotFitError) as info:
        train(num_gpus=8, tp=8, pp=1, interleave=1, global_batch_size=8)
    text = str(info.value)
    assert "per GPU" in text and "79.2 GiB usable" in text  # what the runtime reports


def test_check_memory_false_reports_instead_of_raising() -> None:
    from perf_builders import flat_train

    est = flat_train(model="gpt3-175b", gpu="h100-sxm-80gb", num_gpus=8, tp=8,
                         global_batch_size=8, check_memory=False)
    assert est.memory_per_gpu_bytes > est.memory_capacity_bytes


def test_memory_of_a_published_config_fits() -> None:
    est = train(dtype="fp8")
    assert 40e9 < est.memory_per_gpu_bytes < est.memory_capacity_bytes


def test_balanced_stages_take_layers_from_the_first_and_last() -> None:
    from gputwin.perf.plan import stage_layer_counts

    # Llama 3 405B pre-training: 126 layers on 16 stages, one fewer on the first and last.
    counts = stage_layer_counts(126, 16, 1)
    assert counts[0] == counts[-1] == 7 and set(counts[1:-1]) == {8} and sum(counts) == 126
    assert stage_layer_counts(126, 16, 1, balanced=False) == (8,) * 16
    inter = stage_layer_counts(80, 8, 4)  # 32 chunks of 2-3 layers
    assert sum(inter) == 80 and max(inter) - min(inter) <= 1


def test_held_chunks_follow_megatron_warmup(catalog: Catalog) -> None:
    from gputwin.perf.memory import held_chunks

    arch = arch_of(catalog.model("gpt3-175b"))
    plan = _plan(arch, global_batch_size=64)  # m = 64, p = 8
    assert [held_chunks(plan, r) for r in range(8)] == [8, 7, 6, 5, 4, 3, 2, 1]
    inter = _plan(arch, interleave=2, global_batch_size=64)
    assert held_chunks(inter, 0) == 2 * 7 + 8 + 1
    few = _plan(arch, interleave=4, global_batch_size=8)  # m = p: all m·v chunks in flight
    assert held_chunks(few, 0) == 8 * 4


def test_published_405b_layout_fits_80gb() -> None:
    # Llama 3 (Dubey et al. 2024, Table 4): TP8 PP16 DP128, 8k tokens, 16 sequences per DP
    # rank, BF16, no activation checkpointing — on 80 GB H100s.
    from perf_builders import flat_train

    est = flat_train(model="llama3.1-405b", gpu="h100-sxm-80gb", num_gpus=16384, tp=8,
                         pp=16, global_batch_size=2048, seq_len=8192, recompute="none",
                         sequence_parallel=True)
    assert est.memory_per_gpu_bytes < est.memory_capacity_bytes
    even = flat_train(model="llama3.1-405b", gpu="h100-sxm-80gb", num_gpus=16384, tp=8,
                          pp=16, global_batch_size=2048, seq_len=8192, recompute="none",
                          sequence_parallel=True, balanced_stages=False, check_memory=False)
    assert even.memory_per_gpu_bytes > est.memory_per_gpu_bytes


def test_pipeline_outputs_and_optimizer_offload(catalog: Catalog) -> None:
    from gputwin.perf.calibration import default_calibration
    from gputwin.perf.memory import peak_memory

    arch = arch_of(catalog.model("gpt3-175b"))
    c = default_calibration()
    freed = peak_memory(_plan(arch), c)
    kept = peak_memory(_plan(arch, deallocate_pipeline_outputs=False), c)
    # 8 held micro-batches x 2048 tokens x 12288 x 2 B / tp 8 (sequence parallel)
    assert kept.activations_bytes - freed.activations_bytes == pytest.approx(
        8 * 2048 * 12288 * 2 / 8)
    offload = peak_memory(_plan(arch, offload_optimizer=True), c)
    assert offload.optimizer_bytes == 0 < freed.optimizer_bytes
    slow = train(offload_optimizer=True)
    assert slow.breakdown["optimizer_s"] > 10 * train().breakdown["optimizer_s"]
