"""The readers on the real data sets in $GPUTWIN_DATA_DIR (skipped with a reason if absent)."""

from __future__ import annotations

import pytest

from gputwin.scenario.paths import data_dir
from gputwin.workload.trace_stats import trace_stats
from gputwin.workload.traces import read_trace

DATA = data_dir() / "traces"
OPENB = DATA / "alibaba-gpu-v2023"
PHILLY = DATA / "philly-adaptdl/philly.csv"


@pytest.mark.skipif(not (OPENB / "openb_pod_list_default.csv").is_file(),
                    reason=f"openb trace not present in {OPENB}")
def test_openb_default_matches_published_figures() -> None:
    w = read_trace("openb", OPENB / "openb_pod_list_default.csv")
    # FGD (ATC'23) / README: 8,152 pods; cluster of 6,212 GPUs (1,213 GPU nodes)
    assert len(w.jobs) + w.skipped["no GPU"] == 8152
    assert w.num_node_gpus == 6212 and len(w.nodes) == 1213
    stats = trace_stats(w.jobs)
    # 43.6 % of GPU pods request a fraction of a GPU (VALIDATION-SOURCES.md)
    assert stats["fractional_share"] == pytest.approx(0.436, abs=0.005)
    assert {j.qos for j in w.jobs} <= {"LS", "BE", "Burstable", "Guaranteed"}
    assert all(j.num_gpus <= 8 for j in w.jobs)


@pytest.mark.skipif(not (OPENB / "openb_pod_list_multigpu50.csv").is_file(),
                    reason=f"openb multigpu50 variant not present in {OPENB}")
def test_openb_variants() -> None:
    share = read_trace("openb", OPENB / "openb_pod_list_gpushare100.csv", nodes=False)
    assert all(j.num_gpus == 1 for j in share.jobs)  # sampled GPU-sharing workload
    multi = read_trace("openb", OPENB / "openb_pod_list_multigpu50.csv", duration="1h",
                       nodes=False)
    assert len(multi.jobs) + multi.skipped["no GPU"] == 9061
    assert trace_stats(multi.jobs)["share_by_num_gpus"][8] > 0.05


@pytest.mark.skipif(not PHILLY.is_file(), reason=f"real Philly trace not present at {PHILLY}")
def test_philly_csv_through_the_registry() -> None:
    w = read_trace("philly_csv", PHILLY)
    stats = trace_stats(w.jobs)
    assert stats["num_jobs"] == 82_247
    assert stats["share_by_num_gpus"][1] == pytest.approx(0.932, abs=0.001)
    # jobs with >= 8 GPUs use 62 % of GPU time (VALIDATION-SOURCES.md)
    big = sum(v for g, v in stats["gpu_time_share_by_num_gpus"].items() if g >= 8)
    assert big == pytest.approx(0.62, abs=0.01)
    vc = read_trace("philly_csv", PHILLY, cluster="0e4a51")
    assert len(vc.jobs) == 1435 and vc.origin_s_of_day is not None


@pytest.mark.bench
@pytest.mark.skipif(not PHILLY.is_file() or not (OPENB / "openb_pod_list_default.csv").is_file(),
                    reason="real traces not present")
def test_reader_speed() -> None:
    """Wall-clock bounds (benchmark marker: a loaded machine must not fail the suite)."""
    import time

    start = time.perf_counter()
    read_trace("openb", OPENB / "openb_pod_list_default.csv")
    assert time.perf_counter() - start < 1.0
    start = time.perf_counter()
    read_trace("philly_csv", PHILLY)
    assert time.perf_counter() - start < 2.5
