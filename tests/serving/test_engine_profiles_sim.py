"""The simulator under each engine profile (offline fixed-length runs, small)."""

from __future__ import annotations

from typing import Any

import pytest

from gputwin.errors import InputError
from gputwin.run.validate_serve import simulate_case

OFFLINE: dict[str, Any] = {"model": "llama3.1-8b", "gpu": "h100-sxm-80gb", "weights": "fp8",
                           "offline": {"num_requests": 300, "input_tokens": 128,
                                       "output_tokens": 128}}


def _tps(**kw: Any) -> float:
    return simulate_case(**{**OFFLINE, **kw}).metrics["output_tokens_per_s"]


def test_trtllm_profile_outruns_vllm_defaults_offline() -> None:
    # larger batch, FP8 KV, lighter host: the complaint of issue 9 (about half of TRT-LLM)
    assert _tps(engine="trtllm") > 1.3 * _tps(engine="vllm")


def test_every_engine_runs_and_finishes_every_request() -> None:
    for engine in ("vllm", "sglang", "trtllm"):
        m = simulate_case(**{**OFFLINE, "engine": engine}).metrics
        assert m["requests_by_status.finished"] == 300
        assert m["output_tokens_per_s_per_gpu"] == m["output_tokens_per_s"]


def test_non_chunked_budget_grows_to_the_longest_prompt_unless_given() -> None:
    long = {"num_requests": 20, "input_tokens": 9000, "output_tokens": 16}
    m = simulate_case(**{**OFFLINE, "engine": "trtllm", "offline": long}).metrics
    assert m["requests_by_status.finished"] == 20
    with pytest.raises(InputError, match="longest prompt"):
        simulate_case(**{**OFFLINE, "engine": "trtllm", "offline": long,
                         "max_num_batched_tokens": 8192})


def test_no_evict_budget_need_not_hold_the_output() -> None:
    # TensorRT-LLM never preempts, so a given budget only has to hold each prompt: a
    # 5,000 + 5,000 request runs whole under max_num_tokens 8192 (nothing truncated)
    case = {**OFFLINE, "max_num_batched_tokens": 8192,
            "offline": {"num_requests": 8, "input_tokens": 5000, "output_tokens": 5000}}
    m = simulate_case(**case, engine="trtllm").metrics
    assert m["requests_by_status.finished"] == 8
    assert m["truncated"] == 0
    assert m["output_tokens_per_s"] > 0
    # greedy admission may recompute a preempted sequence as one prompt: the budget must
    # hold prompt + output there
    with pytest.raises(InputError, match=r"longest sequence \(prompt \+ output\)"):
        simulate_case(**case, engine="vllm", enable_chunked_prefill=False)


def test_case_inputs_are_checked() -> None:
    with pytest.raises(InputError, match="unknown input"):
        simulate_case(**{**OFFLINE, "batch": 3})
    with pytest.raises(InputError, match="offline"):
        simulate_case(model="llama3.1-8b", gpu="h100-sxm-80gb")


def test_no_evict_admission_never_preempts_and_matches_step_by_step() -> None:
    # long outputs overflow the KV cache of a 70B on one H200: greedy admission preempts,
    # TensorRT-LLM's GUARANTEED_NO_EVICT reserves whole sequences and never does
    case = {"model": "llama3.1-70b", "gpu": "h200-sxm-141gb", "weights": "fp8",
            "kv_cache": "fp8", "max_num_seqs": 1024, "max_num_batched_tokens": 8192,
            "offline": {"num_requests": 200, "input_tokens": 1000, "output_tokens": 1000}}
    greedy = simulate_case(**case, engine="sglang").metrics
    reserve = simulate_case(**case, engine="trtllm").metrics
    ref = simulate_case(**case, engine="trtllm", skip_decode_steps=False).metrics
    assert greedy["num_preemptions"] > 0
    assert reserve["num_preemptions"] == 0
    assert reserve["requests_by_status.finished"] == 200
    assert ref["end_time_s"] == pytest.approx(reserve["end_time_s"], rel=1e-9)


def test_capacity_policy_overrides_the_profile() -> None:
    """TensorRT-LLM's MAX_UTILIZATION (``capacity_policy: greedy``, what NVIDIA's MLPerf
    harness runs) admits past the whole-sequence reservation and preempts when the cache
    runs out; the trtllm profile's GUARANTEED_NO_EVICT never does; ``no_evict`` given to
    vLLM reserves like TensorRT-LLM."""
    case = {"model": "llama3.1-70b", "gpu": "h200-sxm-141gb", "weights": "fp8",
            "kv_cache": "fp8", "max_num_seqs": 1024, "max_num_batched_tokens": 8192,
            "offline": {"num_requests": 200, "input_tokens": 1000, "output_tokens": 1000}}
    reserve = simulate_case(**case, engine="trtllm").metrics
    util = simulate_case(**case, engine="trtllm", capacity_policy="greedy").metrics
    vllm_reserve = simulate_case(**case, engine="vllm", capacity_policy="no_evict").metrics
    assert reserve["num_preemptions"] == 0 and vllm_reserve["num_preemptions"] == 0
    assert util["num_preemptions"] > 0
    assert util["batch_size_mean"] > reserve["batch_size_mean"]
    for m in (reserve, util, vllm_reserve):
        assert m["requests_by_status.finished"] == 200
    with pytest.raises(InputError, match="capacity_policy"):
        simulate_case(**case, engine="trtllm", capacity_policy="max_util")


def test_cuda_graph_padding_can_be_turned_off() -> None:
    """The trtllm profile pads a decode batch to the next captured graph size; a runtime
    without graphs (``cuda_graph_padding: false``) runs the batch as it is, so the same
    offline run finishes sooner; turning padding on for vLLM slows it."""
    case = {**OFFLINE, "offline": {"num_requests": 600, "input_tokens": 128,
                                   "output_tokens": 300}}
    padded = simulate_case(**case, engine="trtllm").metrics
    bare = simulate_case(**case, engine="trtllm", cuda_graph_padding=False).metrics
    assert bare["output_tokens_per_s"] > padded["output_tokens_per_s"]
    vllm = simulate_case(**case, engine="vllm").metrics
    vllm_padded = simulate_case(**case, engine="vllm", cuda_graph_padding=True).metrics
    assert vllm_padded["output_tokens_per_s"] < vllm["output_tokens_per_s"]
