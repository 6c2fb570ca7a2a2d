"""TPU serving: JetStream's static per-slot KV cache (``kv_cache_length``) and the
``jetstream`` engine profile (host work overlapped with the device step)."""

from __future__ import annotations

import pytest
from tests.cli_run import run_cli
from tests.perf_serving.perf_serving_builders import make_perf

from gputwin.errors import DoesNotFitError, InputError
from gputwin.perf.engines import current_engine_names, engine_names, engine_profile
from gputwin.requests import ServeRequest, validated
from gputwin.run.estimate_serve import ServingEstimate, estimate_serve

V5E = {"model": "llama2-7b", "gpu": "tpu-v5e", "tp": 8}


def _serve(**fields: object) -> ServingEstimate:
    return estimate_serve(validated(ServeRequest, {**V5E, "input_tokens": 230,
                                                   "output_tokens": 200, **fields}))


def test_a_static_cache_reads_every_slot_whole() -> None:
    static = make_perf(**V5E, kv_cache_length=2048)
    paged = make_perf(**V5E)
    # 96 slots holding 300 tokens each: the static cache reads 96 x 2,048 tokens
    assert static.step_time_s(0, 0.0, 0.0, 96, 96 * 300.0) == pytest.approx(
        paged.step_time_s(0, 0.0, 0.0, 96, 96 * 2048.0))
    assert static.step_time_s(0, 0.0, 0.0, 96, 96 * 300.0) > 1.5 * paged.step_time_s(
        0, 0.0, 0.0, 96, 96 * 300.0)  # MHA Llama 2: the KV reads dominate the step
    # prefill attention still runs over the prompt's own tokens
    assert static.step_time_s(1024, 0.0, 1024 * 512.0, 0, 0.0) == pytest.approx(
        paged.step_time_s(1024, 0.0, 1024 * 512.0, 0, 0.0))


def test_the_static_cache_sizes_the_memory_check() -> None:
    est = _serve(batch_size=64, kv_cache_length=2048, gpu_memory_utilization=1.0)
    assert est.max_batch_size_by_memory < _serve(batch_size=64).max_batch_size_by_memory
    with pytest.raises(DoesNotFitError, match="2048 tokens"):
        _serve(batch_size=200, kv_cache_length=2048)


@pytest.mark.parametrize("bad", [0, -5])
def test_the_cli_refuses_a_non_positive_cache_length(bad: int,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["estimate", "serve", "--model", "llama2-7b", "--gpu", "tpu-v5e",
                            "--tp", "8", "--input-tokens", "230", "--output-tokens", "200",
                            "--kv-cache-length", str(bad)], capsys)
    assert code == 2 and "--kv-cache-length" in err


def test_the_config_refuses_a_bad_cache_length() -> None:
    with pytest.raises(InputError, match="--kv-cache-length"):
        make_perf(**V5E, kv_cache_length=0)


def test_jetstream_runs_the_device_step_alone() -> None:
    js = make_perf(**V5E, engine="jetstream", kv_cache_length=2048)
    vl = make_perf(**V5E, engine="vllm", kv_cache_length=2048)
    gap = (vl.step_time_s(0, 0.0, 0.0, 96, 96 * 300.0)
           - js.step_time_s(0, 0.0, 0.0, 96, 96 * 300.0))
    p = engine_profile("vllm")
    assert gap == pytest.approx(p.step_overhead_s + 96 * p.per_seq_overhead_s)


def test_jetstream_is_named_not_searched_and_tpu_only() -> None:
    assert "jetstream" in engine_names()
    assert "jetstream" not in current_engine_names()
    with pytest.raises(InputError):
        make_perf(model="llama3.1-8b", gpu="h100-sxm-80gb", engine="jetstream")


@pytest.mark.parametrize(("prefill", "decode", "ctx"), [(0, 96, 300), (512, 64, 900), (0, 1, 5)])
def test_the_fitting_components_read_the_static_cache_too(prefill: int, decode: int,
                                                          ctx: int) -> None:
    from gputwin.perf.serving import step_components

    p = make_perf(**V5E, kv_cache_length=2048)
    args = (prefill, 0.0, prefill * prefill / 2.0, decode, float(decode * ctx))
    c = step_components(p, *args)
    cal = p.calibration
    a = cal.for_accelerator("tpu-v5e")
    step_oh, seq_oh = cal.host_overheads(p.config.engine)
    total = (c["steps"] * step_oh + c["seqs"] * seq_oh + c["layers"] * cal.layer_overhead_s
             + c["compute_unit_s"] / a.compute_eff_mult + c["memory_unit_s"] / a.bandwidth_frac
             + c["fixed_s"])
    assert total == pytest.approx(p.step_time_s(*args), rel=1e-9)
