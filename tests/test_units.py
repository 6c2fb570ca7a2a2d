from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gputwin.errors import InputError
from gputwin.units import (
    format_bytes,
    parse_bandwidth,
    parse_bytes,
    parse_count,
    parse_duration,
    parse_flops,
    parse_power,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("80GiB", 80 * 2**30), ("80GB", 80e9), ("1.5TB", 1.5e12), ("512", 512.0),
     ("1Gb", 1.25e8), ("4KiB", 4096.0), (1024, 1024.0)],
)
def test_parse_bytes(text: str, expected: float) -> None:
    assert parse_bytes(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("400Gbps", 50e9), ("3.35TB/s", 3.35e12), ("900GB/s", 900e9), ("100Gb/s", 12.5e9)],
)
def test_parse_bandwidth(text: str, expected: float) -> None:
    assert parse_bandwidth(text) == pytest.approx(expected)


def test_other_quantities() -> None:
    assert parse_flops("989.4TFLOPS") == pytest.approx(989.4e12)
    assert parse_duration("2h") == 7200.0
    assert parse_duration("150ms") == pytest.approx(0.15)
    assert parse_duration("20min") == 1200.0
    assert parse_power("10.2kW") == pytest.approx(10200.0)
    assert parse_count("1.2T") == pytest.approx(1.2e12)
    assert parse_count("175B") == pytest.approx(1.75e11)
    assert parse_count("300e9") == pytest.approx(3e11)


@pytest.mark.parametrize("bad", ["-1GB", "GB", "12 parsecs", "1e400B", "nan"])
def test_bad_sizes_are_input_errors(bad: str) -> None:
    with pytest.raises(InputError):
        parse_bytes(bad)


@pytest.mark.parametrize("bad", ["fast", "3 fortnights", "-5s"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(InputError):
        parse_duration(bad)


def test_bandwidth_needs_a_rate_unit() -> None:
    with pytest.raises(InputError, match="bandwidth"):
        parse_bandwidth("400GB")


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False))
def test_bytes_round_trip_through_gib(value: float) -> None:
    assert parse_bytes(f"{value / 2**30!r}GiB") == pytest.approx(value, rel=1e-12, abs=1e-6)


def test_format_bytes() -> None:
    assert format_bytes(80 * 2**30) == "80.0 GiB"
    assert format_bytes(12) == "12 B"


def test_energy_and_mass_pick_a_readable_unit() -> None:
    from gputwin.units import format_energy, format_grams

    assert format_energy(3600.0 * 850) == "850 Wh"
    assert format_energy(3.6e6 * 12.4) == "12.4 kWh"
    assert format_energy(3.6e9 * 3.21) == "3.21 MWh"
    assert format_energy(3.6e12 * 2500) == "2,500 GWh"
    assert format_grams(12.34) == "12.3 g"
    assert format_grams(4560.0) == "4.56 kg"
    assert format_grams(7.891e6) == "7.89 t"
