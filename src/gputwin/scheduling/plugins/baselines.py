"""The FGD paper's other packing baselines as placement plugins (Weng et al., USENIX
ATC'23, Sec. 6.1): ``placement/dot-product``, ``placement/gpu-clustering`` and
``placement/random``. They share the machinery of
:class:`~gputwin.scheduling.plugins.fractional.SharedGpuPlacement` (the GPU/CPU/memory
mirror, GPU-type and memory masks, gangs); only the node ranking differs
(:mod:`gputwin.cluster.packing_scores`).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from gputwin.cluster.packing_scores import (
    clustering_scores,
    dot_product_scores,
    random_scores,
)
from gputwin.cluster.sharing import GpuRequest
from gputwin.scheduling.api import PluginArgs, PluginContext, RunningJob
from gputwin.scheduling.plugins.fractional import SharedArgs, SharedGpuPlacement


class RandomArgs(SharedArgs):
    seed: int = Field(default=0, ge=0, description="seed of the random node choice")


class DotProductPlacement(SharedGpuPlacement):
    """Dot-product (Tetris-style) alignment of free and requested (CPU, GPU)."""

    name = "placement/dot-product"
    Args = SharedArgs

    def rank(self, req: GpuRequest) -> np.ndarray:
        m = self.mirror
        return dot_product_scores(m.table, req, m.free_cpu, m.cpu_capacity)


class GpuClusteringPlacement(SharedGpuPlacement):
    """GPU clustering: pods of one GPU-share class gathered on the same nodes."""

    name = "placement/gpu-clustering"
    Args = SharedArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        n = len(self.mirror.num_gpus)
        self.pods: dict[int, np.ndarray] = {}  # gpu_milli class -> pods of it per node
        self.num_classes = np.zeros(n, dtype=np.int64)

    def _count(self, job: RunningJob, step: int) -> None:
        n = len(self.num_classes)
        pods = self.pods.setdefault(job.spec.gpu_milli, np.zeros(n, dtype=np.int64))
        for node in _nodes(job):
            before = pods[node]
            pods[node] += step
            self.num_classes[node] += int(pods[node] > 0) - int(before > 0)

    def on_start(self, job: RunningJob, now_s: float) -> None:
        super().on_start(job, now_s)
        self._count(job, 1)

    def on_stop(self, job: RunningJob, now_s: float, preempted: bool) -> None:
        super().on_stop(job, now_s, preempted)
        self._count(job, -1)

    def rank(self, req: GpuRequest) -> np.ndarray:
        m = self.mirror
        pods = self.pods.get(req.gpu_milli)
        mine = np.zeros(len(self.num_classes), dtype=bool) if pods is None else pods > 0
        return clustering_scores(m.table, req, m.free_cpu, mine, self.num_classes)


class RandomPlacement(SharedGpuPlacement):
    """Random fit: a uniformly random node where the pod fits (``seed``)."""

    name = "placement/random"
    Args = RandomArgs

    def __init__(self, args: PluginArgs, ctx: PluginContext) -> None:
        super().__init__(args, ctx)
        assert isinstance(args, RandomArgs)
        self.rng = np.random.default_rng(args.seed)

    def rank(self, req: GpuRequest) -> np.ndarray:
        m = self.mirror
        return random_scores(m.table, req, m.free_cpu, self.rng)


def _nodes(job: RunningJob) -> set[int]:
    return set(job.placement.nodes) | {s.node for s in job.placement.shares}
