"""Plain-number options refuse NaN and infinities (and values out of their bounds) at the
flag, with exit 2 and one line: click's ``float``/``FloatRange`` accept ``nan`` and ``inf``,
which hung ``estimate train --failures`` and printed ``nan``/``$inf`` elsewhere."""

from __future__ import annotations

import json

import click
import pytest
from tests.cli_run import run_cli

from gputwin.cli.main import cli
from gputwin.cli.options import FINITE, Finite

TRAIN_FAILURES = ["estimate", "train", "--model", "gpt3-175b", "--gpu", "a100-sxm-80gb",
                  "--num-gpus", "64", "--tp", "8", "--pp", "8", "--global-batch-size", "64",
                  "--failures", "--tokens", "1T"]
DISTILL = ["economics", "distill", "--teacher", "llama3-70b", "--student", "llama3-8b",
           "--tokens-per-day", "1e9"]
SUPPLY = ["economics", "supply", "--load-mw", "100"]


@pytest.mark.parametrize(("command", "flag", "value", "expected"), [
    (TRAIN_FAILURES, "--fault-rate-scale", "nan", "a finite number >= 0"),  # was: a hang
    (TRAIN_FAILURES, "--fault-rate-scale", "inf", "a finite number >= 0"),
    (TRAIN_FAILURES, "--fault-rate-scale", "-1", "a finite number >= 0"),
    (TRAIN_FAILURES, "--checkpoint-bytes-per-param", "nan", "a finite number > 0"),
    (["estimate", "video", "--model", "wan2.1-1.3b"], "--fps", "inf", "a finite number > 0"),
    (["estimate", "video", "--model", "wan2.1-1.3b"], "--fps", "nan", "a finite number > 0"),
    (["estimate", "video", "--model", "wan2.1-1.3b"], "--fps", "0", "a finite number > 0"),
    (["estimate", "rag"], "--corpus", "nan", "a finite number"),
    (["estimate", "rag"], "--corpus", "inf", "a finite number"),
    (["estimate", "energy", "--gpu", "h100-sxm-80gb", "--num-gpus", "8", "--gpu-hours",
      "100"], "--busy-frac", "nan", "a finite number in [0, 1]"),
    (["estimate", "tco", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
      "--tokens-per-day", "1e9"], "--pue", "inf", "a finite number"),
    (["plan", "train", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus", "8"],
     "--oversubscription", "inf", "a finite number"),
    (["simulate", "serve", "--rate", "1", "--num-requests", "3"], "--speedup", "nan",
     "a finite number > 0"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb"], "--pue", "nan", "a finite number >= 1"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb"], "--pue", "0.5", "a finite number >= 1"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb"], "--financing-rate", "inf",
     "a finite number >= 0"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb"], "--financing-rate", "-0.1",
     "a finite number >= 0"),
    (SUPPLY, "--battery-mwh", "-1", "a finite number >= 0"),
    (SUPPLY, "--battery-mw", "-1", "a finite number >= 0"),
    (SUPPLY, "--battery-mw", "inf", "a finite number >= 0"),
    (SUPPLY, "--interconnect-mw", "nan", "a finite number >= 0"),
    (["economics", "supply"], "--load-mw", "0", "a finite number > 0"),
    (["economics", "train", "--gpu", "h100-sxm-80gb"], "--gpu-hours", "inf", "a finite number"),
    (DISTILL, "--horizon-days", "inf", "a finite number"),
    (DISTILL, "--distill-tokens", "inf", "a finite number"),
    (DISTILL, "--train-tokens", "-inf", "a finite number"),
])
def test_bad_number_exits_2_naming_the_flag(command: list[str], flag: str, value: str,
                                            expected: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([*command, flag, value], capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    assert f"Invalid value for '{flag}': expected {expected}, got '{value}'" in err, err


@pytest.mark.parametrize(("command", "needle"), [
    ([*TRAIN_FAILURES, "--fault-rate-scale", "2"], "ETTR"),
    (["estimate", "video", "--model", "wan2.1-1.3b", "--fps", "12"], "GPU-seconds"),
    (["estimate", "rag", "--corpus", "1e6"], "1,000,000"),
    (["economics", "owned", "--gpu", "h100-sxm-80gb", "--pue", "1.2", "--financing-rate",
      "0.05"], "h100-sxm-80gb"),
    ([*SUPPLY, "--battery-mwh", "10", "--battery-mw", "5", "--interconnect-mw", "50"],
     "24/7 CFE score"),
    ([*DISTILL, "--horizon-days", "30", "--distill-tokens", "1e9"], "net over 30 days"),
])
def test_finite_numbers_still_run(command: list[str], needle: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(command, capsys)
    assert code == 0, err
    assert needle in out


def _options(command: click.Command, ctx: click.Context) -> list[tuple[str, click.Option]]:
    if isinstance(command, click.Group):
        found = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            found += _options(sub, click.Context(sub, parent=ctx, info_name=name))
        return found
    return [(ctx.command_path, p) for p in command.params if isinstance(p, click.Option)]


def test_no_option_takes_a_plain_float() -> None:
    """Every float option of every command goes through :class:`Finite`."""
    ctx = click.Context(cli, info_name="gputwin")
    plain = [f"{path} {opt.opts[0]}" for path, opt in _options(cli, ctx)
             if isinstance(opt.type, click.types.FloatParamType)
             and not isinstance(opt.type, Finite)]
    assert plain == []


@pytest.mark.parametrize(("kind", "text", "expected"), [
    (FINITE, "nan", "expected a finite number, got 'nan'"),
    (FINITE, "-inf", "expected a finite number, got '-inf'"),
    (Finite(0, min_open=True), "0", "expected a finite number > 0, got '0'"),
    (Finite(max=1, max_open=True), "1", "expected a finite number < 1, got '1'"),
    (Finite(0, 1, max_open=True), "1", "expected a finite number in [0, 1), got '1'"),
    (Finite(0, 1, min_open=True), "inf", "expected a finite number in (0, 1], got 'inf'"),
    (FINITE, "abc", "'abc' is not a valid float"),
])
def test_finite_refuses(kind: Finite, text: str, expected: str) -> None:
    with pytest.raises(click.BadParameter, match=None) as info:
        kind.convert(text, None, None)
    assert expected in info.value.format_message()


@pytest.mark.parametrize(("kind", "text", "value"), [
    (FINITE, "-1e300", -1e300), (Finite(0, 1), "1", 1.0), (Finite(0, 1), "0", 0.0),
    (Finite(0, min_open=True), "1e-300", 1e-300), (FINITE, 2, 2.0),
])
def test_finite_accepts(kind: Finite, text: str | int, value: float) -> None:
    assert kind.convert(text, None, None) == value


def test_help_shows_bounds_only_when_there_are_some() -> None:
    @click.command()
    @click.option("--a", type=FINITE)
    @click.option("--b", type=Finite(0, min_open=True))
    def command(a: float, b: float) -> None:
        """A command."""

    text = command.get_help(click.Context(command))
    assert "[x>0]" in text and "None" not in text


def test_json_output_prints_non_finite_numbers_as_null(
        capsys: pytest.CaptureFixture[str]) -> None:
    """JSON has no NaN or Infinity: ``--json`` prints them as ``null``, at any depth."""
    from gputwin.cli.options import emit_json

    emit_json({"time_s": float("inf"), "rows": [{"frac": float("nan")}, (1.5, -float("inf"))]})
    out = capsys.readouterr().out
    assert "Infinity" not in out and "NaN" not in out
    assert json.loads(out) == {"time_s": None, "rows": [{"frac": None}, [1.5, None]]}
