"""What a job asks for: :class:`JobSpec` (hot-path data, slots, plain numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field

from gputwin.perf.training import ParallelConfig, TrainingConfig


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One submitted job.

    Either a *modelled* training job (``training`` set, ``tokens`` > 0: its run time comes
    from the performance model for its actual placement) or a *fixed-duration* job
    (``fixed_duration_s`` set, e.g. replayed from a trace: runs exactly that long).
    ``submit_time_s`` is simulated seconds from the start of the run.
    """

    job_id: str
    kind: str
    tenant: str
    model: str
    num_gpus: int
    submit_time_s: float
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    training: TrainingConfig | None = None
    tokens: float | None = None
    fixed_duration_s: float | None = None
    startup_overhead_s: float = 0.0

    def __post_init__(self) -> None:
        if self.num_gpus <= 0:
            raise ValueError(f"job {self.job_id}: num_gpus must be positive")
        if (self.fixed_duration_s is None) == (self.training is None):
            raise ValueError(f"job {self.job_id}: give exactly one of training / fixed_duration_s")
        if self.training is not None and not (self.tokens and self.tokens > 0):
            raise ValueError(f"job {self.job_id}: a modelled job needs tokens > 0")

    @property
    def is_modelled(self) -> bool:
        """True when the run time comes from the performance model."""
        return self.training is not None
