"""Job run time on a placement: estimator plumbing, caching, start-up physics, memory."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

import gputwin.perf.training as perf_training
from gputwin.catalog.loader import default_catalog
from gputwin.catalog.model_math import total_params
from gputwin.cluster import ClusterLayout, make_placement
from gputwin.errors import DoesNotFitError
from gputwin.perf.training import (
    ParallelConfig,
    TrainingConfig,
    TrainingEstimate,
    estimate_training,
)
from gputwin.topology.hardware import NetworkTopology, resolve_hardware
from gputwin.training import TrainingRuntime, load_time_s, weights_bytes
from gputwin.workload import JobSpec

CAT = default_catalog()
HW = resolve_hardware(CAT, system="dgx-h100", storage="lustre",
                      network=NetworkTopology("fat_tree", nodes_per_leaf=2, oversubscription=2.0))
LAYOUT = ClusterLayout(num_nodes=8, gpus_per_node=8, nodes_per_leaf=2)
CFG = TrainingConfig(global_batch_size=64, seq_len=4096)


def make_job(num_gpus: int = 32, tokens: float = 64 * 4096 * 10.5, **kw: Any) -> JobSpec:
    return JobSpec(job_id="j", kind="finetune", tenant="t", model="llama3-8b", num_gpus=num_gpus,
                   submit_time_s=0.0, parallel=ParallelConfig(), training=CFG, tokens=tokens,
                   **kw)


class RecordingEstimator:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, model: Any, hw: Any, num_gpus: int, parallel: Any, config: Any,
                 **kw: Any) -> TrainingEstimate:
        self.calls.append({"num_gpus": num_gpus, **kw})
        if self.fail:
            raise DoesNotFitError("needs 300 GiB per GPU, has 80 GiB")
        est = estimate_training(model, hw, num_gpus, parallel, config, **kw)
        # make the placement visible: 10 % slower per extra leaf
        leaves = kw.get("num_leaves_spanned") or 1
        return dataclasses.replace(est, step_time_s=est.step_time_s * (1 + 0.1 * (leaves - 1)))


def test_num_leaves_of_the_placement_reaches_the_estimator() -> None:
    fake = RecordingEstimator()
    rt = TrainingRuntime(HW, {"llama3-8b": CAT.model("llama3-8b")}, estimator=fake)
    one_leaf = make_placement(LAYOUT, {0: 8, 1: 8, 2: 0})
    two_leaves = make_placement(LAYOUT, {1: 8, 2: 8})
    a = rt.plan(make_job(16), one_leaf)
    b = rt.plan(make_job(16), two_leaves)
    assert [c["num_leaves_spanned"] for c in fake.calls] == [1, 2]
    assert b.duration_s > a.duration_s
    assert a.num_steps == 11.0  # ceil(10.5 steps)
    assert a.duration_s == pytest.approx(a.startup_s + 11 * (a.step_time_s or 0.0))


def test_estimates_are_cached_by_config_gpus_and_leaves() -> None:
    fake = RecordingEstimator()
    rt = TrainingRuntime(HW, {"llama3-8b": CAT.model("llama3-8b")}, estimator=fake)
    p = make_placement(LAYOUT, {0: 8, 1: 8})
    for tokens in (1e8, 2e8, 3e8):
        rt.plan(make_job(16, tokens=tokens), p)
    assert len(fake.calls) == 1 and rt.num_estimates == 1


def test_energy_scales_with_steps() -> None:
    rt = TrainingRuntime(HW, {"llama3-8b": CAT.model("llama3-8b")})
    p = make_placement(LAYOUT, {0: 8})
    small = rt.plan(make_job(8, tokens=64 * 4096 * 10), p)
    large = rt.plan(make_job(8, tokens=64 * 4096 * 30), p)
    assert small.energy_j is not None and large.energy_j is not None
    assert large.energy_j == pytest.approx(3 * small.energy_j)
    assert small.energy_j > 0


def test_memory_failure_is_a_reason_not_an_exception() -> None:
    rt = TrainingRuntime(HW, {"llama3-8b": CAT.model("llama3-8b")},
                         estimator=RecordingEstimator(fail=True))
    assert rt.infeasible_reason(make_job(8)) == "needs 300 GiB per GPU, has 80 GiB"


def test_fixed_duration_jobs_skip_the_model() -> None:
    rt = TrainingRuntime(HW, {}, estimator=RecordingEstimator(fail=True))
    job = JobSpec("x", "trace", "t", "unknown", 4, 0.0, fixed_duration_s=123.0)
    plan = rt.plan(job, make_placement(LAYOUT, {0: 4}))
    assert (plan.duration_s, plan.startup_s, plan.energy_j) == (123.0, 0.0, None)
    assert rt.infeasible_reason(job) is None


def test_weights_bytes_is_two_bytes_per_parameter() -> None:
    model = CAT.model("llama3-8b")
    assert weights_bytes(model) == 2 * total_params(model)
    # Llama 3 8B has about 8.0e9 parameters (Meta model card) → ~16 GB in bf16.
    assert 15.5e9 < weights_bytes(model) < 16.5e9


def test_load_time_is_bytes_over_bandwidth() -> None:
    tier = CAT.storage_tier("lustre")
    one_node = make_placement(LAYOUT, {0: 8})
    t = load_time_s(16e9, 8, one_node, tier)
    assert t == pytest.approx(16e9 / tier.read_bandwidth_bytes_per_s_per_node + tier.latency_s)
    # tp·pp = 16 over two nodes: each node reads half the weights
    two = make_placement(LAYOUT, {0: 8, 1: 8})
    assert load_time_s(16e9, 16, two, tier) == pytest.approx(
        8e9 / tier.read_bandwidth_bytes_per_s_per_node + tier.latency_s)
    assert load_time_s(16e9, 8, one_node, None) == 0.0


def test_aggregate_bandwidth_caps_large_gangs() -> None:
    tier = CAT.storage_tier("lustre")
    assert tier.aggregate_read_bandwidth_bytes_per_s is not None
    many = ClusterLayout(num_nodes=64, gpus_per_node=8, nodes_per_leaf=64)
    placement = make_placement(many, {n: 8 for n in range(64)})
    t = load_time_s(100e9, 8, placement, tier)  # every node reads the full 100 GB
    expected = 64 * 100e9 / tier.aggregate_read_bandwidth_bytes_per_s
    assert math.isclose(t, expected + tier.latency_s)
    assert t > 100e9 / tier.read_bandwidth_bytes_per_s_per_node


_PLACEHOLDER = "PLACEHOLDER" in (perf_training.__doc__ or "")
real_model = pytest.mark.skipif(_PLACEHOLDER, reason="perf/training.py is still the placeholder "
                                "stub (ignores the fabric and memory); runs once it is real")


@real_model
def test_spanning_leaves_of_an_oversubscribed_fabric_is_slower() -> None:
    """Same gang, same GPUs: inside one leaf vs spread over 8 leaves of a 2:1 fat-tree."""
    rt = TrainingRuntime(HW, {"llama3-8b": CAT.model("llama3-8b")})
    wide = ClusterLayout(num_nodes=16, gpus_per_node=8, nodes_per_leaf=8)
    inside = make_placement(wide, {n: 8 for n in range(8)})  # leaf 0 only
    spread = make_placement(ClusterLayout(num_nodes=16, gpus_per_node=8, nodes_per_leaf=2),
                            {n: 8 for n in range(0, 16, 2)})  # one node in each of 8 leaves
    assert (inside.num_leaves, spread.num_leaves) == (1, 8)
    job = JobSpec("j", "pretrain", "t", "llama3-8b", 64, 0.0,
                  training=TrainingConfig(global_batch_size=64, seq_len=4096), tokens=1e9)
    assert rt.plan(job, spread).step_time_s > rt.plan(job, inside).step_time_s  # type: ignore[operator]


@real_model
def test_70b_full_finetune_on_one_node_without_model_parallelism_does_not_fit() -> None:
    # bf16 weights alone are 2 B x 70.6e9 = 141 GB per GPU with tp=pp=1 (> 80 GB HBM).
    rt = TrainingRuntime(HW, {"llama3-70b": CAT.model("llama3-70b")})
    job = JobSpec("j", "finetune", "t", "llama3-70b", 8, 0.0,
                  training=TrainingConfig(global_batch_size=8, seq_len=4096), tokens=1e8)
    reason = rt.infeasible_reason(job)
    assert reason is not None and "GiB" in reason
