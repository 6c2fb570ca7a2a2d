"""FP4 weights through the CLI and scenario files (issue 9, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_builders import run_main, scenario_file

from gputwin.errors import InputError
from gputwin.scenario.serving import ServiceOptions, load_serving_scenario


def test_scenario_refuses_fp4_on_hopper_naming_file_and_line(tmp_path: Path) -> None:
    f = scenario_file(tmp_path, "gpu: h100-sxm-80gb\nweights_dtype: mxfp4")
    with pytest.raises(InputError, match="FP4 tensor cores") as info:
        load_serving_scenario(f)
    assert f"{f}:5" in str(info.value) and "weights_dtype" in str(info.value)
    ok = ServiceOptions(model="llama3.1-8b", gpu="b200", weights_dtype="mxfp4")
    assert ok.weights_dtype == "mxfp4"


def test_cli_simulate_serve_fp4_on_b200_runs_and_on_h100_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["simulate", "serve", "--model", "llama3.1-8b", "--rate", "5",
            "--num-requests", "20", "--kv-cache", "fp8", "--json", "-q",
            "--out", str(tmp_path)]
    assert run_main([*base, "--gpu", "b200", "--weights", "fp4"]) == 0
    capsys.readouterr()
    assert run_main([*base, "--gpu", "h100-sxm-80gb", "--weights", "fp4"]) == 2
    err = capsys.readouterr().err
    assert "--weights" in err and "FP4 tensor cores" in err and len(err.splitlines()) == 1
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
