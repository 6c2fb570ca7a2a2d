"""vLLM V1's memory profiling (the vllm profile's kv.profiling) and the usable memory the
runtime reports (Accelerator.usable_memory): the KV pool is usable memory x utilisation
less weights, the larger of the forward and sampler peaks, and the non-torch reserve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from perf_serving_builders import make_perf, write_engines_yaml
from pydantic import ValidationError

from gputwin.catalog.loader import default_catalog
from gputwin.catalog.schema import Accelerator
from gputwin.errors import InputError
from gputwin.perf.engines import engine_profile, load_engine_profiles
from gputwin.perf.serving_memory import LOGIT_BYTES

GIB = 2.0**30
#: vLLM 0.19.0's server defaults on an H100 (the llm-d-planner sweep's logs)
V019 = {"max_num_batched_tokens": 8192, "max_num_seqs": 1024}


def test_the_pool_is_the_logged_subtraction() -> None:
    perf = make_perf("llama3.1-8b", "h100-sxm-80gb", weights_dtype="bf16", **V019)
    mem, rule = perf.memory, engine_profile("vllm").profiling
    assert rule is not None and mem.profiling == rule
    assert mem.hbm_bytes == pytest.approx(79.19 * GIB)  # the runtime's total, not 80 GiB
    sampler = 1024 * 128_256 * LOGIT_BYTES * rule.sampler_logit_copies
    assert mem.activation_peak_bytes() == pytest.approx(sampler)  # 1.89 GiB, as logged
    free = 0.95 * 79.19 * GIB - perf.weights_bytes_per_gpu - sampler - rule.runtime_bytes
    assert mem.free_kv_bytes_per_gpu(0.95) == pytest.approx(free)
    tokens = mem.num_kv_blocks(16, 0.95) * 16
    assert tokens == int(free / perf.kv_bytes_per_token_per_gpu) // 16 * 16
    assert tokens == pytest.approx(476_016, rel=0.01)  # 'GPU KV cache size: 476,016 tokens'


def test_the_sampler_peak_is_whole_vocabulary_on_every_rank() -> None:
    one, two = (make_perf("llama3.1-8b", tp=tp, weights_dtype="bf16", **V019)
                for tp in (1, 2))
    assert one.memory.activation_peak_bytes() == two.memory.activation_peak_bytes()
    # the former rule split the logits over the ranks and added them to the forward
    old = [make_perf("llama3.1-8b", tp=tp, weights_dtype="bf16", engine="vllm-0.6", **V019)
           for tp in (1, 2)]
    assert old[0].memory.profiling is None
    assert old[1].memory.activation_peak_bytes() < old[0].memory.activation_peak_bytes()


def test_the_forward_peak_wins_with_few_sequences_and_many_tokens() -> None:
    few = make_perf("llama3.1-8b", max_num_batched_tokens=32768, max_num_seqs=16)
    mem = few.memory
    forward = 32768 * mem.shape.act_peak_bytes_per_token * mem.calibration.activation_peak_mult
    assert mem.activation_peak_bytes() == pytest.approx(forward)


def test_a_tensor_parallel_group_reserves_its_communicators() -> None:
    rule = engine_profile("vllm").profiling
    assert rule is not None
    tp1, tp2, pp2 = (make_perf("llama3.1-8b", tp=tp, pp=pp).memory
                     for tp, pp in ((1, 1), (2, 1), (1, 2)))
    assert tp1.runtime_bytes() == pp2.runtime_bytes() == rule.runtime_bytes
    assert tp2.runtime_bytes() == rule.tp_runtime_bytes > 5 * rule.runtime_bytes


def test_engines_without_the_rule_keep_the_calibration_reserve() -> None:
    perf = make_perf("llama3.1-8b", engine="trtllm")
    assert perf.memory.profiling is None
    assert perf.memory.runtime_bytes() == perf.calibration.runtime_overhead_bytes


@pytest.mark.parametrize(("value", "words"), [
    ({"sampler_logit_copies": 3.86, "runtime_bytes": 1e8}, "expected null or a mapping"),
    ({"sampler_logit_copies": -1, "runtime_bytes": 1e8, "tp_runtime_bytes": 1e9},
     "sampler_logit_copies: expected a number in [0, 20]"),
    ({"sampler_logit_copies": 3, "runtime_bytes": "2.5e8", "tp_runtime_bytes": 1e9},
     "runtime_bytes: expected a number"),
])
def test_a_bad_profiling_figure_is_named(tmp_path: Path, value: dict[str, Any],
                                         words: str) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["engines"]["vllm"]["kv"]["profiling"]["value"] = value

    path = write_engines_yaml(tmp_path, mutate)
    with pytest.raises(InputError, match=r"engines\.vllm\.kv\.profiling") as err:
        load_engine_profiles(path)
    assert words in str(err.value) and str(path) in str(err.value)


def test_null_profiling_is_the_calibration_rule(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["engines"]["vllm"]["kv"]["profiling"]["value"] = None

    _, profiles = load_engine_profiles(write_engines_yaml(tmp_path, mutate))
    assert profiles["vllm"].profiling is None


def test_usable_memory_defaults_to_the_nominal_and_never_exceeds_it() -> None:
    cat = default_catalog()
    tpu = cat.accelerator("tpu-v5e")  # no measurement cited
    assert tpu.usable_memory_bytes is None and tpu.usable_memory == tpu.memory_bytes
    l4 = cat.accelerator("l4")  # GDDR6 with ECC on keeps a sixteenth
    assert l4.usable_memory < l4.memory_bytes * 15 / 16
    for acc in cat.accelerators.values():
        assert acc.usable_memory <= acc.memory_bytes
    data = l4.model_dump() | {"usable_memory_bytes": "25GiB"}
    with pytest.raises(ValidationError, match="must not exceed memory_bytes"):
        Accelerator.model_validate(data)


def test_sglang_leaves_activations_to_the_rest_of_its_fraction() -> None:
    perf = make_perf("llama3.1-8b", "h100-sxm-80gb", weights_dtype="bf16", engine="sglang")
    mem, rule = perf.memory, engine_profile("sglang").profiling
    assert rule is not None and not rule.reserves_activations
    assert mem.activation_peak_bytes() > 0  # reported, not subtracted
    assert mem.set_aside_bytes() == rule.runtime_bytes
    free = 0.88 * 79.19 * GIB - perf.weights_bytes_per_gpu - rule.runtime_bytes
    assert mem.free_kv_bytes_per_gpu(0.88) == pytest.approx(free)
    # SGLang's docs-CI log on an 80 GB H100: max_total_num_tokens=444500
    assert mem.num_kv_blocks(16, 0.88) * 16 == pytest.approx(444_500, rel=0.01)


def test_no_room_under_sglang_names_weights_and_runtime() -> None:
    from gputwin.perf.engines import kv_room_problem

    perf = make_perf("llama3.1-8b", weights_dtype="bf16", engine="sglang")
    text = kv_room_problem(perf.memory, engine_profile("sglang"), 16, 0.1)
    assert text is not None and text.startswith("weights and runtime need")


def test_reserves_activations_must_be_a_boolean(tmp_path: Path) -> None:
    def mutate(data: dict[str, Any]) -> None:
        data["engines"]["sglang"]["kv"]["profiling"]["value"]["reserves_activations"] = "no"

    with pytest.raises(InputError, match="expected true or false"):
        load_engine_profiles(write_engines_yaml(tmp_path, mutate))


def test_estimate_and_simulator_size_tensorrt_llm_alike() -> None:
    from gputwin.perf.engines import kv_pool_blocks
    from gputwin.requests import ServeRequest, validated
    from gputwin.run.estimate_serve import estimate_serve

    seqs, budget = engine_profile("trtllm").limits_for(None)  # estimate serve's defaults
    perf = make_perf("llama3.3-70b", weights_dtype="fp8", kv_cache_dtype="fp8",
                     engine="trtllm", max_num_seqs=seqs, max_num_batched_tokens=budget)
    mem = perf.memory
    assert mem.memory_mode == "free"
    left = mem.hbm_bytes - perf.weights_bytes_per_gpu - mem.set_aside_bytes()
    assert mem.free_kv_bytes_per_gpu(0.9) == pytest.approx(0.9 * left)
    est = estimate_serve(validated(ServeRequest, {
        "model": "llama3.3-70b", "gpu": "h100-sxm-80gb", "weights": "fp8",
        "kv_cache": "fp8", "engine": "trtllm", "input_tokens": 1000,
        "output_tokens": 100})).to_dict()
    # 70 GiB of FP8 weights leave ~8 GiB: 0.9 of it, not 0.9 of the GPU less the weights
    assert est["kv_capacity_tokens"] == kv_pool_blocks(mem, engine_profile("trtllm"), 16,
                                                      0.9) * 16 > 20_000


def test_a_model_too_large_is_told_by_the_engine_rule() -> None:
    from gputwin.errors import DoesNotFitError
    from gputwin.requests import ServeRequest, validated
    from gputwin.run.estimate_serve import estimate_serve

    base = {"model": "llama3-70b", "gpu": "h100-sxm-80gb", "input_tokens": 100,
            "output_tokens": 10}
    with pytest.raises(DoesNotFitError, match=r"offers 71\.3 GiB at utilisation 0\.9"):
        estimate_serve(validated(ServeRequest, base))
    # TensorRT-LLM's share applies to what is left: the GPU's whole usable memory is short
    with pytest.raises(DoesNotFitError, match=r"offers 79\.2 GiB; raise"):
        estimate_serve(validated(ServeRequest, {**base, "engine": "trtllm"}))
