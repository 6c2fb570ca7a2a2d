"""Issue 15 item 9: labels and units say what they are."""

from __future__ import annotations

import click
import pytest
from tests.cli_run import run_cli

SERVE = ["estimate", "serve", "--model", "llama2-70b", "--gpu", "h100-sxm-80gb", "--tp", "8",
         "--input-tokens", "2048", "--output-tokens", "128"]


def test_no_advice_to_set_what_is_already_set(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*SERVE, "--batch-size", "6400", "--kv-cache", "fp8"], capsys)
    assert code == 2 and "--kv-cache fp8" not in err
    code, _, err = run_cli([*SERVE, "--batch-size", "6400"], capsys)
    assert code == 2 and "--kv-cache fp8" in err


def test_max_batch_and_max_throughput_say_which_context(
        capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli([*SERVE, "--batch-size", "64"], capsys)
    text = " ".join(out.split())
    assert "full context (input + output)" in text and "mean context input + output/2" in text


def test_it_power_is_not_labelled_per_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(["estimate", "energy", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
                      "--num-gpus", "64", "--tokens", "1e11"], capsys)
    line = " ".join(out[out.index("IT power"):].split())
    assert "GPUs, hosts and network; of which" in line and "W per GPU for the GPU itself" in line


def test_every_simulate_serve_option_has_help() -> None:
    from gputwin.cli.serve_cmd import serve

    bare = [p.name for p in serve.params if isinstance(p, click.Option) and not p.help]
    assert not bare, bare


def test_validate_fits_80_columns_with_units(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run_cli(["validate", "--kind", "collective"], capsys)
    table = [line for line in out.splitlines() if line[:1] in "┏┃┡│└"]
    assert table and max(len(line) for line in table) <= 80
    assert "e+" not in out and "GB/s" in out


def test_serving_slo_chart_says_dashed_only_with_slo_lines() -> None:
    from gputwin.report.serving import slo_figure

    dist = {"p50": 0.1, "p90": 0.2, "p99": 0.4}
    summary = {"ttft_s": dist, "tpot_s": dist, "slo": {"ttft_s": None, "tpot_s": None}}
    fig = slo_figure(summary, "svc")
    assert fig is not None and "dashed" not in fig["layout"]["title"]["text"]
    assert fig["layout"]["yaxis"]["dtick"] == 1  # labelled decades, not bare "2, 5"
    summary["slo"] = {"ttft_s": 0.3, "tpot_s": None}
    fig = slo_figure(summary, "svc")
    assert fig is not None and "dashed" in fig["layout"]["title"]["text"]
    assert len(fig["layout"]["shapes"]) == 1


def test_chart_titles_sit_below_the_plotly_toolbar() -> None:
    from gputwin.report import compare, serving

    for layout in (compare._layout("t", "x", "y"), serving._layout("t", "x", "y")):
        title = layout["title"]
        assert isinstance(title, dict)
        assert title["yref"] == "paper" and title["yanchor"] == "bottom"


def test_compare_shows_co2e_in_tonnes_not_grams() -> None:
    from gputwin.report.compare import fmt_metric
    from gputwin.run.compare_metrics import METRICS

    co2 = next(m for m in METRICS if m.key == "co2e_operational_g")
    assert fmt_metric(8_993_112.0, co2.unit) == "8.99 t"
    assert fmt_metric(52_000.0, co2.unit) == "52.0 kg"
