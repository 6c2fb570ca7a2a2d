"""The plugin API of the scheduling framework: hot-path types and one base class per
extension point. See docs/scheduling.md ("Writing a plugin").

A scheduling *cycle* runs against a read-only :class:`~gputwin.cluster.ClusterSnapshot`;
plugins read :class:`CycleState` (``free`` is the cycle's scratch copy, already reduced by
the decisions taken earlier in the same cycle) and return :class:`Status` values. Only the
framework mutates the scratch state; only the simulator mutates the ledger.

Extension points, in the order a job meets them::

    queue-sort → queueing (strict | best-effort | backfill walks the queue)
      per job: pre-filter → filter (nodes) → score (nodes) → placement (whole gang)
               → reserve → permit (may WAIT) → bind          on failure: post-filter
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.cluster.ledger import Placement
from gputwin.cluster.partial import PartialGpus
from gputwin.cluster.snapshot import ClusterSnapshot
from gputwin.input_model import InputModel
from gputwin.scheduling.status import SKIP, SUCCESS, Status
from gputwin.workload.job import JobSpec

if TYPE_CHECKING:
    from gputwin.scheduling.framework import Framework
    from gputwin.scheduling.hooks import SchedulerHandle

#: Seconds a job is predicted to run (perf model, or a trace's recorded duration); injected
#: by the composition root. Backfill combines it with user limits (see queueing plugins).
RuntimeEstimator = Callable[[JobSpec], float]

#: What a request looks like beyond its GPU count: ``None`` for whole GPUs of any type with
#: no CPU/memory request (the common case), else ``(gpu_milli, mig_profile, gpu_type,
#: num_cpus, memory_bytes)``. Two jobs of the same shape differ only in ``num_gpus``.
Shape = tuple[int, str | None, str | None, float | None, float | None] | None


def request_shape(spec: JobSpec) -> Shape:
    """The request shape of ``spec`` (see :data:`Shape`)."""
    if (spec.gpu_milli >= 1000 and spec.mig_profile is None and spec.gpu_type is None
            and spec.num_cpus is None and spec.memory_bytes is None):
        return None
    return (spec.gpu_milli, spec.mig_profile, spec.gpu_type, spec.num_cpus, spec.memory_bytes)


def is_share_request(spec: JobSpec) -> bool:
    """True for a request of part of one GPU: fractional (``gpu_milli`` < 1000) or MIG."""
    return spec.gpu_milli < 1000 or spec.mig_profile is not None


@dataclass(slots=True)
class QueuedJob:
    """A job waiting in the framework's queue (mutable, hot path)."""

    spec: JobSpec
    seq: int  # submission order (ties)
    enqueue_s: float  # when it (re-)entered the queue
    est_runtime_s: float  # expected run time of what is left (backfill)
    remaining_frac: float = 1.0  # < 1 after a preemption (resumes from a checkpoint)
    reason: str = ""  # last waiting reason
    hold: Placement | None = None  # permit WAIT: resources held across cycles
    hold_until_s: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)  # per-plugin scratch
    shape: Shape = None  # request_shape(spec), set by the framework at submit
    #: a mixed fleet: the GPU type an admission plugin chose (a Kueue flavour), "" = any
    #: of the job's own types
    gpu_type: str = ""

    @property
    def job_id(self) -> str:
        return self.spec.job_id


@dataclass(slots=True)
class RunningJob:
    """A job the framework started and has not seen finish."""

    spec: JobSpec
    placement: Placement
    start_s: float
    est_end_s: float

    @property
    def job_id(self) -> str:
        return self.spec.job_id


@dataclass(frozen=True, slots=True)
class Decision:
    """Start ``job`` on ``placement`` now (``remaining_frac`` of its work is left)."""

    job: JobSpec
    placement: Placement
    remaining_frac: float = 1.0


@dataclass(frozen=True, slots=True)
class Preemption:
    """Stop running ``job`` now. ``migrate_to``: restart it at once there (defragmentation);
    otherwise it goes back to the queue and resumes from its last checkpoint."""

    job: JobSpec
    reason: str
    migrate_to: Placement | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    """``job`` can never run here; ``reason`` says why (ends the job as ``failed``)."""

    job: JobSpec
    reason: str


@dataclass(slots=True)
class CycleResult:
    """What one scheduling cycle decided, in application order: preemptions, then starts."""

    preemptions: list[Preemption] = field(default_factory=list)
    starts: list[Decision] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(slots=True)
class CycleState:
    """Scratch state of one cycle. ``free``/``free_total``: whole GPUs still free after the
    cycle's own decisions; ``tenant_gpus``: whole GPUs held per tenant (live within the
    cycle); ``partial``: the partial GPUs (fractional shares, MIG slices), built by the
    framework on first use (``scheduling.scratch.partial(state)``)."""

    now_s: float
    snapshot: ClusterSnapshot
    free: np.ndarray
    free_total: int
    running: Mapping[str, RunningJob]
    tenant_gpus: dict[str, int]
    result: CycleResult
    data: dict[str, Any] = field(default_factory=dict)
    partial: PartialGpus | None = None
    #: a mixed fleet of node shapes: the layout of the GPU type being tried (its nodes'
    #: shape), set by the framework for that pass only
    layout_view: ClusterLayout | None = None

    @property
    def layout(self) -> ClusterLayout:
        return self.layout_view or self.snapshot.layout


