"""Training beside inference on one fleet (run/shared_fleet.py): accounting, determinism,
preemption at the peak, refill after it, bad input, the bundled example."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gputwin.cli.main import main
from gputwin.errors import InputError
from gputwin.run.results import SimulationResult
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

EXAMPLE = Path(__file__).parents[2] / "examples" / "shared-fleet.yaml"

SHARED = """\
name: small-shared
seed: 3
cluster:
  system: dgx-h100
  num_nodes: 2
  storage: lustre
workload:
  synthetic:
    num_jobs: 12
    arrival: {process: poisson, mean_interarrival: 4min}
    templates:
      - {kind: finetune, model: llama3-8b, num_gpus: [4, 8], global_batch_size: 64,
         seq_len: 2048, tokens: [0.05e9, 0.2e9], startup_overhead: 1min}
scheduler: {profile: priority, checkpoint_interval: 10min, restart_overhead: 1min}
serving:
  services:
    - name: chat
      model: llama3.1-8b
      replicas: 1
      engine: {max_num_seqs: 8}
      autoscaler: {metric: concurrency, target: 6, interval: 20s, min_replicas: 1,
                   max_replicas: 12, scale_down_stabilization: 2min, storage: lustre}
      slo: {ttft: 2s, tpot: 100ms}
  workload:
    - kind: synthetic
      service: chat
      num_requests: 6000
      arrival: {process: diurnal, rate: 8, amplitude: 0.9, period: 30min, peak: 10min}
      prompt: {dist: lognormal, mean: 800, median: 500, high: 8000}
      output: {dist: lognormal, mean: 400, median: 250, high: 2000}
