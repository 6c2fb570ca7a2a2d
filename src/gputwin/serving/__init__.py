"""LLM serving simulation: vLLM-v1-style replica engines, routers, autoscaling, fleets.

Small parts per replica (as nano-vllm): request state (:mod:`.request`), the paged KV
block pool with prefix caching (:mod:`.kv_cache`), the scheduler (:mod:`.scheduler`), the
step pricer (:mod:`.step_cost`), the decode-skip arithmetic as pure functions
(:mod:`.decode_skip`) and the step runner (:mod:`.engine`); :mod:`.fleet` wires
replicas, routers (:mod:`.router`, a registry with typed args) and the
autoscaler (:mod:`.autoscaler`) onto the event kernel, with its parts in their own
modules: specs (:mod:`.fleet_spec`), pools (:mod:`.pool`), incoming requests
(:mod:`.arrivals`), tick skipping (:mod:`.quiet_ticks`) and the outcome
(:mod:`.fleet_outcome`). See docs/serving-simulation.md.
"""

# the package's import checked the compiled modules (gputwin/_accel.py); re-exported here
from gputwin._accel import USING_COMPILED
from gputwin.serving.autoscaler import AutoscalerSpec, desired_replicas
from gputwin.serving.config import EngineConfig
from gputwin.serving.engine import Replica, StepModel
from gputwin.serving.fleet import Fleet
from gputwin.serving.fleet_outcome import FleetOutcome, ReplicaLife
from gputwin.serving.fleet_spec import PoolSpec, ServiceSpec
from gputwin.serving.kv_cache import BlockPool, KvCacheError
from gputwin.serving.router import ROUTERS, RouterPlugin, make_router, router_names
from gputwin.serving.scheduler import Scheduler
from gputwin.serving.step_cost import StepPricer

__all__ = [
    "ROUTERS",
    "USING_COMPILED",
    "AutoscalerSpec",
    "BlockPool",
    "EngineConfig",
    "Fleet",
    "FleetOutcome",
    "KvCacheError",
    "PoolSpec",
    "Replica",
    "ReplicaLife",
    "RouterPlugin",
    "Scheduler",
    "ServiceSpec",
    "StepModel",
    "StepPricer",
    "desired_replicas",
    "make_router",
    "router_names",
]
