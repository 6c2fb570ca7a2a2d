"""What a serving simulation produces: per-request records, timelines, replicas, summary.

Plain data (no behaviour beyond serialisation) so the report, the CLI and tests can read
it without knowing how the run was wired. Times are simulated seconds; ``None`` when a
thing never happened (e.g. no first token for a dropped request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RequestStatus = Literal["finished", "dropped", "in_flight"]
REQUEST_STATUSES: tuple[RequestStatus, ...] = ("finished", "dropped", "in_flight")

REQUEST_COLUMNS: tuple[str, ...] = (
    "request_id", "service", "status", "reason", "arrival_s", "prompt_tokens",
    "output_tokens", "cached_tokens", "first_token_s", "finish_s", "ttft_s", "tpot_s",
    "e2e_s", "num_preemptions", "replica", "prefill_replica", "truncated", "meets_slo",
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

    def to_row(self) -> tuple[Any, ...]:
        return (self.request_id, self.service, self.status, self.reason, self.arrival_s,
                self.prompt_tokens, self.output_tokens, self.cached_tokens,
                self.first_token_s, self.finish_s, self.ttft_s, self.tpot_s, self.e2e_s,
                self.num_preemptions, self.replica, self.prefill_replica,
                int(self.truncated), "" if self.meets_slo is None else int(self.meets_slo))


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


@dataclass(frozen=True, slots=True)
class ServingResult:
    scenario_name: str
    seed: int
    end_time_s: float
    requests: list[RequestRecord]
    replicas: list[ReplicaRecord]
    timelines: dict[str, ServiceTimelineData]
    summary: dict[str, Any]
    wall_time_s: float = 0.0
    num_events: int = 0
    kind: str = "serving"