"""


def _write(tmp_path: Path, text: str = SHARED) -> Path:
    path = tmp_path / "shared.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> SimulationResult:
    return simulate(load_scenario(_write(tmp_path_factory.mktemp("shared"))))


def _comparable(r: SimulationResult) -> str:
    summary = {k: v for k, v in r.summary.items() if "wall" not in k}
    return json.dumps(summary, sort_keys=True, default=str)


def test_every_job_and_request_is_accounted_for(result: SimulationResult) -> None:
    s = result.summary
    assert s["kind"] == "shared_fleet"
    assert sum(s["jobs_by_status"].values()) == len(result.jobs) == 12
    assert len({j.job_id for j in result.jobs}) == 12
    assert not any(j.job_id.startswith("serving/") for j in result.jobs)
    by_status = s["serving"]["requests_by_status"]
    assert sum(by_status.values()) == s["serving"]["num_requests"] == 6000
    assert len(result.serving.requests) == 6000
    assert s["fleet"]["accounted"] == {"jobs": True, "requests": True}
    assert s["jobs_by_status"]["completed"] == 12 and by_status["finished"] == 6000
    chat = s["serving"]["services"]["chat"]
    assert chat["ttft_s"]["p99"] is not None and chat["tpot_s"]["p50"] is not None
    assert chat["goodput_active_rps"] > 0


def test_compare_metrics_of_a_shared_fleet_exist(result: SimulationResult) -> None:
    from gputwin.run.compare_metrics import METRICS, metric_value

    fleet = [m for m in METRICS if m.path[:1] == ("fleet",)]
    assert len(fleet) >= 5
    assert all(metric_value(result.summary, m) is not None for m in fleet)


def test_gpus_never_over_allocated_and_hours_add_up(result: SimulationResult) -> None:
    assert max(result.timeline.gpus_allocated) <= result.total_gpus
    f = result.summary["fleet"]
    training = sum(j.gpu_hours or 0.0 for j in result.jobs)
    assert f["training_gpu_hours"] == pytest.approx(training)
    # the allocation timeline holds both: its integral is serving + training GPU-hours
    assert result.summary["gpu_hours"] == pytest.approx(
        f["serving_gpu_hours"] + f["training_gpu_hours"], rel=1e-6)
    replica_h = sum(r.gpus * (r.end_s - r.start_s) for r in result.serving.replicas) / 3600
    assert f["serving_gpu_hours"] == pytest.approx(replica_h)


def test_inference_preempts_training_at_the_peak_and_hands_gpus_back(
        result: SimulationResult) -> None:
    f = result.summary["fleet"]
    assert f["training_preemptions_by_serving"] >= 1
    assert f["training_lost_gpu_hours"] > 0
    preempted = [j for j in result.jobs if j.preemptions]
    assert preempted and all(j.status == "completed" for j in preempted)
    replicas = result.serving.replicas
    assert f["replicas_started"] == len(replicas) > 1
    assert f["serving_gpus_peak"] > 1  # scaled up from one replica
    # after the traffic the pool settles at min_replicas: the others left before the end
    retired = [r for r in replicas if r.end_s < result.end_time_s]
    assert len(retired) == len(replicas) - 1
    # serving replicas started later had to load their weights first (not warm)
    late = [r for r in replicas if r.start_s > 0]
    assert late and all(r.ready_s > r.start_s for r in late)


def test_same_seed_same_summary_other_seed_differs(tmp_path: Path,
                                                   result: SimulationResult) -> None:
    path = _write(tmp_path)
    again = simulate(load_scenario(path))
    assert _comparable(again) == _comparable(result)
    other = simulate(load_scenario(path, ["seed=4"]))
    assert _comparable(other) != _comparable(result)


def test_static_replicas_never_preempt_or_churn(tmp_path: Path) -> None:
    text = SHARED.replace("min_replicas: 1,", "min_replicas: 2,").replace(
        "max_replicas: 12", "max_replicas: 2").replace("replicas: 1\n", "replicas: 2\n")
    r = simulate(load_scenario(_write(tmp_path, text)))
    f = r.summary["fleet"]
    assert f["replicas_started"] == 2 and f["serving_gpus_peak"] == 2
    assert f["training_preemptions_by_serving"] == 0
    times = np.asarray([t for t in r.serving.timelines["chat"].time_s])
    assert len(times) > 0


def test_a_kueue_quota_bounds_the_serving_replicas(tmp_path: Path) -> None:
    """Replicas go through the same quotas: a serving queue of 4 GPUs without borrowing
    holds at most 4 replicas, the autoscaler's other asks wait and are withdrawn, and the
    latency shows it."""
    text = SHARED.replace("scheduler: {profile: priority,", """tenancy:
  cluster_queues:
    serving: {quotas: {h100-sxm-80gb: {nominal: 4, borrowing_limit: 0}}}
    default: {quotas: {h100-sxm-80gb: 12}}
