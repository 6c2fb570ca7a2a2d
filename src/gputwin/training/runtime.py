"""How long a job runs on a given placement, and how much energy it uses.

A modelled job runs ``num_steps = ceil(tokens / (global_batch_size · seq_len))`` steps of
``step_time_s`` from :func:`gputwin.perf.training.estimate_training` *for its actual
placement* (``num_leaves_spanned`` is passed through, so a gang spread over more leaves of
an oversubscribed fabric is slower), after a start-up (storage load + template overhead).
Energy is the model's per-step energy × steps (start-up energy is not counted).
A fixed-duration job (trace replay) runs exactly its recorded duration; its energy is
unknown (``None``).

Estimates are cached by (model, parallel, training config, num_gpus, num_leaves), so
thousands of jobs cost a handful of model evaluations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gputwin.catalog.schema import ModelSpec
from gputwin.cluster.ledger import Placement
from gputwin.errors import InputError
from gputwin.perf.training import (
    ParallelConfig,
    TrainingConfig,
    TrainingEstimate,
    estimate_training,
)
from gputwin.topology.hardware import HardwareSpec
from gputwin.training.startup import load_time_s, weights_bytes
from gputwin.workload.job import JobSpec

_Key = tuple[str, ParallelConfig, TrainingConfig, int, int, str]
#: Same signature as :func:`gputwin.perf.training.estimate_training` (injectable for tests).
Estimator = Callable[..., TrainingEstimate]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What starting a job on a placement means. Times in seconds, energy in joules."""

    duration_s: float  # start-up + training (or the fixed duration)
    startup_s: float
    step_time_s: float | None = None
    num_steps: float | None = None
    mfu: float | None = None
    energy_j: float | None = None
    #: shares of a step spent in data-parallel communication across leaves (0 within one
    #: leaf): in all (``uplink_duty``) and not hidden behind compute (``uplink_exposed``);
    #: what fabric contention re-prices (run/fabric.py)
    uplink_duty: float = 0.0
    uplink_exposed: float = 0.0


