"""Checkpoint writes in a cluster run, sharing the storage tier's bandwidth.

With ``failures.checkpoint_writes: sync`` every modelled training job writes a checkpoint
each ``interval`` of training progress (its own, the run's, else Young/Daly's): it stops
training while its ``14 B x params`` go to the storage tier, and the checkpoint counts once
written. ``async`` stops training only for the snapshot to host memory (the job's share
per GPU at :data:`SNAPSHOT_BYTES_PER_S_PER_GPU`), then the write drains in the background
and counts when it is done; a job reaching its next checkpoint while the previous one still
drains waits for it. A fault loses the work since the last checkpoint that *finished*.

Every write in flight shares one pool: each job may write at most its nodes x the tier's
per-node write bandwidth, all together at most the tier's aggregate write bandwidth, split
max-min fairly (:class:`StoragePool`). Rates change only when a write starts or ends; the
pool then advances every write by the elapsed time at the old rates and schedules the next
completion. Jobs without a model (trace jobs) have no checkpoint size and keep the
arithmetic rule (work lost = progress since the last multiple of the interval).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from gputwin.sim.kernel import EventHandle, Simulator

#: Device-to-host copy rate of an async snapshot per GPU. ESTIMATE: pinned-memory copies
#: over PCIe Gen4/Gen5 x16 reach ~20-25 GB/s per GPU in practice (half of Gen5's 64 GB/s
#: peak), the GPUs of a node copying at once.
SNAPSHOT_BYTES_PER_S_PER_GPU = 20e9
PRIORITY_CHECKPOINT = 1  # with faults: after completions at the same instant


@dataclass(slots=True)
class _Write:
    job_id: str
    left_bytes: float
    cap_bytes_per_s: float
    on_done: Callable[[], None]
    rate: float = 0.0


class StoragePool:
    """Writes in flight sharing a tier's aggregate bandwidth, max-min fair with per-write
    caps. Exact between changes; a write whose scheduled end has come is finished even if
    rounding leaves a few bytes (so the event loop always moves on)."""

    def __init__(self, sim: Simulator, aggregate_bytes_per_s: float | None) -> None:
        self.sim = sim
        self.aggregate = aggregate_bytes_per_s
        self._writes: dict[str, _Write] = {}
        self._last_s = 0.0
        self._next: EventHandle | None = None
        self._next_job: str | None = None
        self.bytes_written = 0.0
        self.busy_s = 0.0  # time with at least one write in flight

    def __len__(self) -> int:
        return len(self._writes)

    def add(self, job_id: str, size_bytes: float, cap_bytes_per_s: float,
            on_done: Callable[[], None]) -> None:
        self._advance()
        self._writes[job_id] = _Write(job_id, size_bytes, cap_bytes_per_s, on_done)
        self._reschedule()

    def cancel(self, job_id: str) -> bool:
        """Drop ``job_id``'s write (its job stopped); ``True`` if one was in flight."""
        if job_id not in self._writes:
            return False
        self._advance()
        del self._writes[job_id]
        self._reschedule()
        return True

    def _advance(self) -> None:
        now = self.sim.now
        dt = now - self._last_s
        if dt > 0 and self._writes:
            self.busy_s += dt
            for w in self._writes.values():
                done = min(w.left_bytes, w.rate * dt)
                w.left_bytes -= done
                self.bytes_written += done
        self._last_s = now

    def _reschedule(self) -> None:
        if self._next is not None:
            self.sim.cancel(self._next)
            self._next = None
        if not self._writes:
            return
        _share(list(self._writes.values()), self.aggregate)
        first = min(self._writes.values(), key=lambda w: (w.left_bytes / w.rate, w.job_id))
        self._next_job = first.job_id
        self._next = self.sim.schedule_in(first.left_bytes / first.rate, self._finish,
                                          PRIORITY_CHECKPOINT)

    def _finish(self) -> None:
        self._next = None
        self._advance()
        job = self._next_job
        done = [w for w in self._writes.values()
                if w.job_id == job or w.left_bytes <= 1e-9 * max(1.0, w.rate)]
        for w in done:
            self.bytes_written += w.left_bytes
            del self._writes[w.job_id]
        self._reschedule()
        for w in done:
            w.on_done()


