"""What a serving fleet run leaves: replica lives, per-service timelines and the outcome
(every request's fate, inter-token-latency histograms, preemptions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from gputwin.serving.engine import Replica
from gputwin.serving.histogram import LogHistogram
from gputwin.serving.request import DROPPED, FINISHED, ReqState


@dataclass(slots=True)
class ReplicaLife:
    """When a replica existed: requested at ``start_s``, serving from ``ready_s``."""

    replica: Replica
    service: str
    role: str  # "serve" | "prefill" | "decode"
    gpus: int
    start_s: float
    ready_s: float
    end_s: float | None = None
    failed: str = ""  # the fault that ended it ("" = retired or still serving)


@dataclass(slots=True)
class ServiceTimeline:
    """Samples every ``sample_interval_s``: value ``v[i]`` observed at ``time_s[i]``."""

    time_s: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    kv_used_frac: list[float] = field(default_factory=list)
    tokens_out: list[float] = field(default_factory=list)  # cumulative output tokens
    #: running sequences per decoding replica (a disaggregated service's prefill pool
    #: left out: its replicas hand each sequence on after the prompt)
    batch_per_replica: list[float] = field(default_factory=list)

    def record(self, now: float, reps: Sequence[Replica], retired_tokens_out: float) -> None:
        """One sample of the service's serving replicas ``reps`` (``retired_tokens_out``:
        the output tokens of its replicas no longer serving)."""
        self.time_s.append(now)
        self.replicas.append(len(reps))
        self.running.append(sum(r.num_running for r in reps))
        decoders = [r for r in reps if not r.prefill_only]
        self.batch_per_replica.append(
            sum(r.num_running for r in decoders) / len(decoders) if decoders else 0.0)
        self.waiting.append(sum(r.num_waiting for r in reps))
        blocks = sum(r.pool.num_blocks for r in reps)
        used = sum(r.kv_used_blocks_at(now) for r in reps)
        self.kv_used_frac.append(used / blocks if blocks else 0.0)
        self.tokens_out.append(retired_tokens_out + sum(r.tokens_out_at(now) for r in reps))

    def repeated(self) -> bool:
        """Whether the last sample has the values of the one before it."""
        return len(self.time_s) >= 2 and all(
            xs[-1] == xs[-2] for xs in (self.tokens_out, self.running, self.waiting,
                                        self.replicas, self.kv_used_frac,
                                        self.batch_per_replica))


@dataclass(slots=True)
class FleetOutcome:
    states: list[ReqState]
    lives: list[ReplicaLife]
    timelines: dict[str, ServiceTimeline]
    itl: dict[str, LogHistogram]
    end_s: float
    num_events: int
    num_preemptions: dict[str, int]


def fleet_outcome(states: list[ReqState], lives: list[ReplicaLife],
                  timelines: dict[str, ServiceTimeline], *, horizon_s: float | None,
                  now_s: float, num_events: int) -> FleetOutcome:
    """The outcome of a run stopped at ``now_s``: it ends at the horizon while requests
    are unfinished, else at the last request's end; ITL histograms and preemptions are
    summed per service over its replicas' lives."""
    unfinished = any(s.status not in (FINISHED, DROPPED) for s in states)
    if horizon_s is not None and unfinished:
        end = horizon_s
    else:
        end = max((st.finish_s for st in states if st.finish_s is not None), default=now_s)
    itl: dict[str, LogHistogram] = {}
    pre: dict[str, int] = {}
    for life in lives:
        itl.setdefault(life.service, LogHistogram()).absorb(life.replica.itl)
        pre[life.service] = pre.get(life.service, 0) + life.replica.num_preemptions
    return FleetOutcome(states=states, lives=lives, timelines=timelines,
                        itl=itl, end_s=end, num_events=num_events, num_preemptions=pre)
