"""What replica faults and site outages cost a serving run, and the report rows for it.

:class:`ServiceFaultStats` counts one service's faults by cause, the replica-time down,
the requests retried and failed and the output tokens lost; :class:`OutageStats` one site
outage's replicas and requests. :func:`failures_report` and :func:`site_outage_rows` turn
them into the ``failures`` summary sections.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gputwin.serving.fault_plan import SiteOutage


@dataclass(slots=True)
class ServiceFaultStats:
    faults: dict[str, int] = field(default_factory=dict)  # cause -> faults
    retried: int = 0
    failed: int = 0
    down_replica_s: float = 0.0
    unheld_s: float = 0.0  # replica-time a site outage held no replica (not paid)
    lost_tokens: int = 0  # output tokens generated, then lost with their replica

    def count_fault(self, cause: str) -> None:
        self.faults[cause] = self.faults.get(cause, 0) + 1


@dataclass(slots=True)
class OutageStats:
    replicas: int = 0  # taken down
    requests_retried: int = 0
    requests_failed: int = 0


def total_stats(stats: Iterable[ServiceFaultStats]) -> ServiceFaultStats:
    """Every service's counts added together."""
    out = ServiceFaultStats()
    for st in stats:
        for cause, n in st.faults.items():
            out.faults[cause] = out.faults.get(cause, 0) + n
        out.retried += st.retried
        out.failed += st.failed
        out.down_replica_s += st.down_replica_s
        out.unheld_s += st.unheld_s
        out.lost_tokens += st.lost_tokens
    return out


def failures_report(st: ServiceFaultStats, replica_s: float) -> dict[str, Any]:
    """A ``failures`` section (``replica_s``: the replica-time held): faults by cause,
    replica-down hours, the share of the replica-time lost (of the time replicas were held
    plus the time a site outage held none), requests retried and failed, tokens lost."""
    down = st.down_replica_s
    span = replica_s + st.unheld_s
    return {"faults": sum(st.faults.values()), "by_cause": dict(sorted(st.faults.items())),
            "replica_down_hours": down / 3600.0,
            "capacity_lost_frac": min(1.0, down / span) if span > 0 else 0.0,
            "requests_retried": st.retried, "requests_failed": st.failed,
            "output_tokens_lost": st.lost_tokens}


def site_outage_rows(outages: Sequence[SiteOutage], stats: Sequence[OutageStats]
                     ) -> list[dict[str, Any]]:
    """One row per site outage: when, the replicas it took, requests retried/failed."""
    return [{"site": o.site, "start_s": o.start_s, "end_s": o.end_s,
             "groups": list(o.groups), "replicas_down": st.replicas,
             "requests_retried": st.requests_retried,
             "requests_failed": st.requests_failed}
            for o, st in zip(outages, stats, strict=True)]
