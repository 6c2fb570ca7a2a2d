"""Replica autoscaling policy (evaluated every ``interval_s`` by the fleet).

Like the Kubernetes horizontal pod autoscaler: ``desired = ceil(current · metric /
target)`` clamped to ``[min_replicas, max_replicas]`` (and to the GPUs the cluster has
left), where ``metric`` is the mean number of *waiting* requests per replica
(``queue``) or the mean busy fraction of the replicas over the last interval
(``utilization``). A tolerance band (10 %, as the HPA default) avoids flapping. New
replicas serve after ``provision_delay_s`` (weights read from the storage tier); removed
replicas stop taking requests at once and leave when their last request is done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gputwin.errors import InputError

Metric = Literal["queue", "utilization"]


@dataclass(frozen=True, slots=True)
class AutoscalerSpec:
    metric: Metric = "queue"
    target: float = 4.0
    interval_s: float = 15.0
    min_replicas: int = 1
    max_replicas: int = 8
    tolerance_frac: float = 0.1
    provision_delay_s: float = 0.0  # filled in by the run layer from the storage tier

    def __post_init__(self) -> None:
        if self.target <= 0 or self.interval_s <= 0:
            raise InputError("autoscaler target and interval must be > 0")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise InputError(f"autoscaler needs 1 <= min_replicas <= max_replicas, got "
                             f"{self.min_replicas}, {self.max_replicas}")
        if self.metric == "utilization" and self.target > 1:
            raise InputError("utilization target is a fraction in (0, 1]")


def desired_replicas(spec: AutoscalerSpec, current: int, metric: float) -> int:
    """The replica count the policy asks for (``current`` when within tolerance)."""
    if current <= 0:
        return spec.min_replicas
    ratio = metric / spec.target
    if abs(ratio - 1.0) <= spec.tolerance_frac:
        want = current
    else:
        want = math.ceil(current * ratio - 1e-9)
    return max(spec.min_replicas, min(spec.max_replicas, want))
