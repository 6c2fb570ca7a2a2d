"""Kueue-style multi-tenancy as scheduling-framework plugins (docs/multi-tenancy.md).

Resource flavours (GPU types), cluster queues with nominal quota, borrowing and lending
limits and cohorts, local queues, priority classes; admission with StrictFIFO /
BestEffortFIFO queues; preemption within a queue, reclaim within a cohort and preemption
while borrowing; per-queue accounting.
"""

from gputwin.scheduling.quota.admission import (
    KueueQueueing,
    KueueQuota,
    KueueSort,
    TenancyContext,
)
from gputwin.scheduling.quota.book import Admission, Mode, QueueStats, QuotaBook, Verdict
from gputwin.scheduling.quota.model import (
    MILLI,
    ClusterQueueSpec,
    FlavorQuota,
    LocalQueueSpec,
    PreemptionPolicy,
    TenancyModel,
)
from gputwin.scheduling.quota.preemption import KueuePreemption
from gputwin.scheduling.quota.profile import with_tenancy
from gputwin.scheduling.quota.report import queue_report

__all__ = [
    "MILLI", "Admission", "ClusterQueueSpec", "FlavorQuota", "KueuePreemption",
    "KueueQueueing", "KueueQuota", "KueueSort", "LocalQueueSpec", "Mode", "PreemptionPolicy",
    "QueueStats", "QuotaBook", "TenancyContext", "TenancyModel", "Verdict", "queue_report",
    "with_tenancy",
]
