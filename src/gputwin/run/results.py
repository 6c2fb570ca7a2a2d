"""What a simulation run produces: per-job records, timelines and the summary.

These are plain data (no behaviour beyond derived properties and serialisation) so the
report, the CLI and tests can read them without knowing how the run was wired.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

JobStatus = Literal["completed", "failed", "running", "queued"]

JOB_STATUSES: tuple[JobStatus, ...] = ("completed", "failed", "running", "queued")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job's fate. Times are simulated seconds; ``None`` when it never happened."""

    job_id: str
    kind: str  # "pretrain" | "finetune" | trace-specific
    model: str
    tenant: str
    num_gpus: int
    submit_time_s: float
    start_time_s: float | None
    end_time_s: float | None
    status: JobStatus
    reason: str = ""  # why it failed, or why it is still queued
    num_nodes: int = 0
    num_leaves: int = 0
    step_time_s: float | None = None
    num_steps: float | None = None
    tokens: float | None = None
    mfu: float | None = None
    energy_j: float | None = None
    # -- scheduling (optional; defaults = never preempted) ----------------------------------
    queue: str = ""
    priority: int = 0
    preemptions: int = 0  # times stopped and re-queued
    migrations: int = 0  # times moved by the defragmenter (checkpoint + restart)
    lost_gpu_hours: float = 0.0  # GPU-hours whose work was lost (since the last checkpoint)
    #: GPU-hours held over all run segments (None: never ran); fractional shares count
    #: gpu_milli / 1000 GPU, MIG slices their compute slices / the GPU's (e.g. 3g = 3/7)
    gpu_hours: float | None = None
    # -- energy accounting (scenario `site:`; None without one) ------------------------------
    co2e_g: float | None = None  # operational (location-based) + embodied CO2e, grams
    cost_usd: float | None = None  # compute (rental or capex) + energy if not in the price
    water_l: float | None = None  # on-site cooling water (+ grid water if enabled), litres
    held_s: float | None = None  # time held over all run segments (None: never ran)

    @property
    def wait_time_s(self) -> float | None:
        return None if self.start_time_s is None else self.start_time_s - self.submit_time_s

    @property
    def run_time_s(self) -> float | None:
        if self.start_time_s is None or self.end_time_s is None:
            return None
        return self.end_time_s - self.start_time_s

    @property
    def jct_s(self) -> float | None:
        """Job completion time: submit to end."""
        return None if self.end_time_s is None else self.end_time_s - self.submit_time_s

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["wait_time_s"] = self.wait_time_s
        row["run_time_s"] = self.run_time_s
        row["jct_s"] = self.jct_s
        return row


@dataclass(frozen=True, slots=True)
class Timeline:
    """Step functions sampled at every change: value ``v[i]`` holds from ``time_s[i]``."""

    time_s: list[float] = field(default_factory=list)
    #: GPUs allocated, fractional shares and MIG slices counted by their part (ints while no
    #: GPU is partial, floats otherwise; ``list[float]`` once every reader takes floats)
    gpus_allocated: list[Any] = field(default_factory=list)
    queue_length: list[int] = field(default_factory=list)
    running_jobs: list[int] = field(default_factory=list)
    #: (time_s, share of free GPUs no waiting job can use), one sample per scheduling cycle
    #: that had free GPUs and waiting jobs.
    fragmentation: list[tuple[float, float]] = field(default_factory=list)
    #: FGD's measure under a sharing placement (fgd, bestfit, gpu-packing): (time_s,
    #: expected fragmented GPUs, fragmentation rate, unallocated GPUs) at every change.
    fgd_fragmentation: list[tuple[float, float, float, float]] = field(default_factory=list)

    def record(self, now: float, gpus_allocated: Any, queue_length: int,
               running_jobs: int) -> None:
        """Add a step at ``now`` if a value changed (one sample per instant: a later change
        at the same instant overwrites it)."""
        values = (gpus_allocated, queue_length, running_jobs)
        if values == (self.gpus_allocated[-1], self.queue_length[-1], self.running_jobs[-1]):
            return
        if self.time_s[-1] == now:
            self.gpus_allocated[-1], self.queue_length[-1], self.running_jobs[-1] = values
            return
        self.time_s.append(now)
        self.gpus_allocated.append(gpus_allocated)
        self.queue_length.append(queue_length)
        self.running_jobs.append(running_jobs)


@dataclass(frozen=True, slots=True)
class SimulationResult:
    scenario_name: str
    seed: int
    total_gpus: int
    end_time_s: float
    jobs: list[JobRecord]
    timeline: Timeline
    summary: dict[str, Any]
    wall_time_s: float = 0.0
    num_events: int = 0
    #: energy accounting of a run with a ``site:`` (run/energy_accounting.py,
    #: ``EnergyResult.to_dict()``: totals, idle account, hourly timeline); ``None`` without
    energy: dict[str, Any] | None = None
    #: the serving side of a shared fleet (``ServingResult``: requests, replicas,
    #: timelines; run/shared_fleet.py); ``None`` for a training-only run
    serving: Any = None
