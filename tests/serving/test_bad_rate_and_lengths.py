"""Bad synthetic arrivals and lengths are refused at the option that holds them (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.cli.main import main

BASE = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb"]


@pytest.mark.parametrize(("extra", "where"), [
    (["--rate", "inf"], "Invalid value for '--rate': expected a finite number, got 'inf'"),
    (["--rate", "nan"], "--rate"),
    (["--rate", "5", "--input-tokens", "lognormal:10/20"],
     "--input-tokens: lognormal lengths need 0 < median <= mean"),
    (["--rate", "5", "--output-tokens", "50-10"], "--output-tokens"),
    (["--rate", "5", "--input-tokens", "lognormal:100/50:10"],
     "--input-tokens: lognormal median 50 lies outside [low, high] = [1, 10]"),
    (["--rate", "5", "--repeat", "0"], "--repeat"),
    (["--rate", "5", "--max-num-batched-tokens", "10"],
     "--max-num-batched-tokens: max_num_batched_tokens (10) must be >= max_num_seqs"),
    (["--rate", "5", "--max-num-seqs", "9000"],
     "--max-num-seqs: max_num_batched_tokens (8192) must be >= max_num_seqs"),
    (["--trace", "x.csv", "--repeat", "2"], "--repeat: --repeat repeats synthetic prompts"),
])
def test_refused_with_the_place(extra: list[str], where: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*BASE, *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and where in err and "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(("lengths", "needle"), [
    ("{dist: lognormal, mean: 1000, median: 600, high: 10}",
     "lognormal median 600 lies outside [low, high] = [1, 10]"),
    ("{dist: lognormal, mean: 1000, median: 600, low: 700}",
     "lognormal median 600 lies outside [low, high] = [700, 1000000]"),
])
def test_scenario_lognormal_median_outside_its_bounds(tmp_path: Path, lengths: str,
                                                       needle: str) -> None:
    from gputwin.errors import InputError
    from gputwin.scenario.serving import load_serving_scenario

    path = tmp_path / "s.yaml"
    path.write_text(
        "serving:\n"
        "  services: [{name: chat, model: llama3-8b, gpu: h100-sxm-80gb}]\n"
        "  workload:\n"
        "    - kind: synthetic\n"
        "      num_requests: 10\n"
        "      arrival: {rate: 5}\n"
        f"      prompt: {lengths}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_serving_scenario(path)
    assert str(info.value) == f"{path}:7: serving.workload[0].prompt: {needle}; draws are " \
        "clipped to those bounds, so the median must lie within them"


def test_a_median_within_the_bounds_is_fine() -> None:
    from gputwin.workload.llm_synthetic import LengthDist

    LengthDist(kind="lognormal", mean=1000, median=600, low=600, high=600)


def test_scenario_step_budget_names_file_line_and_field(tmp_path: Path) -> None:
    from gputwin.errors import InputError
    from gputwin.scenario.serving import load_serving_scenario

    path = tmp_path / "s.yaml"
    path.write_text(
        "serving:\n"
        "  services:\n"
        "    - name: default\n"
        "      model: llama3-8b\n"
        "      gpu: h100-sxm-80gb\n"
        "      engine: {max_num_seqs: 256, max_num_batched_tokens: 10}\n"
        "  workload: [{kind: synthetic, num_requests: 10, arrival: {rate: 5}}]\n",
        encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_serving_scenario(path)
    assert str(info.value).startswith(
        f"{path}:6: serving.services[0].engine.max_num_batched_tokens: "
        "max_num_batched_tokens (10) must be >= max_num_seqs × (1 + speculative tokens) = 256")