@dataclass(frozen=True, slots=True)
class PostFilterResult:
    """Victims to preempt and/or jobs to migrate so that the failed job fits."""

    preempt: tuple[RunningJob, ...] = ()
    migrate: tuple[tuple[RunningJob, Placement], ...] = ()
    reason: str = ""


class PluginArgs(InputModel):
    """Base of every plugin's typed arguments (validated at the scenario edge)."""



@dataclass(frozen=True, slots=True)
class PluginContext:
    """What plugins may know about the world when they are built."""

    layout: ClusterLayout
    estimate_runtime: RuntimeEstimator
    gpu_type: str = ""  # the cluster's GPU type (catalog name; a mixed fleet's first)
    #: a mixed fleet (``cluster.node_groups``): each node's GPU type; empty = one type
    node_types: tuple[str, ...] = ()
    #: a mixed fleet: GPUs per scale-up domain of each type (0 = one node)
    domain_sizes: Mapping[str, int] = field(default_factory=dict)
    #: a torus cluster with ``cluster.optics``: ``"ocs"`` or ``"static"`` (None: not one)
    torus_wiring: str | None = None
    #: nodes per torus block (4x4x4 chips) of that cluster
    hosts_per_block: int = 0


class Plugin:
    """Base class. Subclasses set ``name`` (``"<point>/<name>"``) and ``Args``."""

    name: ClassVar[str] = ""
    point: ClassVar[str] = ""
    Args: ClassVar[type[PluginArgs]] = PluginArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        self.args = args
        self.ctx = ctx

    # Lifecycle hooks (optional): fair-share usage, DRF shares, quotas...
    def on_start(self, job: RunningJob, now_s: float) -> None:
        """Called once a start decision is taken."""

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        """Called when a job finishes or is preempted."""

    def on_migrate(self, old: RunningJob, new: RunningJob, now_s: float) -> None:
        """Called when a running job moves (``old``: as it was, ``new``: on its new
        placement; defragmentation). Default: unbind then bind, i.e. ``on_stop(old, now_s,
        False)`` then ``on_start(new, now_s)``, so mirrors of the cluster follow the move;
        plugins that count starts or stops (admissions, releases) override it."""
        self.on_stop(old, now_s, False)
        self.on_start(new, now_s)


class QueueSortPlugin(Plugin):
    """Orders the queue. Override :meth:`key` (static order) or :meth:`order` (dynamic)."""

    point = "queue_sort"

    def key(self, job: QueuedJob, state: CycleState) -> Any:
        return (job.spec.submit_time_s, job.seq)

    def order(self, jobs: list[QueuedJob], state: CycleState) -> Iterable[QueuedJob]:
        return sorted(jobs, key=lambda j: self.key(j, state))


class QueueingPlugin(Plugin):
    """Walks the ordered queue and decides which jobs start (strict, best-effort, backfill)."""

    point = "queueing"

    def walk(self, fw: Framework, order: Iterator[QueuedJob], state: CycleState) -> None:
        raise NotImplementedError


class PreFilterPlugin(Plugin):
    """Job-level checks. Set ``shape_only`` when the verdict depends only on the request
    shape (GPUs, milli, MIG profile, GPU type, CPU, memory): queueing walks may then skip
    jobs of a shape that already failed in the cycle."""

    point = "pre_filter"
    shape_only: ClassVar[bool] = False

    def pre_filter(self, job: QueuedJob, state: CycleState) -> Status:
        return SUCCESS


class FilterPlugin(Plugin):
    """Per-node feasibility, vectorised: a boolean mask over nodes (``None`` = no opinion)."""

    point = "filter"

    def filter(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray | None:
        return None


class ScorePlugin(Plugin):
    """Per-node preference, vectorised: floats in [0, 100], higher = better."""

    point = "score"

    def score(self, job: QueuedJob, state: CycleState, free: np.ndarray) -> np.ndarray:
        return np.zeros(len(free))


class PlacementPlugin(Plugin):
    """Chooses the whole gang's nodes (the job is the unit), or ``None`` = not now."""

    point = "placement"

    def place(self, job: QueuedJob, state: CycleState, free: np.ndarray,
              scores: np.ndarray | None) -> Placement | None:
        raise NotImplementedError


class ReservePlugin(Plugin):
    point = "reserve"

    def reserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        return SUCCESS

    def unreserve(self, job: QueuedJob, placement: Placement, state: CycleState) -> None:
        """Undo :meth:`reserve` (a later plugin failed)."""


class PermitPlugin(Plugin):
    point = "permit"

    def permit(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        return SUCCESS


class BindPlugin(Plugin):
    point = "bind"

    def bind(self, job: QueuedJob, placement: Placement, state: CycleState) -> Status:
        return SKIP


class PostFilterPlugin(Plugin):
    """Runs when a job could not be placed: may free room (preemption, migration)."""

    point = "post_filter"

    def post_filter(self, fw: SchedulerHandle, job: QueuedJob,
                    state: CycleState) -> PostFilterResult | None:
        """``fw``: the read-only handle (running jobs, dry-run placement); the framework
        applies the proposal."""
        return None
