"""LLM serving simulation: vLLM-v1-style replica engines, routers, autoscaling, fleets.

Three small parts per replica (as nano-vllm): request state (:mod:`.request`), the paged
KV block pool with prefix caching (:mod:`.kv_cache`) and the scheduler/engine
(:mod:`.engine`); :mod:`.fleet` wires replicas, routers (:mod:`.router`) and the
autoscaler (:mod:`.autoscaler`) onto the event kernel. See docs/serving-simulation.md.
"""

from gputwin.serving.autoscaler import AutoscalerSpec, desired_replicas
from gputwin.serving.config import EngineConfig
from gputwin.serving.engine import Replica, StepModel
from gputwin.serving.fleet import Fleet, FleetOutcome, PoolSpec, ReplicaLife, ServiceSpec
from gputwin.serving.kv_cache import BlockPool, KvCacheError
from gputwin.serving.router import ROUTERS, make_router

__all__ = [
    "ROUTERS",
    "AutoscalerSpec",
    "BlockPool",
    "EngineConfig",
    "Fleet",
    "FleetOutcome",
    "KvCacheError",
    "PoolSpec",
    "Replica",
    "ReplicaLife",
    "ServiceSpec",
    "StepModel",
    "desired_replicas",
    "make_router",
]
