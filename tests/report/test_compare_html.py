"""compare.html: self-contained, deterministic, escaped; figures carry the CI error bars."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from gputwin.report.compare import (
    allocation_figure,
    fmt_diff,
    fmt_estimate,
    jct_cdf_figure,
    metric_figure,
    render_compare,
    verdict,
)
from gputwin.run.compare import Comparison, prepare_comparison, run_comparison
from gputwin.run.compare_metrics import METRICS
from gputwin.run.compare_stats import Difference, Estimate

SCENARIO = """\
name: cmp-html
seed: 5
cluster:
  system: dgx-h100
  num_nodes: 4
  network: {topology: fat_tree, nodes_per_leaf: 2, oversubscription: 2.0}
workload:
  synthetic:
    num_jobs: 12
    arrival: {process: poisson, mean_interarrival: 20min}
    templates:
      - {model: llama3-8b, num_gpus: [8, 16], global_batch_size: 64, seq_len: 4096,
         tokens: [2e8, 1e9]}
scheduler: {profile: fifo}
"""


def _compare(tmp_path: Path, sets: list[str], seeds: int = 2) -> Comparison:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO, encoding="utf-8")
    return run_comparison(prepare_comparison(path, sets, seeds=seeds), jobs=1)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Comparison:
    return _compare(tmp_path_factory.mktemp("cmp"), ["scheduler.profile=fifo,topology"])


def test_self_contained_and_deterministic(comparison: Comparison) -> None:
    page = render_compare(comparison)
    assert page == render_compare(comparison)
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=", page) and "<link" not in page
    assert page.count("Plotly.newPlot(") == len(comparison.shown_metrics()) + 2
    assert page.count('<script type="text/javascript">') == 1  # plotly.js inlined once
    for v in comparison.variants:
        assert v.label in page


def test_labels_are_escaped(tmp_path: Path) -> None:
    c = _compare(tmp_path, ["name=<b>x</b>,<i>y</i>"], seeds=1)
    page = render_compare(c)
    assert "<b>x</b>" not in page and "<i>y</i>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page


def test_bars_have_ci_error_bars(comparison: Comparison) -> None:
    m = next(m for m in METRICS if m.key == "jct_mean_s")
    fig = metric_figure(comparison, m)
    assert fig is not None
    bar = fig["data"][0]  # type: ignore[index]
    halves = [comparison.cells[vi][m.key].estimate.half_width for vi in range(2)]
    means = [comparison.cells[vi][m.key].estimate.mean for vi in range(2)]
    assert all(h is not None for h in halves) and all(x is not None for x in means)
    # error bars and bars share one scale
    ratio_err = bar["error_y"]["array"][0] / halves[0]  # type: ignore[operator]
    ratio_bar = bar["y"][0] / means[0]  # type: ignore[operator]
    assert ratio_err == pytest.approx(ratio_bar, rel=1e-4)


def test_cdf_pools_seeds_and_allocation_uses_first_seed(comparison: Comparison) -> None:
    cdf = jct_cdf_figure(comparison)
    assert cdf is not None
    n_done = sum(len(r.jct_s) for r in comparison.runs_of(0))
    assert f"(n={n_done:,})" in cdf["data"][0]["name"]  # type: ignore[index]
    ys = cdf["data"][0]["y"]  # type: ignore[index]
    assert ys[-1] == 1.0 and all(a <= b for a, b in itertools.pairwise(ys))
    alloc = allocation_figure(comparison)
    assert alloc is not None and len(alloc["data"]) == 2  # type: ignore[arg-type]
    assert max(max(t["y"]) for t in alloc["data"]) <= 100.0  # type: ignore[attr-defined]


def test_nothing_completed_still_renders(tmp_path: Path) -> None:
    c = _compare(tmp_path, ["horizon=1s", "scheduler.profile=fifo,topology"], seeds=1)
    page = render_compare(c)
    assert "No job completed in any run." in page


def test_cell_formatting() -> None:
    assert fmt_estimate(Estimate(7200.0, 1800.0, 5), "s") == "2 h ± 30 min"
    assert fmt_estimate(Estimate(0.5, None, 1), "frac") == "50.0 %"
    assert fmt_estimate(Estimate(None, None, 0), "s") == "—"
    assert fmt_diff(Difference(-10.0, 2.0, 5, -0.1, True, 100.0), "s") == "-10.0 % ±2.0 *"
    assert fmt_diff(Difference(0.012, 0.02, 5, 0.1, False, 0.12), "frac") == "+1.2 pp ±2.0"
    assert fmt_diff(Difference(5.0, None, 1, None, None, 0.0), "count") == "+5"
    assert fmt_diff(Difference(0.0, 0.0, 3, 0.0, False, 4.0), "count") == "same"
    assert fmt_diff(None, "s") == ""


def test_verdict_direction() -> None:
    jct = next(m for m in METRICS if m.key == "jct_mean_s")
    alloc = next(m for m in METRICS if m.key == "gpu_allocation_frac")
    down = Difference(-1.0, 0.5, 3, -0.1, True, 10.0)
    assert verdict(down, jct) == "better" and verdict(down, alloc) == "worse"
    assert verdict(Difference(-1.0, 2.0, 3, -0.1, False, 10.0), jct) == ""
    assert verdict(Difference(-1.0, None, 1, -0.1, None, 10.0), jct) == "better"
