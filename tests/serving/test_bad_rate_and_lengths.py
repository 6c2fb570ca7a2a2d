"""Bad synthetic arrivals and lengths are refused at the option that holds them (exit 2)."""

from __future__ import annotations

import pytest

from gputwin.cli.main import main

BASE = ["simulate", "serve", "--model", "llama3-8b", "--gpu", "h100-sxm-80gb",
        "--num-requests", "10"]


@pytest.mark.parametrize(("extra", "where"), [
    (["--rate", "inf"], "Invalid value for '--rate': expected a finite number, got 'inf'"),
    (["--rate", "nan"], "--rate"),
    (["--rate", "5", "--input-tokens", "lognormal:10/20"],
     "--input-tokens: lognormal lengths need 0 < median <= mean"),
    (["--rate", "5", "--output-tokens", "50-10"], "--output-tokens"),
    (["--rate", "5", "--repeat", "0"], "--repeat"),
    (["--trace", "x.csv", "--repeat", "2"], "--repeat: --repeat repeats synthetic prompts"),
])
def test_refused_with_the_place(extra: list[str], where: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*BASE, *extra])
    err = capsys.readouterr().err
    assert info.value.code == 2 and where in err and "Traceback" not in err
    assert err.count("\n") == 1
