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
    # -- scheduling hints and resource request (all optional; defaults = a plain batch job).
    # Shared by the schedulers and the trace readers: ONE definition per field.
    priority: int = 0  #: larger = more important (strict priority, preemption, traces)
    queue: str = ""  #: scheduler queue / partition / virtual cluster ("" = default queue)
    qos: str = ""  #: quality-of-service class ("" = normal; traces: LS, BE, Burstable...)
    runtime_limit_s: float | None = None  #: the user's wall-time request (backfill)
    checkpoint_interval_s: float | None = None  #: training seconds between checkpoints
    #: share of each requested GPU in milli-GPU, 1..1000. 1000 = whole GPUs (default);
    #: < 1000 is a fractional (shared-GPU) request, e.g. Alibaba openb, and needs num_gpus 1.
    gpu_milli: int = 1000
    gpu_type: str | None = None  #: required GPU model(s), e.g. "V100M16|V100M32" (None = any)
    min_members: int | None = None  #: gang minimum (None = all num_gpus at once)
    num_cpus: float | None = None  #: CPU cores requested (whole job)
    memory_bytes: float | None = None  #: host memory requested (whole job)
    user: str | None = None  #: (hashed) user id from the trace
    status_in_trace: str | None = None  #: final status recorded in the trace (Pass, FAILED...)
    wait_time_in_trace_s: float | None = None  #: queueing delay the trace recorded
    #: MIG profile the job runs in (e.g. "3g.40gb"; one instance of one GPU), None = none
    mig_profile: str | None = None
    # -- carbon-aware scheduling (docs/carbon-aware.md) -------------------------------------
    #: how much later than its submission the job may start (None = not deferrable)
    deferrable_slack_s: float | None = None
    interruptible: bool = False  #: may be suspended (at a checkpoint) and resumed later
    data_bytes: float = 0.0  #: dataset to move if the job runs outside ``region``
    region: str | None = None  #: where the job's data lives (None = anywhere / home region)

    def __post_init__(self) -> None:
        if self.num_gpus <= 0:
            raise ValueError(f"job {self.job_id}: num_gpus must be positive")
        if (self.fixed_duration_s is None) == (self.training is None):
            raise ValueError(f"job {self.job_id}: give exactly one of training / fixed_duration_s")
        if self.training is not None and not (self.tokens and self.tokens > 0):
            raise ValueError(f"job {self.job_id}: a modelled job needs tokens > 0")
        if not 0 < self.gpu_milli <= 1000:
            raise ValueError(f"job {self.job_id}: gpu_milli must be in 1..1000")
        if self.gpu_milli < 1000 and self.num_gpus != 1:
            raise ValueError(f"job {self.job_id}: a fractional GPU request needs num_gpus 1")
        if self.mig_profile is not None and (self.num_gpus != 1 or self.gpu_milli < 1000):
            raise ValueError(f"job {self.job_id}: a MIG job asks for num_gpus 1, whole GPUs")
        if self.deferrable_slack_s is not None and not self.deferrable_slack_s >= 0:
            raise ValueError(f"job {self.job_id}: deferrable_slack_s must be >= 0")
        if not self.data_bytes >= 0:
            raise ValueError(f"job {self.job_id}: data_bytes must be >= 0")

    @property
    def is_fractional(self) -> bool:
        """True for a request of part of one GPU (``gpu_milli`` < 1000)."""
        return self.gpu_milli < 1000

    @property
    def gpu_demand(self) -> float:
        """GPUs requested, counting a fractional request as its share of one GPU."""
        return self.num_gpus * self.gpu_milli / 1000.0

    @property
    def is_modelled(self) -> bool:
        """True when the run time comes from the performance model."""
        return self.training is not None
