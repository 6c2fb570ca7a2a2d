"""A post-filter plugin written only against the read-only handle (docs/scheduling.md).

When a job cannot be placed, it proposes to preempt the most recently started running
jobs of lower priority, newest first, until a dry-run placement of the waiting job
succeeds on the GPUs they would free. It never touches the framework: it reads
``handle.running``, asks ``handle.try_place`` and returns a proposal; the framework
preempts. It also wakes the simulator up at a fixed period (a declared hook).
"""

from __future__ import annotations

from pydantic import Field

from gputwin.scheduling import (
    CycleState,
    PluginArgs,
    PostFilterPlugin,
    PostFilterResult,
    QueuedJob,
    register,
)
from gputwin.scheduling.hooks import SchedulerHandle, WakesUp


class EvictNewestArgs(PluginArgs):
    min_priority_gap: int = Field(default=1, ge=1, description="victim priority <= p - gap")
    wakeup_period_s: float | None = Field(default=None, gt=0,
                                          description="ask for a cycle this often")


@register
class EvictNewest(PostFilterPlugin, WakesUp):
    name = "post-filter/evict-newest"
    Args = EvictNewestArgs

    def post_filter(self, handle: SchedulerHandle, job: QueuedJob,
                    state: CycleState) -> PostFilterResult | None:
        assert isinstance(self.args, EvictNewestArgs)
        bar = job.spec.priority - self.args.min_priority_gap
        victims = sorted((r for r in handle.running.values() if r.spec.priority <= bar),
                         key=lambda r: (-r.start_s, r.job_id))
        free = state.free.copy()
        chosen = []
        for run in victims:
            for node, count in zip(run.placement.nodes, run.placement.gpus, strict=True):
                free[node] += count
            chosen.append(run)
            if handle.try_place(job, state, free)[1] is not None:
                return PostFilterResult(preempt=tuple(chosen), reason=f"evicted for {job.job_id}")
        return None

    def next_wakeup_s(self, now_s: float) -> float | None:
        assert isinstance(self.args, EvictNewestArgs)
        period = self.args.wakeup_period_s
        return None if period is None else (now_s // period + 1) * period
