"""Replica autoscaling policy (evaluated every ``interval_s`` by the fleet).

Like the Kubernetes horizontal pod autoscaler: ``desired = ceil(current · metric /
target)`` clamped to ``[min_replicas, max_replicas]`` (and to the GPUs the cluster has
left), where ``metric`` is the mean number of *waiting* requests per replica
(``queue``), the mean busy fraction of the replicas over the last interval
(``utilization``) or the mean number of requests in the replica, running or waiting
(``concurrency``, Knative's request-concurrency target). A tolerance band (10 %, as the
HPA default) avoids flapping; with ``scale_down_window_s`` > 0 the policy scales down
only to the highest count it asked for within that window (the HPA's scale-down
stabilisation window, 300 s by default there). New
replicas serve after ``provision_delay_s`` (weights read from the storage tier); removed
replicas stop taking requests at once and leave when their last request is done.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from gputwin.errors import InputError

Metric = Literal["queue", "utilization", "concurrency"]


@dataclass(frozen=True, slots=True)
class AutoscalerSpec:
    metric: Metric = "queue"
    target: float = 4.0
    interval_s: float = 15.0
    min_replicas: int = 1
    max_replicas: int = 8
    tolerance_frac: float = 0.1
    provision_delay_s: float = 0.0  # filled in by the run layer from the storage tier
    scale_down_window_s: float = 0.0  # stabilisation: 0 = scale down at once

    def __post_init__(self) -> None:
        if self.target <= 0 or self.interval_s <= 0 or self.scale_down_window_s < 0:
            raise InputError("autoscaler target and interval must be > 0, the scale-down "
                             "window >= 0")
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


def stabilized(recent: list[tuple[float, int]], now_s: float, want: int,
               window_s: float) -> int:
    """``want``, or the highest count asked for within the last ``window_s`` when that is
    higher (scale-down stabilisation). ``recent`` (time, want) is kept trimmed in place."""
    recent.append((now_s, want))
    while recent and recent[0][0] < now_s - window_s:
        recent.pop(0)
    return max(w for _, w in recent)
