"""Variant expansion, validation before any run, seeds, determinism, serialisation."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from tests.run.conftest import SMALL

from gputwin.errors import InputError, UnknownNameError
from gputwin.run.compare import (
    comparison_json,
    prepare_comparison,
    run_comparison,
    runs_csv,
)
from gputwin.run.compare_metrics import METRIC_KEYS, METRICS, derived_values, metric_value
from gputwin.run.compare_variants import expand_variants, split_values
from gputwin.run.results import JobRecord


@pytest.fixture
def small_path(tmp_path: Path) -> Path:
    """The run tests' small scenario with the scheduler named by profile (overridable)."""
    path = tmp_path / "small.yaml"
    text = SMALL.replace("scheduler: {policy: fifo, placement: first_fit}",
                         "scheduler: {profile: fifo}")
    assert text != SMALL
    path.write_text(text, encoding="utf-8")
    return path

# -- splitting and expansion ----------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("fifo,backfill-easy", ["fifo", "backfill-easy"]),
    ("fifo", ["fifo"]),
    (" 8 , 16 ", ["8", "16"]),
    ("{mode: easy, runtime_estimate: oracle},{mode: conservative}",
     ["{mode: easy, runtime_estimate: oracle}", "{mode: conservative}"]),
    ("[8, 16],[32]", ["[8, 16]", "[32]"]),
    ("'a,b',\"c,d\"", ["'a,b'", "\"c,d\""]),
    (r"a\,b,c", ["a,b", "c"]),
    ("{x: [1, {y: 2}]},3", ["{x: [1, {y: 2}]}", "3"]),
])
def test_split_values(raw: str, expected: list[str]) -> None:
    assert split_values(raw, "--set k=...") == expected


@pytest.mark.parametrize("raw", ["a,,b", "a,", "{a: 1", "'a,b", "[1, 2"])
def test_split_values_rejects_malformed(raw: str) -> None:
    with pytest.raises(InputError, match="--set"):
        split_values(raw, "--set k=" + raw)


def test_cartesian_product_order_and_labels() -> None:
    vs = expand_variants(["scheduler.profile=fifo,backfill-easy", "horizon=5d",
                          "cluster.num_nodes=8,16,32"])
    assert len(vs) == 6
    assert [v.label for v in vs[:3]] == ["profile=fifo, num_nodes=8", "profile=fifo, num_nodes=16",
                                         "profile=fifo, num_nodes=32"]
    assert vs[3].axis_values == (("scheduler.profile", "backfill-easy"),
                                 ("cluster.num_nodes", "8"))
    # the common option is applied to every variant, before the axis values
    assert all(v.overrides[0] == "horizon=5d" for v in vs)
    assert vs[5].overrides == ("horizon=5d", "scheduler.profile=backfill-easy",
                               "cluster.num_nodes=32")


def test_single_axis_labels_are_the_values_and_no_axis_is_one_variant() -> None:
    assert [v.label for v in expand_variants(["scheduler.profile=fifo,topology"])] == [
        "fifo", "topology"]
    only = expand_variants(["seed=4"])
    assert len(only) == 1 and only[0].overrides == ("seed=4",)
    assert len(expand_variants([])) == 1


