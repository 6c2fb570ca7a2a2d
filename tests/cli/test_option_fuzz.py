"""Every plain-number and name option of the fast commands, given hostile values (negative,
zero, NaN, infinities, 10^30, 10^20 as an integer, words, empty): the command answers (exit
0) or refuses in one line (exit 2), never a traceback, a hang or a non-JSON number; a
refusal of a value click cannot even read names the option. Table-driven over the commands'
own options, so a new option is fuzzed without a new test."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from types import FrameType

import click
import pytest
from tests.cli_run import run_cli

from gputwin.cli.main import cli

#: Each command with the least it needs to answer; every option is then fuzzed on top.
BASES: dict[str, list[str]] = {
    "estimate train": ["--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus", "16",
                       "--global-batch-size", "64"],
    "estimate serve": ["--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--input-tokens",
                       "100", "--output-tokens", "10"],
    "estimate collective": ["--op", "all_reduce", "--size", "1GiB", "--num-gpus", "16",
                            "--gpu", "h100-sxm-80gb"],
    "estimate energy": ["--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus", "8",
                        "--gpu-hours", "100"],
    "estimate tco": ["--model", "llama3-8b", "--tokens-per-day", "1e9"],
    "estimate video": ["--model", "wan2.1-1.3b"],
    "estimate rag": [],
    "estimate kernel": ["--gpu", "h100-sxm-80gb", "--op", "gemm", "--m", "64", "--n", "64",
                        "--k", "64"],
    "estimate optics": ["--num-chips", "256"],
    "estimate fat-tree-optics": [],
    "economics distill": ["--teacher", "llama3-70b", "--student", "llama3-8b",
                          "--tokens-per-day", "1e9"],
    "economics owned": ["--gpu", "h100-sxm-80gb"],
    "economics supply": ["--load-mw", "100"],
    "economics train": ["--gpu", "h100-sxm-80gb", "--gpu-hours", "100"],
    "plan train": ["--model", "llama3-8b", "--gpu", "h100-sxm-80gb", "--num-gpus", "8"],
}
#: Hostile values by the option's click type.
NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e30", "abc", ""]
INTEGERS = ["-1", "0", "99999999999999999999", "1e3", "abc", ""]
NAMES = ["nosuch", ""]
#: Seconds one command may take before it counts as a hang.
DEADLINE_S = 10


def _command(path: str) -> click.Command:
    ctx = click.Context(cli)
    command: click.Command | None = cli
    for part in path.split():
        assert isinstance(command, click.Group)
        command = command.get_command(ctx, part)
    assert command is not None
    return command


def _values(option: click.Option) -> list[str]:
    kind = option.type
    if isinstance(kind, click.types.IntParamType):
        return INTEGERS
    if isinstance(kind, click.types.FloatParamType) or kind.name in ("number", "size",
                                                                      "bandwidth", "duration"):
        return NUMBERS
    if isinstance(kind, click.types.StringParamType):
        return NAMES
    return []


def _cases() -> Iterator[tuple[str, str, str]]:
    for path in BASES:
        for param in _command(path).params:
            if isinstance(param, click.Option) and not param.is_flag and not param.multiple:
                for value in _values(param):
                    yield path, param.opts[0], value


class _Hang(Exception):
    pass


def _hang(signum: int, frame: FrameType | None) -> None:
    raise _Hang


def _no_non_json_numbers(text: str) -> None:
    def refuse(name: str) -> float:
        raise AssertionError(f"{name} in --json output")
    json.loads(text, parse_constant=refuse)


def test_the_table_covers_every_fast_command_option() -> None:
    cases = list(_cases())
    assert len({(p, o) for p, o, _ in cases}) > 150


@pytest.mark.parametrize("path", list(BASES))
def test_hostile_option_values_answer_or_refuse_in_one_line(
        path: str, capsys: pytest.CaptureFixture[str]) -> None:
    problems: list[str] = []
    previous = signal.signal(signal.SIGALRM, _hang)
    try:
        for _, flag, value in (c for c in _cases() if c[0] == path):
            args = [*path.split(), *BASES[path]]
            if flag in args:
                args[args.index(flag) + 1] = value
            else:
                args += [flag, value]
            signal.alarm(DEADLINE_S)
            try:
                code, out, err = run_cli([*args, "--json"] if _has_json(path) else args,
                                         capsys)
            except _Hang:
                problems.append(f"{flag} {value!r}: still running after {DEADLINE_S} s")
                continue
            finally:
                signal.alarm(0)
            problem = _judge(code, out, err, flag, value, _has_json(path))
            if problem:
                problems.append(f"{flag} {value!r}: {problem}")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert problems == []


def _has_json(path: str) -> bool:
    return any(isinstance(p, click.Option) and p.opts[0] == "--json"
               for p in _command(path).params)


def _judge(code: int, out: str, err: str, flag: str, value: str, as_json: bool) -> str | None:
    if "Traceback" in err or code not in (0, 2):
        return f"exit {code}: {err.strip()[-300:]}"
    if code == 2:
        if err.strip().count("\n") or not err.startswith("error: "):
            return f"not one 'error:' line: {err.strip()[:300]}"
        unreadable = value in ("abc", "", "nan", "inf", "-inf")
        if unreadable and flag not in err:
            return f"refused without naming {flag}: {err.strip()}"
        return None
    if as_json:
        try:
            _no_non_json_numbers(out)
        except (AssertionError, ValueError) as exc:
            return f"exit 0 but {exc}"
    return None
