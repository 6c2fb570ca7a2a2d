"""Named random streams: reproducible, independent, and stable across processes."""

from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest

from gputwin.errors import InputError
from gputwin.sim import RandomStreams, stable_hash


def test_same_seed_same_numbers() -> None:
    a = RandomStreams(7).stream("arrivals").random(5)
    b = RandomStreams(7).stream("arrivals").random(5)
    assert np.array_equal(a, b)


def test_different_seed_or_name_differs() -> None:
    base = RandomStreams(7).stream("arrivals").random(5)
    assert not np.array_equal(base, RandomStreams(8).stream("arrivals").random(5))
    assert not np.array_equal(base, RandomStreams(7).stream("sizes").random(5))


def test_adding_a_stream_does_not_change_another() -> None:
    alone = RandomStreams(3)
    alone_draws = alone.stream("arrivals").random(4)
    mixed = RandomStreams(3)
    mixed.stream("new-feature").random(100)
    assert np.array_equal(alone_draws, mixed.stream("arrivals").random(4))


def test_stream_is_cached_and_fresh_restarts() -> None:
    rs = RandomStreams(1)
    assert rs.stream("x") is rs.stream("x")
    first = rs.stream("x").random()
    assert rs.fresh("x").random() == first


def test_stable_hash_is_crc32() -> None:
    assert stable_hash("arrivals") == zlib.crc32(b"arrivals")


def test_stable_across_processes() -> None:
    code = ("from gputwin.sim import RandomStreams;"
            "print(RandomStreams(5).stream('a').integers(0, 10**9))")
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONHASHSEED": str(salt), "PATH": ""}, check=True).stdout
        for salt in (1, 2)
    }
    assert len(outs) == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_seed(bad: object) -> None:
    with pytest.raises(InputError):
        RandomStreams(bad)  # type: ignore[arg-type]
