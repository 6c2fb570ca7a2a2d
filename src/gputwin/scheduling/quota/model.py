"""The multi-tenancy model (Kueue's concepts, plain frozen data).

- **Resource flavour**: a GPU type (``name`` → catalog accelerator ``gpu``).
- **Cluster queue**: a pool of quota per flavour — ``nominal`` GPUs, an optional
  ``borrowing_limit`` (most GPUs it may use beyond nominal, from its cohort; ``None`` = no
  limit) and ``lending_limit`` (most of its unused nominal quota it lets the cohort borrow;
  ``None`` = all of it) — membership in a ``cohort`` (``None`` = borrows and lends nothing),
  a queueing strategy (``StrictFIFO`` | ``BestEffortFIFO``) and preemption policies.
- **Local queue**: what a job names (``JobSpec.queue``, or its tenant when empty); maps to
  one cluster queue and may give the job a default priority class.
- **Priority class** (Kueue's WorkloadPriorityClass): a name → integer priority.

Quotas are held in milli-GPU integers (1000 = one GPU) so fractional requests count
exactly; the scenario edge gives GPUs. Cross-references are checked by
:meth:`TenancyModel.validate`, which raises :class:`~gputwin.errors.InputError` naming the
``tenancy.`` field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from gputwin.cluster.sharing import MILLI_PER_GPU
from gputwin.errors import InputError, UnknownNameError

MILLI = MILLI_PER_GPU  # milli-GPU per GPU (one definition: cluster.sharing)

QueueingStrategy = Literal["StrictFIFO", "BestEffortFIFO"]
WithinPolicy = Literal["Never", "LowerPriority", "LowerOrNewerEqualPriority"]
ReclaimPolicy = Literal["Never", "LowerPriority", "Any"]
BorrowPolicy = Literal["Never", "LowerPriority"]


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    """Quota of one cluster queue for one flavour, in milli-GPU."""

    nominal_milli: int
    borrowing_limit_milli: int | None = None  # None = unlimited (cohort permitting)
    lending_limit_milli: int | None = None  # None = all unused nominal quota is lendable

    @property
    def lendable_milli(self) -> int:
        """Part of the nominal quota the cohort may borrow when unused."""
        if self.lending_limit_milli is None:
            return self.nominal_milli
        return min(self.lending_limit_milli, self.nominal_milli)

    @property
    def guaranteed_milli(self) -> int:
        """Part of the nominal quota nobody else can ever use."""
        return self.nominal_milli - self.lendable_milli


@dataclass(frozen=True, slots=True)
class PreemptionPolicy:
    """Kueue's ``ClusterQueue.spec.preemption``."""

    within_cluster_queue: WithinPolicy = "Never"
    reclaim_within_cohort: ReclaimPolicy = "Never"
    borrow_within_cohort: BorrowPolicy = "Never"
    max_priority_threshold: int | None = None  # borrowWithinCohort: victims <= this


@dataclass(frozen=True, slots=True)
class ClusterQueueSpec:
    """One cluster queue; ``quotas`` keeps the flavour order (tried first to last)."""

    name: str
    quotas: tuple[tuple[str, FlavorQuota], ...]
    cohort: str | None = None
    queueing_strategy: QueueingStrategy = "BestEffortFIFO"
    preemption: PreemptionPolicy = PreemptionPolicy()

    def quota(self, flavor: str) -> FlavorQuota | None:
        for name, q in self.quotas:
            if name == flavor:
                return q
        return None

    @property
    def flavors(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.quotas)


@dataclass(frozen=True, slots=True)
class LocalQueueSpec:
    name: str
    cluster_queue: str
    priority_class: str | None = None  # default class of its jobs


@dataclass(frozen=True, slots=True)
class TenancyModel:
    """The whole tenancy configuration (see the module docstring)."""

    flavors: Mapping[str, str]  # flavour name → GPU type (catalog accelerator name)
    cluster_queues: Mapping[str, ClusterQueueSpec]
    local_queues: Mapping[str, LocalQueueSpec]
    priority_classes: Mapping[str, int] = field(default_factory=dict)
    default_priority_class: str | None = None
    default_local_queue: str | None = None  # jobs naming no known local queue go here
    #: Never preempt a job of higher priority than the preemptor, whatever the policies
    #: say (Kueue's ``reclaimWithinCohort: Any`` alone would).
    never_preempt_higher_priority: bool = True

    def validate(self) -> TenancyModel:
        """Check cross-references; returns ``self``. Raises :class:`InputError`."""
        if not self.cluster_queues:
            raise InputError("give at least one cluster queue", where="tenancy.cluster_queues")
        for cq in self.cluster_queues.values():
            where = f"tenancy.cluster_queues.{cq.name}"
            if not cq.quotas:
                raise InputError("give a quota for at least one flavour", where=f"{where}.quotas")
            for flavor, _ in cq.quotas:
                if flavor not in self.flavors:
                    raise UnknownNameError("resource flavour", flavor, list(self.flavors),
                                           where=f"{where}.quotas.{flavor}")
        for lq in self.local_queues.values():
            where = f"tenancy.local_queues.{lq.name}"
            if lq.cluster_queue not in self.cluster_queues:
                raise UnknownNameError("cluster queue", lq.cluster_queue,
                                       list(self.cluster_queues), where=f"{where}.cluster_queue")
            self._known_class(lq.priority_class, f"{where}.priority_class")
        self._known_class(self.default_priority_class, "tenancy.default_priority_class")
        dlq = self.default_local_queue
        if dlq is not None and dlq not in self.local_queues:
            raise UnknownNameError("local queue", dlq, list(self.local_queues),
                                   where="tenancy.default_local_queue")
        return self

    def _known_class(self, name: str | None, where: str) -> None:
        if name is not None and name not in self.priority_classes:
            raise UnknownNameError("priority class", name, list(self.priority_classes),
                                   where=where)

    def cohort_members(self, cohort: str | None) -> tuple[ClusterQueueSpec, ...]:
        if cohort is None:
            return ()
        return tuple(cq for cq in self.cluster_queues.values() if cq.cohort == cohort)
