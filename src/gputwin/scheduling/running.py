"""The running side of the scheduling framework: jobs started, by tenant and by end time."""

from __future__ import annotations

import bisect

from gputwin.scheduling.api import RunningJob


class RunningSet:
    """Running jobs by id, whole GPUs held per tenant (quotas, fair share) and the sorted
    expected releases ``(est_end_s, seq, job_id)`` that backfill reads as its time
    profile. The three containers are updated in place (plugins hold references)."""

    def __init__(self) -> None:
        self.jobs: dict[str, RunningJob] = {}
        self.tenant_gpus: dict[str, int] = {}
        self.ends: list[tuple[float, int, str]] = []
        self._end_key: dict[str, tuple[float, int, str]] = {}

    def add(self, run: RunningJob, seq: int) -> None:
        """Record ``run`` (``seq`` orders equal expected ends)."""
        job_id = run.job_id
        self.jobs[job_id] = run
        key = (run.est_end_s, seq, job_id)
        bisect.insort(self.ends, key)
        self._end_key[job_id] = key
        held = run.placement.num_gpus
        if held:  # whole GPUs only (share-only jobs hold none)
            tenant = run.spec.tenant
            self.tenant_gpus[tenant] = self.tenant_gpus.get(tenant, 0) + held

    def remove(self, job_id: str) -> RunningJob | None:
        """Forget ``job_id`` (ended, failed or preempted); ``None`` if it is not running."""
        run = self.jobs.pop(job_id, None)
        if run is None:
            return None
        del self.ends[bisect.bisect_left(self.ends, self._end_key.pop(job_id))]
        held = run.placement.num_gpus
        if held:
            tenant = run.spec.tenant
            left = self.tenant_gpus.get(tenant, 0) - held
            if left > 0:
                self.tenant_gpus[tenant] = left
            else:
                self.tenant_gpus.pop(tenant, None)
        return run
