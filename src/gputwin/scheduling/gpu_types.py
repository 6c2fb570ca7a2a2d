"""A mixed fleet seen one GPU type at a time: a gang runs on one type.

With one GPU type there is nothing to split; with several, a job's placement is tried on
each type it may use in node-group order, against the free GPUs of that type's nodes and,
when node shapes differ, against that type's node shape and scale-up domain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from gputwin.cluster.layout import ClusterLayout
from gputwin.scheduling.api import PluginContext, QueuedJob


class GpuTypeViews:
    """Per GPU type: a node mask and, when node shapes differ, the layout placers see."""

    def __init__(self, ctx: PluginContext) -> None:
        types = list(dict.fromkeys(ctx.node_types))
        self.masks: dict[str, np.ndarray] = {}
        self.layouts: dict[str, ClusterLayout] = {}
        if len(types) < 2:
            return
        node_types = np.asarray(ctx.node_types)
        self.masks = {t: node_types == t for t in types}
        layout = ctx.layout
        if layout.node_gpus:
            for t in types:
                gpn = layout.node_gpus[ctx.node_types.index(t)]
                self.layouts[t] = replace(layout, gpus_per_node=gpn, node_gpus=(),
                                          scale_up_domain_size=ctx.domain_sizes.get(t, 0))

    def free_by_type(self, job: QueuedJob, free: np.ndarray
                     ) -> Iterable[tuple[str, np.ndarray]]:
        """``free`` as is; in a mixed fleet, ``free`` on each GPU type the job may use (an
        admission's flavour, else its own types, else all), in node-group order."""
        if not self.masks:
            return (("", free),)
        own = job.spec.gpu_type.split("|") if job.spec.gpu_type else None
        if job.gpu_type:  # an admission's flavour, within the job's own types
            allowed: list[str] | None = (
                [job.gpu_type] if own is None or job.gpu_type in own else [])
        else:
            allowed = own
        return ((gpu_type, np.where(on_type, free, 0))
                for gpu_type, on_type in self.masks.items()
                if allowed is None or gpu_type in allowed)