scheduler: {profile: priority,""")
    r = simulate(load_scenario(_write(tmp_path, text)))
    f = r.summary["fleet"]
    assert f["serving_gpus_peak"] == 4 and f["replicas_withdrawn"] > 0
    assert r.summary["queues"]["serving"]["peak_gpus"] == 4
    assert r.summary["queues"]["serving"]["admissions"] == f["replicas_started"]
    assert f["accounted"] == {"jobs": True, "requests": True}
    assert f["slo_attainment_frac"] < 0.9  # one replica's worth of quota is too little


@pytest.mark.parametrize(("old", "new", "message"), [
    ("model: llama3.1-8b\n", "model: llama3.1-8b\n      gpu: a100-sxm-80gb\n",
     "a shared fleet has one GPU type"),
    ("model: llama3.1-8b\n",
     "model: llama3.1-8b\n      disaggregation: {prefill_replicas: 1, decode_replicas: 1}\n",
     "disaggregat"),
    ("serving:\n  services:", "site: {region: US-CAL-CISO}\nserving:\n  services:",
     "does not model `site:`"),
    ("model: llama3.1-8b\n", "model: llama3.1-9b\n", "llama3.1-9b"),
])
def test_bad_shared_fleet_input_names_the_field(tmp_path: Path, old: str, new: str,
                                                message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_scenario(_write(tmp_path, SHARED.replace(old, new, 1)))
    assert "shared.yaml" in str(info.value)


def test_replica_larger_than_the_cluster_is_refused(tmp_path: Path) -> None:
    text = SHARED.replace("model: llama3.1-8b\n", "model: llama3.1-8b\n      tp: 8\n")
    text = text.replace("num_nodes: 2", "num_nodes: 2\n  network: {nodes_per_leaf: 2}")
    r = simulate(load_scenario(_write(tmp_path, text.replace("max_replicas: 12",
                                                              "max_replicas: 3"))))
    assert r.summary["fleet"]["serving_gpus_peak"] <= 16
    too_big = SHARED.replace("system: dgx-h100\n  num_nodes: 2",
                             "system: dgx-h100\n  num_nodes: 1").replace(
        "model: llama3.1-8b\n", "model: llama3.1-405b\n      tp: 16\n      weights_dtype: fp8\n")
    with pytest.raises(InputError, match="replica of 16 GPUs"):
        simulate(load_scenario(_write(tmp_path, too_big)))


def test_example_reports_job_and_request_metrics(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The bundled example, shortened (2 h of traffic peaking at 1 h, 20 jobs)."""
    main(["simulate", str(EXAMPLE), "--json", "--outputs", "summary,csv,report",
          "--out", str(tmp_path / "out"), "--set",
          "horizon=2h", "--set", "workload.synthetic.num_jobs=20", "--set",
          "serving.workload.0.num_requests=4000", "--set",
          "serving.workload.0.arrival.period=2h", "--set",
          "serving.workload.0.arrival.peak=1h", "--set",
          "serving.workload.0.arrival.rate=0.8"])
    s = json.loads(capsys.readouterr().out)
    assert s["kind"] == "shared_fleet" and s["num_jobs"] == 20
    assert sum(s["jobs_by_status"].values()) == 20
    assert sum(s["serving"]["requests_by_status"].values()) == 4000
    assert s["fleet"]["accounted"] == {"jobs": True, "requests": True}
    assert s["serving"]["services"]["chat"]["ttft_s"]["p50"] is not None
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"summary.json", "jobs.csv", "requests.csv", "report.html"} <= files
    html = (tmp_path / "out" / "report.html").read_text()
    assert "Training beside inference" in html


def test_a_live_twin_of_a_shared_fleet_is_refused(tmp_path: Path) -> None:
    from gputwin.run.live import LiveTwin

    with pytest.raises(InputError, match="live twin of a shared fleet"):
        LiveTwin(load_scenario(_write(tmp_path)))


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), amplitude=st.sampled_from([0.0, 0.5, 0.95]),
       max_replicas=st.integers(1, 6), profile=st.sampled_from(["priority", "fifo"]),
       horizon=st.sampled_from(["", "horizon: 20min\n"]))
def test_property_nothing_lost_nothing_over_allocated(
        tmp_path: Path, seed: int, amplitude: float, max_replicas: int, profile: str,
        horizon: str) -> None:
    text = (SHARED.replace("seed: 3\n", f"seed: {seed}\n{horizon}")
            .replace("amplitude: 0.9", f"amplitude: {amplitude}")
            .replace("max_replicas: 12", f"max_replicas: {max_replicas}")
            .replace("profile: priority", f"profile: {profile}")
            .replace("num_requests: 6000", "num_requests: 1500"))
    r = simulate(load_scenario(_write(tmp_path, text)))
    s, f = r.summary, r.summary["fleet"]
    assert f["accounted"] == {"jobs": True, "requests": True}
    assert sum(s["serving"]["requests_by_status"].values()) == 1500
    assert max(r.timeline.gpus_allocated) <= r.total_gpus
    assert 0 <= f["serving_gpus_peak"] <= max(max_replicas, 1) * 1
    if profile == "fifo":
        assert f["training_preemptions_by_serving"] == 0
    if not horizon:
        assert s["jobs_by_status"]["completed"] == 12
        assert s["serving"]["requests_by_status"]["finished"] == 1500