@pytest.mark.parametrize(("sets", "message"), [
    (["seed=1,2"], "use --seeds"),
    (["a.b=1,2", "a.b=3,4"], "already varied"),
    (["a.b=1,1"], "listed twice"),
    (["noequals"], "key.path=value"),
    (["a..b=1,2"], "empty segment"),
    (["a.b=[1,2"], "unbalanced"),
    # the fixed value was dropped without a word: the axis replaced it in every variant
    (["a.b=1,2", "a.b=3"], "both fixed and varied"),
    (["a.b=3", "a.b=1,2"], "both fixed and varied"),
])
def test_expansion_errors(sets: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        expand_variants(sets)


# -- validation before any run --------------------------------------------------------------


def test_unknown_key_fails_before_running(small_path: Path) -> None:
    with pytest.raises(InputError, match=r"--set scheduler\.profil=fifo.*profil"):
        prepare_comparison(small_path, ["scheduler.profil=fifo,backfill-easy"], seeds=2)


def test_bad_value_in_a_later_variant_is_caught_up_front(small_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="backfill-esy") as err:
        prepare_comparison(small_path, ["scheduler.profile=fifo,backfill-esy"], seeds=2)
    assert "backfill-easy" in err.value.suggestions


def test_bad_seed_count(small_path: Path) -> None:
    with pytest.raises(InputError, match="--seeds"):
        prepare_comparison(small_path, [], seeds=0)


def test_synthetic_workload_runs_every_seed(small_path: Path) -> None:
    plan = prepare_comparison(small_path, ["scheduler.profile=fifo,backfill-easy"], seeds=3)
    assert plan.seeds == [3, 4, 5]  # the scenario's seed is 3
    assert plan.seed_dependent and "synthetic" in plan.note
    assert [sc.scheduler.profile for sc in plan.scenarios] == ["fifo", "backfill-easy"]


def test_trace_only_workload_runs_once(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("timestamp,duration,num_gpus,gpu_time,cluster\n"
                     "2017-10-01 00:00:00,3600,8,28800,a\n"
                     "2017-10-01 00:10:00,600,8,4800,a\n"
                     "2017-10-01 00:20:00,60,4,240,b\n", encoding="utf-8")
    sc = tmp_path / "s.yaml"
    sc.write_text("name: t\nseed: 9\ncluster: {system: dgx-a100, num_nodes: 1}\n"
                  f"workload: {{trace: {{format: philly_csv, path: {trace}}}}}\n",
                  encoding="utf-8")
    plan = prepare_comparison(sc, ["scheduler.profile=fifo,backfill-easy"], seeds=5)
    assert plan.seeds == [9] and not plan.seed_dependent and "n/a" in plan.note
    result = run_comparison(plan, jobs=1)
    assert len(result.runs) == 2
    cell = result.cells[1]["wait_mean_s"]
    assert cell.estimate.half_width is None and cell.diff is not None
    assert cell.diff.significant is None  # one deterministic run: no interval
    # FIFO: the 4-GPU job waits behind the 8-GPU job (one 8-GPU node) until t = 3600 + 600
    fifo = result.runs[0].summary["wait_s"]["mean"]
    assert fifo == pytest.approx((0 + 3000 + (4200 - 1200)) / 3)


# -- running --------------------------------------------------------------------------------


def _table(d: dict[str, object]) -> object:
    """The parts of compare.json that must not depend on wall-clock time."""
    assert isinstance(d["variants"], list)
    return [(v["label"], v["metrics"], [r["metrics"] for r in v["runs"]]) for v in d["variants"]]


def test_deterministic_in_process_and_in_workers(small_path: Path) -> None:
    sets = ["scheduler.profile=fifo,backfill-easy", "workload.synthetic.num_jobs=25"]
    plan = prepare_comparison(small_path, sets, seeds=2)
    one = run_comparison(plan, jobs=1)
    two = run_comparison(plan, jobs=2)
    again = run_comparison(prepare_comparison(small_path, sets, seeds=2), jobs=1)
    assert [(r.variant, r.seed) for r in two.runs] == [(0, 3), (0, 4), (1, 3), (1, 4)]
    assert _table(one.to_dict()) == _table(two.to_dict()) == _table(again.to_dict())


def test_statistics_are_computed_from_the_runs(small_path: Path) -> None:
    plan = prepare_comparison(small_path, ["scheduler.profile=fifo,backfill-easy",
                                           "workload.synthetic.num_jobs=25"], seeds=3)
    c = run_comparison(plan, jobs=1)
    for vi in range(2):
        values = [r.summary["jct_s"]["mean"] for r in c.runs_of(vi)]
        est = c.cells[vi]["jct_mean_s"].estimate
        assert est.n == 3 and est.mean == pytest.approx(sum(values) / 3)
    base = [r.metrics["wait_mean_s"] for r in c.runs_of(0)]
    other = [r.metrics["wait_mean_s"] for r in c.runs_of(1)]
    diff = c.cells[1]["wait_mean_s"].diff
    assert diff is not None and c.cells[0]["wait_mean_s"].diff is None
    assert diff.mean == pytest.approx(sum(o - b for o, b in zip(other, base, strict=True)) / 3)
    # the same synthetic jobs in both variants: completions agree job for job
    assert c.cells[1]["jobs_completed"].estimate.mean == c.cells[0]["jobs_completed"].estimate.mean


def test_json_and_csv(small_path: Path) -> None:
    plan = prepare_comparison(small_path, ["scheduler.profile=fifo,topology",
                                           "workload.synthetic.num_jobs=20"], seeds=2)
    c = run_comparison(plan, jobs=1)
    d = json.loads(comparison_json(c))
    assert d["baseline"] == "fifo" and d["seeds"] == [3, 4] and d["confidence"] == 0.95
    # the metric list names what these runs report: cluster metrics, no serving ones
    keys = [m["key"] for m in d["metrics"]]
    assert keys == [k for k in METRIC_KEYS if k in keys]
    assert {"jct_mean_s", "wait_mean_s", "jobs_completed"} <= set(keys)
    assert not {"ttft_p50_s", "serving_ttft_p99_s"} & set(keys)
    v1 = d["variants"][1]["metrics"]["jct_mean_s"]
    assert set(v1) >= {"mean", "ci95_half_width", "ci95", "n", "diff_vs_baseline"}
    assert set(v1["diff_vs_baseline"]) >= {"mean", "ci95", "rel", "significant", "n_pairs"}
    rows = list(csv.DictReader(io.StringIO(runs_csv(c))))
    assert [(r["variant"], r["seed"]) for r in rows] == [("fifo", "3"), ("fifo", "4"),
                                                         ("topology", "3"), ("topology", "4")]
    assert float(rows[0]["jct_mean_s"]) == pytest.approx(c.runs[0].summary["jct_s"]["mean"])


def test_metric_paths_exist_in_a_run_summary(small_path: Path) -> None:
    c = run_comparison(prepare_comparison(small_path, ["workload.synthetic.num_jobs=10"],
                                          seeds=1), jobs=1)
    summary = c.runs[0].summary
    # energy, reliability and fabric figures exist only with a `site:` / `failures:`
    # section / `cluster.network.contention`
    missing = [m.key for m in METRICS if m.path and m.path[0] not in summary
               and m.key != "co2e_operational_g"
               and m.path[0] not in ("reliability", "fabric") and m.scope == "cluster"]
    assert missing == []
    assert metric_value(summary, METRICS[0]) == summary["jct_s"]["mean"]


def test_multi_node_jct_uses_jobs_spanning_two_nodes() -> None:
    def rec(job_id: str, nodes: int, jct: float, status: str = "completed") -> JobRecord:
        return JobRecord(job_id=job_id, kind="k", model="m", tenant="t", num_gpus=8 * nodes,
                         submit_time_s=0.0, start_time_s=0.0, end_time_s=jct,
                         status=status, num_nodes=nodes)  # type: ignore[arg-type]
    jobs = [rec("a", 1, 10.0), rec("b", 2, 100.0), rec("c", 4, 300.0), rec("d", 2, 5.0, "running")]
    assert derived_values(jobs)["jct_multinode_mean_s"] == pytest.approx(200.0)
    assert derived_values(jobs[:1])["jct_multinode_mean_s"] is None
