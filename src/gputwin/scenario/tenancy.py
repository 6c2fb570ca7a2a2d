"""The ``tenancy:`` section of a scenario: Kueue-style queues, quotas and priority classes.

Example (see docs/multi-tenancy.md for every field)::

    tenancy:
      priority_classes: {inference-critical: 1000, training: 100, batch: 10}
      cluster_queues:
        inference:
          cohort: ai
          quotas: {h100-sxm-80gb: {nominal: 16, lending_limit: 8}}
          preemption: {within_cluster_queue: LowerPriority, reclaim_within_cohort: Any}
        team-a: {cohort: ai, quotas: {h100-sxm-80gb: 24}, queueing_strategy: StrictFIFO}
      local_queues:
        serving: {cluster_queue: inference, priority_class: inference-critical}
        team-a: {cluster_queue: team-a, priority_class: training}

Quotas are in GPUs (a number is the nominal quota alone). ``flavors`` maps flavour names
to catalog GPU types; without it, quota keys are GPU types themselves. Without
``local_queues`` each cluster queue gets a local queue of the same name. A job's local
queue is its ``queue`` field, else its tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from gputwin.errors import InputError
from gputwin.input_model import InputModel
from gputwin.scheduling.quota.model import (
    MILLI,
    BorrowPolicy,
    ClusterQueueSpec,
    FlavorQuota,
    LocalQueueSpec,
    PreemptionPolicy,
    QueueingStrategy,
    ReclaimPolicy,
    TenancyModel,
    WithinPolicy,
)

GpuCount = Annotated[float, Field(ge=0)]


class _Model(InputModel):
    """The rules of every user input (:class:`gputwin.input_model.InputModel`)."""


def _nominal_only(value: Any) -> Any:
    """``h100: 16`` is short for ``h100: {nominal: 16}``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"nominal": value}
    return value


class QuotaConfig(_Model):
    """GPUs of one flavour: ``nominal``; ``borrowing_limit`` / ``lending_limit`` (None =
    no limit / all unused nominal quota is lendable)."""

    nominal: GpuCount
    borrowing_limit: GpuCount | None = None
    lending_limit: GpuCount | None = None


class BorrowWithinCohortConfig(_Model):
    policy: BorrowPolicy = "Never"
    max_priority_threshold: int | None = None


class PreemptionConfig(_Model):
    within_cluster_queue: WithinPolicy = "Never"
    reclaim_within_cohort: ReclaimPolicy = "Never"
    borrow_within_cohort: BorrowWithinCohortConfig = BorrowWithinCohortConfig()


class ClusterQueueConfig(_Model):
    cohort: str | None = None
    quotas: dict[str, Annotated[QuotaConfig, BeforeValidator(
        _nominal_only, json_schema_input_type=QuotaConfig | float)]] = Field(
        min_length=1)
    queueing_strategy: QueueingStrategy = "BestEffortFIFO"
    preemption: PreemptionConfig = PreemptionConfig()


def _cq_only(value: Any) -> Any:
    """``team-a: cq-a`` is short for ``team-a: {cluster_queue: cq-a}``."""
    return {"cluster_queue": value} if isinstance(value, str) else value


class LocalQueueConfig(_Model):
    cluster_queue: str
    priority_class: str | None = None


class TenancyConfig(_Model):
    """The section (see the module docstring)."""

    flavors: dict[str, str] | None = None
    priority_classes: dict[str, int] = Field(default_factory=dict)
    default_priority_class: str | None = None
    cluster_queues: dict[str, ClusterQueueConfig] = Field(min_length=1)
    local_queues: dict[str, Annotated[LocalQueueConfig, BeforeValidator(
        _cq_only, json_schema_input_type=LocalQueueConfig | str)]] | None = None
    default_local_queue: str | None = None
    never_preempt_higher_priority: bool = True


def _milli(gpus: float | None) -> int | None:
    return None if gpus is None else round(gpus * MILLI)


def tenancy_model(cfg: TenancyConfig,
                  cluster_gpus: str | Sequence[str] | None = None) -> TenancyModel:
    """The validated :class:`TenancyModel`. With ``cluster_gpus`` (the cluster's catalog GPU
    type, or a mixed fleet's types), every flavour must be one of them. Raises
    :class:`InputError` naming the ``tenancy.`` field."""
    flavors = dict(cfg.flavors) if cfg.flavors is not None else {
        name: name for cq in cfg.cluster_queues.values() for name in cq.quotas}
    if cluster_gpus is not None:
        types = [cluster_gpus] if isinstance(cluster_gpus, str) else list(cluster_gpus)
        for name, gpu in flavors.items():
            if gpu not in types:
                raise InputError(f"flavour {name!r} is GPU type {gpu!r}, but the cluster has "
                                 f"only {', '.join(repr(t) for t in types)} (node_groups for "
                                 "a mixed fleet)", where=f"tenancy.flavors.{name}")
    cqs = {
        name: ClusterQueueSpec(
            name=name,
            quotas=tuple((f, FlavorQuota(round(q.nominal * MILLI), _milli(q.borrowing_limit),
                                         _milli(q.lending_limit))) for f, q in c.quotas.items()),
            cohort=c.cohort, queueing_strategy=c.queueing_strategy,
            preemption=PreemptionPolicy(
                within_cluster_queue=c.preemption.within_cluster_queue,
                reclaim_within_cohort=c.preemption.reclaim_within_cohort,
                borrow_within_cohort=c.preemption.borrow_within_cohort.policy,
                max_priority_threshold=c.preemption.borrow_within_cohort.max_priority_threshold),
        )
        for name, c in cfg.cluster_queues.items()
    }
    lqs_cfg = cfg.local_queues if cfg.local_queues is not None else {
        name: LocalQueueConfig(cluster_queue=name) for name in cfg.cluster_queues}
    lqs = {name: LocalQueueSpec(name, lq.cluster_queue, lq.priority_class)
           for name, lq in lqs_cfg.items()}
    return TenancyModel(
        flavors=flavors, cluster_queues=cqs, local_queues=lqs,
        priority_classes=dict(cfg.priority_classes),
        default_priority_class=cfg.default_priority_class,
        default_local_queue=cfg.default_local_queue,
        never_preempt_higher_priority=cfg.never_preempt_higher_priority,
    ).validate()
