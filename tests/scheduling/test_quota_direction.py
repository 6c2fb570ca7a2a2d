"""Direction: an inference queue (high priority class) and a training queue share 32 GPUs
in one cohort. Training borrows the inference quota while it is idle and gets it
reclaimed; inference barely waits. Without quotas (plain FIFO) inference queues behind
training. Also: the bundled example runs and reports per-queue figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_quota_plugins import LAYOUT, model

from gputwin.catalog.loader import default_catalog
from gputwin.run.simulate import simulate_world
from gputwin.run.world import World, build_world
from gputwin.scenario import load_scenario
from gputwin.scheduling import PluginContext, build_framework, resolve_profile
from gputwin.scheduling.base import Scheduler
from gputwin.scheduling.quota import QuotaBook, TenancyContext, queue_report, with_tenancy
from gputwin.sim.rng import RandomStreams
from gputwin.topology.hardware import resolve_hardware
from gputwin.training.runtime import TrainingRuntime
from gputwin.workload.job import JobSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kueue-cohorts.yaml"


def workload() -> list[JobSpec]:
    """Training: 16-GPU jobs of 2 h, a backlog at t=0. Inference: 8-GPU jobs of 10 min,
    one every 30 min."""
    train = [JobSpec(job_id=f"train-{i:02d}", kind="finetune", tenant="training", model="m",
                     num_gpus=16, submit_time_s=float(i), fixed_duration_s=7200.0)
             for i in range(8)]
    infer = [JobSpec(job_id=f"infer-{i:02d}", kind="inference", tenant="serving", model="m",
                     num_gpus=8, submit_time_s=600.0 + 1800.0 * i, fixed_duration_s=600.0)
             for i in range(12)]
    return sorted(train + infer, key=lambda j: (j.submit_time_s, j.job_id))


def run(tenancy: bool) -> tuple[dict[str, list[float]], dict[str, Any] | None]:
    """Waits per job kind, and the per-queue report (with tenancy)."""
    hw = resolve_hardware(default_catalog(), system="dgx-h100")
    jobs = workload()
    book = None
    fw: Scheduler
    if tenancy:
        book = QuotaBook(model(
            {"inference": {"cohort": "ai", "quotas": {"h100": 16},
                           "preemption": {"within_cluster_queue": "LowerPriority",
                                          "reclaim_within_cohort": "Any"}},
             "training": {"cohort": "ai", "quotas": {"h100": 16},
                          "preemption": {"reclaim_within_cohort": "Any"}}},
            priority_classes={"inference-critical": 1000, "training": 100},
            local_queues={"serving": {"cluster_queue": "inference",
                                      "priority_class": "inference-critical"},
                          "training": {"cluster_queue": "training",
                                       "priority_class": "training"}}))
        ctx = TenancyContext(layout=LAYOUT, estimate_runtime=lambda j: j.fixed_duration_s or 0,
                             gpu_type="h100", quota=book)
        fw = build_framework(with_tenancy(resolve_profile("fifo")), ctx)
    else:
        fw = build_framework(resolve_profile("fifo"), PluginContext(
            layout=LAYOUT, estimate_runtime=lambda j: j.fixed_duration_s or 0))
    world = World(hw, LAYOUT, jobs, fw, TrainingRuntime(hw, {}), checkpoint_interval_s=600.0,
                  quota=book)
    result = simulate_world(world, name="d", seed=0, horizon_s=None)
    assert all(j.status == "completed" for j in result.jobs)
    waits: dict[str, list[float]] = {"inference": [], "finetune": []}
    for rec in result.jobs:
        assert rec.wait_time_s is not None
        waits[rec.kind].append(rec.wait_time_s)
    report = None if book is None else queue_report(book, result.jobs, result.end_time_s)
    return waits, report


def test_inference_barely_waits_while_training_borrows_and_is_reclaimed() -> None:
    fifo, _ = run(tenancy=False)
    kueue, report = run(tenancy=True)
    assert report is not None
    # plain FIFO: inference waits behind 2-hour training jobs
    assert max(fifo["inference"]) > 3600.0
    # quotas + priority classes: every inference job starts at once (reclaim is immediate)
    assert max(kueue["inference"]) == 0.0
    training, inference = report["training"], report["inference"]
    assert training["gpu_hours_borrowed"] > 0.0  # it used the idle inference quota
    assert inference["gpu_hours_lent"] > 0.0
    assert training["gpu_hours_borrowed"] == pytest.approx(inference["gpu_hours_lent"])
    assert training["preemptions_by_reason"]["reclaim"] > 0
    assert training["lost_gpu_hours"] > 0.0
    assert inference["preemptions"] == 0 and inference["lost_gpu_hours"] == 0.0
    assert inference["peak_borrowed_gpus"] == 0.0
    # training never holds more than the cohort's 32 GPUs; inference never more than 16 here
    assert training["peak_gpus"] <= 32 and inference["peak_gpus"] <= 16


def test_bundled_example_runs_and_reports_queues() -> None:
    scenario = load_scenario(EXAMPLE)
    world = build_world(scenario, default_catalog(), RandomStreams(scenario.seed))
    assert world.quota is not None
    result = simulate_world(world, name=scenario.name, seed=scenario.seed,
                            horizon_s=scenario.horizon)
    report = queue_report(world.quota, result.jobs, result.end_time_s)
    assert set(report) == {"inference", "team-a", "team-b", "team-c"}
    assert sum(q["num_jobs"] for q in report.values()) == len(result.jobs)
    inference = report["inference"]
    assert inference["preemptions"] == 0  # nothing outranks the inference class
    others = [q for name, q in report.items() if name != "inference"]
    assert sum(q["preemptions_by_reason"]["reclaim"] for q in others) > 0
    assert sum(q["gpu_hours_borrowed"] for q in report.values()) > 0
    assert abs(sum(q["gpu_hours_borrowed"] for q in report.values())
               - sum(q["gpu_hours_lent"] for q in report.values())) < 1e-6
