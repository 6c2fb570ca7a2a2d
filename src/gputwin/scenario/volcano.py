"""Real Volcano ``Queue`` manifests as the scenario's tenancy (mapped onto the Kueue-style
model of :mod:`gputwin.scheduling.quota`)::

    tenancy:
      volcano:
        manifests: [volcano/queues.yaml]      # beside the scenario; ``---`` documents
        local_queue_priority: {serving: high}  # optional, as for Kueue
        priority_classes: {high: 1000, low: 10}

Read from objects ``apiVersion: scheduling.volcano.sh/*``, ``kind: Queue``:
``metadata.name``, ``spec.weight`` (default 1), ``spec.capability`` /
``spec.guarantee.resource`` / ``spec.deserved`` (their ``nvidia.com/gpu`` entry) and
``spec.reclaimable``. Volcano's proportion plugin gives each queue a *deserved* share of
the cluster by weight, lets it use idle GPUs up to its capability, and reclaims GPUs a
queue holds beyond its deserved share when their owner needs them. Mapped: every queue
is a cluster queue of one cohort (``volcano``) with ``nominal`` = ``deserved`` if given,
else the cluster's GPUs × weight / Σ weights; ``borrowing_limit`` = capability − nominal
(none without a capability); ``lending_limit`` = nominal − guarantee (the guaranteed part
is never lent); preemption ``reclaim_within_cohort: Any``. Each queue gets a local queue
of its name (a job's queue is its ``queue`` field, else its tenant). Not modelled:
``reclaimable: false`` (such a queue is reclaimed from like any other; reported in
:data:`NOT_MODELLED`), hierarchical queues, CPU/memory. Errors name file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gputwin.errors import InputError
from gputwin.scenario.kueue import (
    GPU_RESOURCE,
    ManifestDoc,
    manifest_paths,
    quantity,
    read_manifests,
)
from gputwin.yaml_io import KeyPath

NOT_MODELLED = ("reclaimable: false", "hierarchical queues", "cpu/memory")


def _gpu(d: ManifestDoc, path: KeyPath) -> float | None:
    node = d.get(path)
    if node is None:
        return None
    if not isinstance(node, dict):
        raise InputError(f"Queue: {'.'.join(map(str, path))}: expected a resource map",
                         where=d.where(path))
    raw = node.get(GPU_RESOURCE)
    return None if raw is None else quantity(raw, d.where((*path, GPU_RESOURCE)),
                                             ".".join(map(str, path)) + "." + GPU_RESOURCE)


def tenancy_from_volcano(section: dict[str, Any], base: Path, where: str,
                         cluster_gpus: float, gpu_type: str) -> dict[str, Any]:
    """The ``tenancy:`` mapping from ``section`` for a cluster of ``cluster_gpus``
    GPUs of catalog type ``gpu_type``."""
    paths = manifest_paths(section, {"manifests", "local_queue_priority", "priority_classes",
                                     "default_priority_class"}, base, where, "volcano")
    queues = [d for d in read_manifests(paths, "scheduling.volcano.sh/")
              if d.data["kind"] == "Queue"]
    if not queues:
        raise InputError("tenancy.volcano: the manifests define no Queue", where=where)
    weights = {}
    for d in queues:
        w = d.get(("spec", "weight"), 1)
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise InputError(f"Queue: spec.weight: expected an integer >= 1, got {w!r}",
                             where=d.where(("spec", "weight")))
        weights[d.name] = w
    total_w = sum(weights.values())
    cqs: dict[str, Any] = {}
    for d in queues:
        name = d.name
        deserved = _gpu(d, ("spec", "deserved"))
        nominal = deserved if deserved is not None else cluster_gpus * weights[name] / total_w
        cap = _gpu(d, ("spec", "capability"))
        guarantee = _gpu(d, ("spec", "guarantee", "resource")) or 0.0
        if cap is not None and guarantee > cap:
            raise InputError(f"Queue {name!r}: spec.guarantee ({guarantee:g} GPUs) exceeds its "
                             f"spec.capability ({cap:g})",
                             where=d.where(("spec", "guarantee", "resource")))
        cqs[name] = {"cohort": "volcano", "quotas": {gpu_type: {
            "nominal": round(nominal, 3),
            "borrowing_limit": None if cap is None else max(0.0, round(cap - nominal, 3)),
            "lending_limit": max(0.0, round(nominal - guarantee, 3))}},
            "preemption": {"reclaim_within_cohort": "Any"}}
    prio = {str(k): str(v) for k, v in (section.get("local_queue_priority") or {}).items()}
    out: dict[str, Any] = {
        "cluster_queues": cqs,
        "local_queues": {n: {"cluster_queue": n, "priority_class": prio.get(n)} for n in cqs},
        "priority_classes": dict(section.get("priority_classes") or {}),
    }
    if section.get("default_priority_class") is not None:
        out["default_priority_class"] = str(section["default_priority_class"])
    return out
