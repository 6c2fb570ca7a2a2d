"""FP4 weights through the CLI and scenario files (issue 9, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serving_builders import run_main, scenario_file

from gputwin.scenario.serving import load_serving_scenario
from gputwin.scenario.serving_service import ServiceOptions


def test_scenario_takes_fp4_on_hopper_as_weight_only(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "gpu: h100-sxm-80gb\nweights_dtype: mxfp4")
    sc = load_serving_scenario(f)
    assert sc.serving.services[0].weights_dtype == "mxfp4"


def test_cli_simulate_serve_fp4_runs_on_b200_and_weight_only_on_h100(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["simulate", "serve", "--model", "llama3.1-8b", "--rate", "5",
            "--num-requests", "20", "--kv-cache", "fp8", "--json", "-q"]
    for gpu in ("b200", "h100-sxm-80gb"):
        assert run_main([*base, "--gpu", gpu, "--weights", "fp4",
                         "--out", str(tmp_path / gpu)]) == 0
        summary = json.loads((tmp_path / gpu / "summary.json").read_text())
        assert summary["finished"] == 20
    capsys.readouterr()
    assert run_main(["estimate", "serve", "--model", "llama3.1-8b", "--gpu", "gb200",
                     "--weights", "mxfp4", "--input-tokens", "100",
                     "--output-tokens", "10"]) == 0


def test_weight_formats_agree_between_perf_schema_and_cli() -> None:
    from typing import get_args

    from gputwin.cli.estimate_serve import serve as estimate_serve_cmd
    from gputwin.cli.serve_cmd import serve
    from gputwin.perf.serving import WEIGHT_DTYPES

    schema = set(get_args(ServiceOptions.model_fields["weights_dtype"].annotation))
    assert schema == set(WEIGHT_DTYPES)
    for cmd in (serve, estimate_serve_cmd):
        opt = next(p for p in cmd.params if p.name in ("weights", "weights_dtype"))
        assert set(opt.type.choices) == schema  # type: ignore[attr-defined]
