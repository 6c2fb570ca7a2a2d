"""Build vs buy for serving: hosted APIs, rented GPUs and an owned fleet, per million tokens.

For a traffic profile (tokens per day in and out, peak-to-mean ratio) and the capacity of
one replica (output tokens/s it sustains within the SLO, from the serving model):

- **API**: ``monthly = days x (in/day x $in + out/day x $out) / 1e6``;
- **rent** / **own**: a fleet sized for the peak, ``replicas = ceil(peak out tok/s /
  replica out tok/s)``, always on: ``monthly = GPUs x $/GPU-hour x 730 h``;
- ``usd_per_million_tokens = monthly / (tokens per month) x 1e6`` (input + output);
- **break-even volume** of a fleet option against an API: the daily volume above which the
  fleet is always cheaper. One replica costs ``K`` a month and carries ``C`` tokens/day at
  the peak; the API charges ``a`` per (token/day) a month. A fleet of ``n`` replicas
  (volumes in ``((n-1)C, nC]``) is cheaper from ``nK/a`` on, so every volume of the
  ``n``-th replica is cheaper once ``nK/a <= (n-1)C``, i.e. from ``m =
  ceil(aC / (aC - K))`` replicas on; with ``m - 1`` replicas it is cheaper from ``(m-1)K/a``:
  that is the break-even (``K/a`` when ``m = 2``; below it the replica count's rounding can
  make the fleet dearer again). When a full replica costs at least what the API charges
  for its capacity (``K >= aC``) the fleet never breaks even (``None``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from gputwin.economics.tables import ApiPrice
from gputwin.errors import InputError, check_number

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24.0
SECONDS_PER_DAY = 86400.0

OptionKind = Literal["api", "rent", "own"]


@dataclass(frozen=True, slots=True)
class Traffic:
    """Daily token volume and its peak-to-mean ratio (sizes a fleet for the peak)."""

    input_tokens_per_day: float
    output_tokens_per_day: float
    peak_to_mean: float = 2.0

    def __post_init__(self) -> None:
        check_number(self.input_tokens_per_day, "input_tokens_per_day", 0)
        check_number(self.output_tokens_per_day, "output_tokens_per_day", 0, low_open=True)
        check_number(self.peak_to_mean, "--peak-to-mean", 1.0)

    @property
    def tokens_per_day(self) -> float:
        return self.input_tokens_per_day + self.output_tokens_per_day

    @property
    def peak_output_tokens_per_s(self) -> float:
        return self.output_tokens_per_day / SECONDS_PER_DAY * self.peak_to_mean


@dataclass(frozen=True, slots=True)
class ReplicaCapacity:
    """One serving replica: its GPUs and the output tokens/s it sustains within the SLO."""

    accelerator: str
    gpus: int
    output_tokens_per_s: float
    layout: str = ""

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise InputError(f"a replica needs >= 1 GPU, got {self.gpus}", where="gpus")
        check_number(self.output_tokens_per_s, "output_tokens_per_s", 0, low_open=True)


@dataclass(frozen=True, slots=True)
class CostOption:
    """One way to serve the traffic, and what it costs."""

    kind: OptionKind
    name: str
    monthly_usd: float
    usd_per_million_tokens: float
    gpus: int = 0
    usd_per_gpu_hour: float | None = None
    basis: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "monthly_usd": self.monthly_usd,
                "usd_per_million_tokens": self.usd_per_million_tokens, "gpus": self.gpus,
                "usd_per_gpu_hour": self.usd_per_gpu_hour, "basis": self.basis, **self.extra}


def api_monthly_usd(api: ApiPrice, traffic: Traffic) -> float:
    per_day = (traffic.input_tokens_per_day * api.usd_per_million_input
               + traffic.output_tokens_per_day * api.usd_per_million_output) / 1e6
    return per_day * DAYS_PER_MONTH


def _per_million(monthly: float, traffic: Traffic) -> float:
    return monthly / (traffic.tokens_per_day * DAYS_PER_MONTH) * 1e6


def api_option(api: ApiPrice, traffic: Traffic) -> CostOption:
    monthly = api_monthly_usd(api, traffic)
    return CostOption("api", api.name, monthly, _per_million(monthly, traffic),
                      basis=f"{api.provider} ${api.usd_per_million_input:g}/"
                            f"${api.usd_per_million_output:g} per M in/out (as of {api.as_of})",
                      extra={"source": api.source})


def num_replicas(traffic: Traffic, cap: ReplicaCapacity) -> int:
    return max(1, math.ceil(traffic.peak_output_tokens_per_s / cap.output_tokens_per_s))


def fleet_option(kind: OptionKind, name: str, usd_per_gpu_hour: float, traffic: Traffic,
                 cap: ReplicaCapacity, basis: str) -> CostOption:
    """A fleet sized for the peak, always on, at ``usd_per_gpu_hour``."""
    replicas = num_replicas(traffic, cap)
    gpus = replicas * cap.gpus
    monthly = gpus * usd_per_gpu_hour * HOURS_PER_MONTH
    mean_util = traffic.output_tokens_per_day / SECONDS_PER_DAY / (
        replicas * cap.output_tokens_per_s)
    return CostOption(kind, name, monthly, _per_million(monthly, traffic), gpus,
                      usd_per_gpu_hour, basis,
                      extra={"replicas": replicas, "mean_utilisation_frac": mean_util})


def break_even_tokens_per_day(usd_per_gpu_hour: float, cap: ReplicaCapacity,
                              api: ApiPrice, traffic: Traffic) -> float | None:
    """Daily tokens (in + out, the traffic's mix and peak) above which the fleet is cheaper
    than ``api``; ``None`` when it never is (module docstring)."""
    replica_monthly = cap.gpus * usd_per_gpu_hour * HOURS_PER_MONTH
    api_per_token_day = api_monthly_usd(api, traffic) / traffic.tokens_per_day
    if api_per_token_day <= 0:
        return None
    out_share = traffic.output_tokens_per_day / traffic.tokens_per_day
    capacity = cap.output_tokens_per_s * SECONDS_PER_DAY / traffic.peak_to_mean / out_share
    api_full = api_per_token_day * capacity  # what the API charges for one replica's load
    if replica_monthly >= api_full:
        return None
    always = math.ceil(api_full / (api_full - replica_monthly))  # replicas from which on
    return (always - 1) * replica_monthly / api_per_token_day
