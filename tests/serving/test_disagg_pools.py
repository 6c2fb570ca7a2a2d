"""Disaggregated prefill/decode: KV held on the prefill side until the transfer ends, and
prefill and decode pools that autoscale on their own."""

from __future__ import annotations

from typing import Any

import pytest
from serving_builders import LinearStepModel, engine, requests_from

from gputwin.errors import InputError
from gputwin.run.simulate_serve import simulate_serving
from gputwin.scenario.serving import ServingScenario
from gputwin.serving.autoscaler import AutoscalerSpec
from gputwin.serving.fleet import Fleet, PoolSpec, ServiceSpec
from gputwin.serving.request import FINISHED


def _fleet(transfer_s: float, prefill_blocks: int, n: int = 6,
           horizon_s: float | None = None) -> Fleet:
    """Prompts of 160 tokens (11 blocks of 16 with the first token) at t = 0."""
    reqs = requests_from([(0.0, 160, 20)] * n)
    pre = PoolSpec(engine(prefill_blocks, max_num_seqs=8), LinearStepModel(), 1, 1)
    dec = PoolSpec(engine(4000, max_num_seqs=64), LinearStepModel(), 1, 1)
    svc = ServiceSpec("default", dec, prefill_pool=pre, kv_transfer_s=lambda _: transfer_s)
    return Fleet([svc], reqs, horizon_s=horizon_s)


def test_prefill_kv_stays_allocated_until_the_transfer_completes() -> None:
    during = _fleet(transfer_s=1.0, prefill_blocks=4000, horizon_s=0.5)
    during.run()  # prefills done (a few ms), transfers still running
    prefill = during.entry["default"].alive[0]
    assert prefill.num_running == 0
    assert prefill.pool.num_used == 6 * 11  # every prompt's blocks, held for the transfer
    after = _fleet(transfer_s=1.0, prefill_blocks=4000, horizon_s=1.5)
    after.run()
    assert after.entry["default"].alive[0].pool.num_used == 0  # freed after the transfer


def test_a_slow_transfer_throttles_prefill_admission() -> None:
    # room for two prompts at once: the third waits for a transfer to finish
    fast = _fleet(transfer_s=0.001, prefill_blocks=24).run()
    slow = _fleet(transfer_s=1.0, prefill_blocks=24).run()
    assert all(s.status == FINISHED for s in fast.states + slow.states)
    first = sorted(s.first_token_s or 0.0 for s in slow.states)
    assert first[-1] > 2.0  # three rounds of two, each behind a 1 s transfer
    assert max(s.first_token_s or 0.0 for s in fast.states) < 0.5


def _scenario(**disagg: Any) -> ServingScenario:
    svc = {"name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
           "disaggregation": {"prefill_replicas": 1, "decode_replicas": 1, **disagg},
           "autoscaler": {"metric": "queue", "target": 2, "interval": "2s",
                          "min_replicas": 1, "max_replicas": 6}}
    # long prompts, one output token beyond the first: the prefill pool is the bottleneck
    return ServingScenario.model_validate({"name": "t", "serving": {
        "services": [svc],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 1500,
                      "arrival": {"process": "poisson", "rate": 60},
                      "prompt": {"dist": "fixed", "value": 6000},
                      "output": {"dist": "fixed", "value": 2}}]}})


def test_prefill_and_decode_pools_scale_independently() -> None:
    res = simulate_serving(_scenario())
    added = {role: sum(1 for r in res.replicas if r.role == role and r.start_s > 0)
             for role in ("prefill", "decode")}
    assert added["prefill"] >= 1, "the overloaded prefill pool never grew"
    assert added["decode"] == 0, "the idle decode pool grew with it"
    assert res.summary["requests_by_status"]["finished"] == 1500


def test_the_prefill_pool_may_have_its_own_policy() -> None:
    capped = simulate_serving(_scenario(prefill_autoscaler={
        "metric": "queue", "target": 2, "interval": "2s", "min_replicas": 1,
        "max_replicas": 1}))
    assert not [r for r in capped.replicas if r.role == "prefill" and r.start_s > 0]