def _share(writes: list[_Write], aggregate: float | None) -> None:
    """Max-min fair rates: water-filling of ``aggregate`` under each write's cap."""
    if aggregate is None or sum(w.cap_bytes_per_s for w in writes) <= aggregate:
        for w in writes:
            w.rate = w.cap_bytes_per_s
        return
    left, todo = aggregate, sorted(writes, key=lambda w: w.cap_bytes_per_s)
    while todo:
        fair = left / len(todo)
        w = todo[0]
        if w.cap_bytes_per_s <= fair:
            w.rate = w.cap_bytes_per_s
            left -= w.rate
            todo.pop(0)
            continue
        for rest in todo:
            rest.rate = fair
        return


class JobControl(Protocol):
    """What the checkpoint driver needs of a run (``run.simulate._Run``)."""

    sim: Simulator

    def pause(self, job_id: str) -> bool: ...
    def resume(self, job_id: str) -> None: ...
    def time_at_work_s(self, job_id: str, work_s: float) -> float | None: ...


@dataclass(frozen=True, slots=True)
class CheckpointJob:
    """A running job's checkpoint size, interval (training seconds) and write cap."""

    size_bytes: float
    interval_s: float
    cap_bytes_per_s: float
    num_gpus: int


@dataclass(slots=True)
class _Progress:
    job: CheckpointJob
    durable_work_s: float = 0.0  # training work in the last checkpoint that finished
    next_work_s: float = 0.0  # work at which the next checkpoint is taken
    event: EventHandle | None = None
    writing_work_s: float | None = None  # work of the checkpoint being written
    waiting: bool = False  # reached the next checkpoint while the last one still drains
    paused: bool = False
    checkpoints: int = 0
    stalled_s: float = 0.0  # training stopped for checkpoints (sync write or snapshot)
    pause_start_s: float = 0.0


@dataclass(slots=True)
class CheckpointStats:
    checkpoints: int = 0
    stalled_s: float = 0.0
    stalled_gpu_s: float = 0.0
    lost_writes: int = 0
    by_job: dict[str, int] = field(default_factory=dict)
    interval_s: dict[str, float] = field(default_factory=dict)  # per job, last start


