"""What a serving fleet is made of: services, each with one pool of identical replicas, or
two when prefill and decode are disaggregated (:mod:`gputwin.serving.fleet` runs them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gputwin.errors import InputError
from gputwin.serving.autoscaler import AutoscalerSpec
from gputwin.serving.config import EngineConfig
from gputwin.serving.engine import StepModel
from gputwin.workload.llm_request import LlmRequest

#: ``(request, now_s) → (request for the chosen service, delay_s before it reaches it)``.
Dispatch = Callable[[LlmRequest, float], tuple[LlmRequest, float]]


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """Identical replicas behind one router."""

    engine: EngineConfig
    model: StepModel
    num_replicas: int
    gpus_per_replica: int
    router: str = "least_outstanding"
    autoscaler: AutoscalerSpec | None = None

    def __post_init__(self) -> None:
        if self.num_replicas < 1:
            raise InputError(f"a pool needs at least one replica, got {self.num_replicas}")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: str
    pool: PoolSpec  # the serving pool (the decode pool when disaggregated)
    prefill_pool: PoolSpec | None = None
    kv_transfer_s: Callable[[int], float] | None = None  # prompt tokens → seconds
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
