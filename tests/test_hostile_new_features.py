"""Hostile and contradictory inputs to the context buckets, the speculation kinds,
multi-step scheduling and the API price list: exit 2, one line naming the flag or the
file and line, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli_run import run_cli

ESTIMATE = ["estimate", "serve", "--model", "llama3.1-8b", "--gpu", "h100-sxm-80gb",
            "--input-tokens", "1000", "--output-tokens", "100"]
SIMULATE = ["simulate", "serve", "--rate", "5", "--num-requests", "20", "--outputs", "none",
            "-q", "--json", "--no-timing"]




def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    for needle in needles:
        assert needle in err


@pytest.mark.parametrize("buckets", ["99999999999999999999", "2048,200000"])
def test_a_context_bucket_beyond_the_model_context_is_refused(
        buckets: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*ESTIMATE, "--context-buckets", buckets], capsys)
    _one_line_error(code, err, "--context-buckets", "131072-token context of llama3.1-8b")


@pytest.mark.parametrize("buckets", ["2048,,4096", "2048,", "", "abc", "0,2048", "1e3"])
def test_malformed_bucket_lists_are_refused(buckets: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*ESTIMATE, "--context-buckets", buckets], capsys)
    _one_line_error(code, err, "--context-buckets", repr(buckets))


def test_a_bucket_at_the_model_context_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_cli([*ESTIMATE, "--context-buckets", "131072", "--json"], capsys)
    assert code == 0


def test_the_summary_says_the_prompt_is_padded_to_its_bucket(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*ESTIMATE, "--context-buckets", "4096,2048"], capsys)
    assert code == 0 and "padded to its 2048-token context bucket" in out


# ---- speculation


@pytest.mark.parametrize("command, extra, flag", [
    ("estimate", ["--spec-kind", "fused_draft"], "--spec-kind"),
    ("estimate", ["--spec-kind", "eagle"], "--spec-kind"),
    ("estimate", ["--draft-model", "llama3.2-1b"], "--draft-model"),
    ("simulate", ["--draft-kind", "fused_draft"], "--draft-kind"),
    ("simulate", ["--draft-model", "llama3.2-1b"], "--draft-model"),
])
def test_speculation_options_without_spec_tokens_are_refused(
        command: str, extra: list[str], flag: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*(ESTIMATE if command == "estimate" else SIMULATE), *extra],
                           capsys)
    _one_line_error(code, err, "--spec-tokens", flag)


@pytest.mark.parametrize("kind", ["eagle", "ngram"])
def test_a_draft_model_with_a_kind_that_has_none_is_refused(
        kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*ESTIMATE, "--spec-tokens", "4", "--spec-kind", kind,
                            "--draft-model", "llama3.2-1b"], capsys)
    _one_line_error(code, err, "llama3.2-1b", kind)
    code, _, err = run_cli([*SIMULATE, "--spec-tokens", "3", "--draft-kind", kind,
                            "--draft-model", "llama3.2-1b"], capsys)
    _one_line_error(code, err, "llama3.2-1b", kind)


def test_simulate_spec_tokens_alone_still_default_to_eagle(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*SIMULATE, "--spec-tokens", "3"], capsys)
    assert code == 0 and '"finished": 20' in out


# ---- multi-step scheduling


@pytest.mark.parametrize("engine", ["sglang", "trtllm", "sglang-0.3", "trtllm-0.20"])
def test_multi_step_scheduling_off_vllm_is_refused(
        engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*SIMULATE, "--engine", engine, "--num-scheduler-steps", "8"],
                           capsys)
    _one_line_error(code, err, "--num-scheduler-steps", "vLLM option")


def test_multi_step_scheduling_is_refused_on_intels_static_runner(
        capsys: pytest.CaptureFixture[str]) -> None:
    """optimum-habana inherits vLLM's figures but is a static batch loop: no multi-step."""
    code, _, err = run_cli([*SIMULATE, "--gpu", "gaudi3", "--engine", "optimum-habana",
                            "--num-scheduler-steps", "8"], capsys)
    _one_line_error(code, err, "--num-scheduler-steps", "vLLM option")


@pytest.mark.parametrize("engine", ["vllm", "vllm-v0"])
def test_multi_step_scheduling_runs_on_vllm(engine: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli([*SIMULATE, "--engine", engine, "--num-scheduler-steps", "8"],
                           capsys)
    assert code == 0 and '"finished": 20' in out


def test_multi_step_with_speculation_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([*SIMULATE, "--num-scheduler-steps", "8", "--spec-tokens", "3"],
                           capsys)
    _one_line_error(code, err, "--spec-tokens", "multi-step")


_SCENARIO = """\
name: hostile
serving:
  services:
    - name: chat
      model: llama3.1-8b
      gpu: h100-sxm-80gb
{service}
  workload:
    - kind: synthetic
      service: chat
      num_requests: 20
      arrival: {{process: poisson, rate: 20}}
"""


@pytest.mark.parametrize("service, line, field", [
    ("      engine:\n        name: sglang\n        num_scheduler_steps: 4", 9,
     "engine.num_scheduler_steps"),
    ("      engine: {num_scheduler_steps: 4}\n      speculative: {num_tokens: 3}", 8,
     "speculative"),
    ("      speculative: {num_tokens: 3, kind: fused_draft}", 7, "speculative"),
    ("      speculative: {num_tokens: 3, kind: ngram, draft_model: llama3.2-1b}", 7,
     "speculative.draft_model"),
    ("      autoscaler: {min_replicas: 5, max_replicas: 2}", 7, "autoscaler.max_replicas"),
])
def test_scenario_new_keys_malformed_name_the_line(
        tmp_path: Path, service: str, line: int, field: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(_SCENARIO.format(service=service))
    code, _, err = run_cli(["simulate", str(path), "--outputs", "none", "-q"], capsys)
    _one_line_error(code, err, f"hostile.yaml:{line}: serving.services[0].{field}:")


# ---- economics apis


def test_economics_apis_unknown_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["economics", "apis", "--model", "llama-3.1-8b", "--current"],
                           capsys)
    _one_line_error(code, err, "--model", "llama3.1-8b")


def test_economics_apis_model_without_listings_says_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["economics", "apis", "--model", "gpt3-175b"], capsys)
    assert code == 0 and "no public API listing serves gpt3-175b" in out


def test_the_summary_gives_the_speculation_speed_up(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The text shows the JSON's spec_speedup (TPOT) beside the tokens per step."""
    args = [*ESTIMATE, "--spec-tokens", "4", "--spec-kind", "fused_draft",
            "--draft-model", "llama3.2-1b"]
    code, out, _ = run_cli([*args, "--json"], capsys)
    speedup = json.loads(out)["spec_speedup"]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and f"TPOT x{speedup:.2f}" in out