class CheckpointDriver:
    """Takes the checkpoints of running jobs (module docstring)."""

    def __init__(self, run: JobControl, mode: str, aggregate_bytes_per_s: float | None,
                 snapshot_bytes_per_s_per_gpu: float = SNAPSHOT_BYTES_PER_S_PER_GPU) -> None:
        if mode not in ("sync", "async"):
            raise ValueError(f"checkpoint mode {mode!r}")
        self.run, self.mode = run, mode
        self.pool = StoragePool(run.sim, aggregate_bytes_per_s)
        self.snapshot_rate = snapshot_bytes_per_s_per_gpu
        self.jobs: dict[str, _Progress] = {}
        self.stats = CheckpointStats()

    # ---- job lifecycle (called by the run) ------------------------------------------
    def started(self, job_id: str, job: CheckpointJob) -> None:
        p = self.jobs[job_id] = _Progress(job, next_work_s=job.interval_s)
        self.stats.interval_s[job_id] = job.interval_s
        self._arm(job_id, p)

    def stopped(self, job_id: str) -> float | None:
        """The job ended or was interrupted: drop its pending checkpoint and any write in
        flight (lost); returns the training work its last finished checkpoint holds."""
        p = self.jobs.pop(job_id, None)
        if p is None:
            return None
        if p.event is not None:
            self.run.sim.cancel(p.event)
        if self.pool.cancel(job_id):
            self.stats.lost_writes += 1
        self._account_pause(p)
        return p.durable_work_s

    def speed_changed(self, job_id: str) -> None:
        """The job's speed changed: its next checkpoint comes at another time."""
        p = self.jobs.get(job_id)
        if p is not None and not p.paused and p.event is not None:
            self.run.sim.cancel(p.event)
            self._arm(job_id, p)

    # ---- internals ------------------------------------------------------------------
    def _arm(self, job_id: str, p: _Progress) -> None:
        p.event = None
        at = self.run.time_at_work_s(job_id, p.next_work_s)
        if at is not None:
            p.event = self.run.sim.schedule_at(at, lambda: self._reached(job_id, p),
                                               PRIORITY_CHECKPOINT)

    def _reached(self, job_id: str, p: _Progress) -> None:
        if self.jobs.get(job_id) is not p:
            return
        p.event = None
        self._pause(job_id, p)
        if p.writing_work_s is not None:  # async: the previous write still drains
            p.waiting = True
            return
        self._take(job_id, p)

    def _take(self, job_id: str, p: _Progress) -> None:
        work = p.next_work_s
        p.writing_work_s = work
        p.next_work_s = work + p.job.interval_s
        size, cap = p.job.size_bytes, p.job.cap_bytes_per_s
        if self.mode == "sync":
            self.pool.add(job_id, size, cap, lambda: self._written(job_id, p, resume=True))
            return
        snapshot_s = size / p.job.num_gpus / self.snapshot_rate
        self.run.sim.schedule_in(snapshot_s, lambda: self._snapshotted(job_id, p),
                                 PRIORITY_CHECKPOINT)

    def _snapshotted(self, job_id: str, p: _Progress) -> None:
        if self.jobs.get(job_id) is not p:
            return  # the job stopped during the snapshot
        self.pool.add(job_id, p.job.size_bytes, p.job.cap_bytes_per_s,
                      lambda: self._written(job_id, p, resume=False))
        self._resume(job_id, p)

    def _written(self, job_id: str, p: _Progress, *, resume: bool) -> None:
        if self.jobs.get(job_id) is not p:
            return
        assert p.writing_work_s is not None
        p.durable_work_s = p.writing_work_s
        p.writing_work_s = None
        p.checkpoints += 1
        self.stats.checkpoints += 1
        self.stats.by_job[job_id] = self.stats.by_job.get(job_id, 0) + 1
        if resume:
            self._resume(job_id, p)
        elif p.waiting:
            p.waiting = False
            self._take(job_id, p)

    def _pause(self, job_id: str, p: _Progress) -> None:
        if not p.paused:
            p.paused, p.pause_start_s = True, self.run.sim.now
            self.run.pause(job_id)

    def _resume(self, job_id: str, p: _Progress) -> None:
        if p.paused:
            self._account_pause(p)
            self.run.resume(job_id)
        self._arm(job_id, p)

    def _account_pause(self, p: _Progress) -> None:
        if p.paused:
            stalled = self.run.sim.now - p.pause_start_s
            p.stalled_s += stalled
            self.stats.stalled_s += stalled
            self.stats.stalled_gpu_s += stalled * p.job.num_gpus
            p.paused = False

    def report(self, end_s: float) -> dict[str, Any]:
        s = self.stats
        open_pauses = sum((end_s - p.pause_start_s) * p.job.num_gpus
                          for p in self.jobs.values() if p.paused)
        busy = self.pool.busy_s + (end_s - self.pool._last_s if len(self.pool) else 0.0)
        return {"mode": self.mode, "checkpoints": s.checkpoints,
                "stalled_gpu_hours": (s.stalled_gpu_s + open_pauses) / 3600.0,
                "bytes_written": self.pool.bytes_written,
                "writes_lost": s.lost_writes,
                "storage_busy_frac": busy / end_s if end_s > 0 else 0.0,
                "interval_s_by_job": dict(sorted(s.interval_s.items()))}


def checkpoint_cap(nodes: int, per_node_bytes_per_s: float,
                   aggregate_bytes_per_s: float | None) -> float:
    """A job's own write ceiling: its nodes' client bandwidth, at most the aggregate."""
    cap = nodes * per_node_bytes_per_s
    if aggregate_bytes_per_s:
        cap = min(cap, aggregate_bytes_per_s)
    if not cap > 0 or math.isinf(cap):
        raise ValueError(f"checkpoint write bandwidth must be positive and finite, got {cap}")
    return cap
