"""What a serving simulation produces: per-request records, timelines, replicas, summary.

Plain data (no behaviour beyond serialisation) so the report, the CLI and tests can read
it without knowing how the run was wired. Times are simulated seconds; ``None`` when a
thing never happened (e.g. no first token for a dropped request).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from gputwin.serving.generation import GenRequest

RequestStatus = Literal["finished", "dropped", "in_flight"]
REQUEST_STATUSES: tuple[RequestStatus, ...] = ("finished", "dropped", "in_flight")

REQUEST_COLUMNS: tuple[str, ...] = (
    "request_id", "service", "status", "reason", "arrival_s", "prompt_tokens",
    "output_tokens", "cached_tokens", "first_token_s", "finish_s", "ttft_s", "tpot_s",
    "e2e_s", "num_preemptions", "replica", "prefill_replica", "truncated", "meets_slo",
    "warmup",
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    request_id: int
    service: str
    status: RequestStatus
    reason: str
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    first_token_s: float | None
    finish_s: float | None
    ttft_s: float | None
    tpot_s: float | None
    e2e_s: float | None
    num_preemptions: int
    replica: int
    prefill_replica: int
    truncated: bool
    meets_slo: bool | None
    #: a benchmark client's warm-up request: served, left out of every summary metric
    warmup: bool = False

    def to_row(self) -> tuple[Any, ...]:
        return (self.request_id, self.service, self.status, self.reason, self.arrival_s,
                self.prompt_tokens, self.output_tokens, self.cached_tokens,
                self.first_token_s, self.finish_s, self.ttft_s, self.tpot_s, self.e2e_s,
                self.num_preemptions, self.replica, self.prefill_replica,
                int(self.truncated), "" if self.meets_slo is None else int(self.meets_slo),
                int(self.warmup))


def _opt(x: float) -> float | None:
    return None if x != x else x  # NaN marks "never happened"


class RequestTable(Sequence[RequestRecord]):
    """Per-request results stored as columns (compact for millions of requests).

    Indexing or iterating yields :class:`RequestRecord` rows built on the fly. Float
    columns hold NaN where the record has ``None``; ``status`` holds indices into
    :data:`REQUEST_STATUSES`; ``meets_slo`` is 1/0, or -1 for ``None``; ``warmup`` marks
    the warm-up requests (all False when the run has none). All columns
    have one entry per request, in request order.
    """

    __slots__ = ("arrival_s", "cached_tokens", "e2e_s", "finish_s", "first_token_s",
                 "meets_slo", "num_preemptions", "output_tokens", "prefill_replica",
                 "prompt_tokens", "reason", "replica", "request_id", "service", "status",
                 "tpot_s", "truncated", "ttft_s", "warmup")

    def __init__(self, *, request_id: np.ndarray, service: list[str], status: np.ndarray,
                 reason: list[str], arrival_s: np.ndarray, prompt_tokens: np.ndarray,
                 output_tokens: np.ndarray, cached_tokens: np.ndarray,
                 first_token_s: np.ndarray, finish_s: np.ndarray, ttft_s: np.ndarray,
                 tpot_s: np.ndarray, e2e_s: np.ndarray, num_preemptions: np.ndarray,
                 replica: np.ndarray, prefill_replica: np.ndarray, truncated: np.ndarray,
                 meets_slo: np.ndarray, warmup: np.ndarray | None = None) -> None:
        self.request_id, self.service, self.status = request_id, service, status
        self.reason, self.arrival_s, self.prompt_tokens = reason, arrival_s, prompt_tokens
        self.output_tokens, self.cached_tokens = output_tokens, cached_tokens
        self.first_token_s, self.finish_s, self.ttft_s = first_token_s, finish_s, ttft_s
        self.tpot_s, self.e2e_s, self.num_preemptions = tpot_s, e2e_s, num_preemptions
        self.replica, self.prefill_replica = replica, prefill_replica
        self.truncated, self.meets_slo = truncated, meets_slo
        self.warmup = np.zeros(len(service), dtype=bool) if warmup is None else warmup

    def __len__(self) -> int:
        return len(self.service)

    def _columns(self) -> list[list[Any]]:
        return [self.request_id.tolist(), self.service, self.status.tolist(), self.reason,
                self.arrival_s.tolist(), self.prompt_tokens.tolist(),
                self.output_tokens.tolist(), self.cached_tokens.tolist(),
                self.first_token_s.tolist(), self.finish_s.tolist(), self.ttft_s.tolist(),
                self.tpot_s.tolist(), self.e2e_s.tolist(), self.num_preemptions.tolist(),
                self.replica.tolist(), self.prefill_replica.tolist(),
                self.truncated.tolist(), self.meets_slo.tolist(), self.warmup.tolist()]

    @staticmethod
    def _row(v: Sequence[Any]) -> RequestRecord:
        return RequestRecord(
            request_id=int(v[0]), service=v[1], status=REQUEST_STATUSES[int(v[2])],
            reason=v[3], arrival_s=float(v[4]), prompt_tokens=int(v[5]),
            output_tokens=int(v[6]), cached_tokens=int(v[7]), first_token_s=_opt(v[8]),
            finish_s=_opt(v[9]), ttft_s=_opt(v[10]), tpot_s=_opt(v[11]), e2e_s=_opt(v[12]),
            num_preemptions=int(v[13]), replica=int(v[14]), prefill_replica=int(v[15]),
            truncated=bool(v[16]), meets_slo=None if v[17] < 0 else bool(v[17]),
            warmup=bool(v[18]))

    @overload
    def __getitem__(self, i: int) -> RequestRecord: ...

    @overload
    def __getitem__(self, i: slice) -> list[RequestRecord]: ...

    def __getitem__(self, i: int | slice) -> RequestRecord | list[RequestRecord]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("request index out of range")
        return self._row([self.request_id[i], self.service[i], self.status[i], self.reason[i],
                          self.arrival_s[i], self.prompt_tokens[i], self.output_tokens[i],
                          self.cached_tokens[i], float(self.first_token_s[i]),
                          float(self.finish_s[i]), float(self.ttft_s[i]),
                          float(self.tpot_s[i]), float(self.e2e_s[i]),
                          self.num_preemptions[i], self.replica[i],
                          self.prefill_replica[i], self.truncated[i], self.meets_slo[i],
                          self.warmup[i]])

    def __iter__(self) -> Iterator[RequestRecord]:
        row = self._row
        for v in zip(*self._columns(), strict=True):
            yield row(v)


def request_table(requests: Sequence[RequestRecord]) -> RequestTable:
    """``requests`` as a :class:`RequestTable` (itself when it already is one), so that
    writers and the report read columns whatever the result holds."""
    if isinstance(requests, RequestTable):
        return requests
    f8, i8 = np.float64, np.int64
    recs = list(requests)

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.array([getattr(r, name) for r in recs], dtype=dtype).reshape(len(recs))

    def opt(name: str) -> np.ndarray:
        return np.array([np.nan if getattr(r, name) is None else getattr(r, name)
                         for r in recs], dtype=f8).reshape(len(recs))

    return RequestTable(
        request_id=col("request_id", i8), service=[r.service for r in recs],
        status=np.array([REQUEST_STATUSES.index(r.status) for r in recs], np.int8),
        reason=[r.reason for r in recs], arrival_s=col("arrival_s", f8),
        prompt_tokens=col("prompt_tokens", i8), output_tokens=col("output_tokens", i8),
        cached_tokens=col("cached_tokens", i8), first_token_s=opt("first_token_s"),
        finish_s=opt("finish_s"), ttft_s=opt("ttft_s"), tpot_s=opt("tpot_s"),
        e2e_s=opt("e2e_s"), num_preemptions=col("num_preemptions", i8),
        replica=col("replica", i8), prefill_replica=col("prefill_replica", i8),
        truncated=col("truncated", bool),
        meets_slo=np.array([-1 if r.meets_slo is None else int(r.meets_slo) for r in recs],
                           np.int8), warmup=col("warmup", bool))


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    replica_id: int
    service: str
    role: str
    gpus: int
    start_s: float
    ready_s: float
    end_s: float
    busy_s: float
    num_steps: int
    num_preemptions: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class ServiceTimelineData:
    """Fleet samples of one service; ``v[i]`` observed at ``time_s[i]``."""

    time_s: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    kv_used_frac: list[float] = field(default_factory=list)
    output_tokens_per_s: list[float] = field(default_factory=list)
    #: running sequences per decoding replica (``running / replicas`` when not given)
    batch_per_replica: list[float] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServingResult:
    scenario_name: str
    seed: int
    end_time_s: float
    requests: Sequence[RequestRecord]  # a RequestTable from the simulator
    replicas: list[ReplicaRecord]
    timelines: dict[str, ServiceTimelineData]
    summary: dict[str, Any]
    wall_time_s: float = 0.0
    num_events: int = 0
    kind: str = "serving"
    #: image/video generation requests (``serving.generation``), in arrival order
    generation_requests: Sequence[GenRequest] = ()