def test_autoscaler_spec_is_per_pool() -> None:
    spec = AutoscalerSpec(max_replicas=3)
    pool = PoolSpec(engine(), LinearStepModel(), 1, 1, autoscaler=spec)
    assert pool.autoscaler is spec


def _layout_run(prefill_layout: dict[str, int] | None) -> Any:
    svc: dict[str, Any] = {
        "name": "chat", "model": "llama3.1-70b", "gpu": "h100-sxm-80gb", "tp": 4,
        "weights_dtype": "fp8",
        "disaggregation": {"prefill_replicas": 1, "decode_replicas": 1}}
    if prefill_layout is not None:
        svc["disaggregation"]["prefill_layout"] = prefill_layout
    sc = ServingScenario.model_validate({"name": "t", "seed": 1, "serving": {
        "services": [svc],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 200,
                      "arrival": {"process": "poisson", "rate": 2},
                      "prompt": {"dist": "fixed", "value": 4000},
                      "output": {"dist": "fixed", "value": 50}}]}})
    return simulate_serving(sc)


def test_a_prefill_pool_can_have_its_own_layout() -> None:
    same = _layout_run(None)
    wide = _layout_run({"tp": 8})
    gpus = {(r.role, r.gpus) for r in wide.replicas}
    assert gpus == {("prefill", 8), ("decode", 4)}
    assert {(r.role, r.gpus) for r in same.replicas} == {("prefill", 4), ("decode", 4)}
    # prompts prefill on twice the GPUs: TTFT falls, decode speed stays
    assert wide.summary["ttft_s"]["p50"] < 0.75 * same.summary["ttft_s"]["p50"]
    assert wide.summary["tpot_s"]["p50"] == pytest.approx(same.summary["tpot_s"]["p50"],
                                                          rel=0.05)
    assert wide.summary["finished"] == same.summary["finished"] == 200
    # the ledger bills the prefill pool's 8 GPUs: more GPU-hours for the same work
    assert wide.summary["gpu_hours"] > same.summary["gpu_hours"]
    from gputwin.run.serving_summary import replica_shape_text

    assert wide.summary["prefill_gpus_per_replica"] == 8
    assert replica_shape_text(wide.summary) == ("8 x h100-sxm-80gb per prefill and 4 per "
                                                "decode replica")
    assert "prefill_gpus_per_replica" not in same.summary
    assert replica_shape_text(same.summary) == "4 x h100-sxm-80gb per replica"


def test_a_prefill_layout_the_model_cannot_take_is_an_input_error() -> None:
    with pytest.raises(InputError, match="tp"):
        _layout_run({"tp": 3})


def test_the_mean_batch_counts_decoding_replicas_only() -> None:
    """A disaggregated service's prefill replicas hand each sequence on after its prompt:
    the mean batch is the decode replicas' (Little's law over the decode phases), not
    diluted by the prefill pool's replica count."""
    svc: dict[str, Any] = {
        "name": "chat", "model": "llama3.1-8b", "gpu": "h100-sxm-80gb",
        "disaggregation": {"prefill_replicas": 3, "decode_replicas": 1}}
    sc = ServingScenario.model_validate({"name": "t", "seed": 2, "serving": {
        "services": [svc],
        "workload": [{"kind": "synthetic", "service": "chat", "num_requests": 400,
                      "arrival": {"process": "poisson", "rate": 8},
                      "prompt": {"dist": "fixed", "value": 1000},
                      "output": {"dist": "fixed", "value": 200}}]}})
    res = simulate_serving(sc)
    t = res.requests
    decoding_s = float((t.finish_s - t.first_token_s)[t.status == 0].sum())
    tl = res.timelines["chat"]
    little = decoding_s / (res.end_time_s - tl.time_s[0])
    assert res.summary["batch_size_mean"] == pytest.approx(little, rel=0.1)