class TrainingRuntime:
    """Turns (job, placement) into a :class:`RunPlan`; no simulation state."""

    __slots__ = ("_check_cache", "_estimates", "_estimator", "_hw", "_hw_by_type", "_models",
                 "_node_types", "_weights", "num_estimates")

    def __init__(
        self,
        hw: HardwareSpec,
        models: Mapping[str, ModelSpec],
        estimator: Estimator = estimate_training,
        *,
        hw_by_type: Mapping[str, HardwareSpec] | None = None,
        node_types: tuple[str, ...] = (),
    ) -> None:
        self._hw = hw
        self._estimator = estimator
        self._models = dict(models)
        #: a mixed fleet: the hardware of each GPU type and the type of each node
        self._hw_by_type = dict(hw_by_type or {hw.accelerator.name: hw})
        self._node_types = node_types
        self._estimates: dict[_Key, TrainingEstimate] = {}
        self._check_cache: dict[tuple[str, ParallelConfig, TrainingConfig, int, str],
                                str | None] = {}
        self._weights: dict[str, float] = {}
        self.num_estimates = 0  # model evaluations done (cache misses)

    def infeasible_reason(self, job: JobSpec, gpu_type: str | None = None) -> str | None:
        """Why ``job`` can never run here (e.g. out of memory), else ``None``: on GPU type
        ``gpu_type``, or on every type the job allows (a mixed fleet; one that fits is
        enough)."""
        if job.training is None:
            return None
        if gpu_type is None and len(self._hw_by_type) > 1:
            reasons = [self.infeasible_reason(job, t) for t in self.allowed_types(job)]
            return None if None in reasons or not reasons else reasons[0]
        hw = self._hw_by_type[gpu_type] if gpu_type else self._hw
        key = (job.model, job.parallel, job.training, job.num_gpus, hw.accelerator.name)
        if key not in self._check_cache:
            try:
                self._estimate(job, num_leaves=1, hw=hw)
                reason = None
            except InputError as exc:  # includes DoesNotFitError
                reason = exc.detail
            self._check_cache[key] = reason
        return self._check_cache[key]

    @property
    def hardware_by_type(self) -> Mapping[str, HardwareSpec]:
        """The hardware of each GPU type (one entry unless a mixed fleet)."""
        return self._hw_by_type

    @property
    def node_types(self) -> tuple[str, ...]:
        """Each node's GPU type in a mixed fleet (empty for one type)."""
        return self._node_types

    def allowed_types(self, job: JobSpec) -> list[str]:
        """The GPU types ``job`` may run on (its ``gpu_type`` list, else every type)."""
        if job.gpu_type:
            wanted = job.gpu_type.split("|")
            return [t for t in self._hw_by_type if t in wanted]
        return list(self._hw_by_type)

    def _hw_of(self, placement: Placement) -> HardwareSpec:
        """The hardware a placement runs on (its first node's GPU type in a mixed fleet)."""
        if not self._node_types:
            return self._hw
        return self._hw_by_type[self._node_types[placement.nodes[0]]]

    def plan(self, job: JobSpec, placement: Placement, remaining_frac: float = 1.0,
             restart_overhead_s: float = 0.0) -> RunPlan:
        """Run plan for ``job`` on ``placement``; raises :class:`InputError` if infeasible.

        ``remaining_frac`` < 1: the job resumes from a checkpoint with that share of its
        training left; it pays its start-up again plus ``restart_overhead_s``.
        """
        extra = restart_overhead_s if remaining_frac < 1.0 else 0.0
        if job.training is None:
            assert job.fixed_duration_s is not None
            return RunPlan(duration_s=extra + job.fixed_duration_s * remaining_frac,
                           startup_s=extra)
        hw = self._hw_of(placement)
        est = self._estimate(job, num_leaves=placement.num_leaves, hw=hw)
        cfg = job.training
        tokens_per_step = cfg.global_batch_size * cfg.seq_len
        num_steps = float(math.ceil((job.tokens or 0.0) / tokens_per_step)) * remaining_frac
        startup = extra + job.startup_overhead_s + load_time_s(
            self._model_weights(job.model), job.parallel.tp * job.parallel.pp, placement,
            hw.storage,
        )
        energy = None if est.energy_j is None else est.energy_j * num_steps
        duty = exposed = 0.0
        if placement.num_leaves > 1 and est.step_time_s > 0:
            duty = min(1.0, est.extra.get("dp_comm_total_s", 0.0) / est.step_time_s)
            exposed = min(duty, est.breakdown.get("dp_comm_s", 0.0) / est.step_time_s)
        return RunPlan(
            duration_s=startup + num_steps * est.step_time_s,
            startup_s=startup,
            step_time_s=est.step_time_s,
            num_steps=num_steps,
            mfu=est.mfu,
            energy_j=energy,
            uplink_duty=duty,
            uplink_exposed=exposed,
        )

    def expected_duration_s(self, job: JobSpec, gpus_per_node: int, nodes_per_leaf: int) -> float:
        """Run time on the most compact placement (fewest leaves), without start-up
        storage load; the perf model's prediction used for backfill estimates."""
        if job.training is None:
            assert job.fixed_duration_s is not None
            return job.fixed_duration_s
        num_nodes = -(-job.num_gpus // gpus_per_node)
        hw = self._hw
        if len(self._hw_by_type) > 1:  # a mixed fleet: the first type the job fits
            fits = [t for t in self.allowed_types(job) if self.infeasible_reason(job, t) is None]
            hw = self._hw_by_type[fits[0]] if fits else hw
        est = self._estimate(job, num_leaves=-(-num_nodes // nodes_per_leaf), hw=hw)
        cfg = job.training
        num_steps = math.ceil((job.tokens or 0.0) / (cfg.global_batch_size * cfg.seq_len))
        return job.startup_overhead_s + num_steps * est.step_time_s

    def _estimate(self, job: JobSpec, num_leaves: int,
                  hw: HardwareSpec | None = None) -> TrainingEstimate:
        cfg = job.training
        assert cfg is not None
        hw = hw or self._hw
        key: _Key = (job.model, job.parallel, cfg, job.num_gpus, num_leaves,
                     hw.accelerator.name)
        est = self._estimates.get(key)
        if est is None:
            est = self._estimator(
                self._models[job.model], hw, job.num_gpus, job.parallel, cfg,
                tokens=float(cfg.global_batch_size * cfg.seq_len),  # one step → energy per step
                num_leaves_spanned=num_leaves,
            )
            self.num_estimates += 1
            self._estimates[key] = est
        return est

    def model_spec(self, name: str) -> ModelSpec:
        """The catalog model of jobs named ``name`` (KeyError for a model no job uses)."""
        return self._models[name]

    def _model_weights(self, name: str) -> float:
        if name not in self._weights:
            self._weights[name] = weights_bytes(self._models[name])
        return self._weights[name]
