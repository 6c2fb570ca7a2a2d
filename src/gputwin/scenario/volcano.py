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
from gputwin.scenario.kueue import GPU_RESOURCE, _documents, quantity
from gputwin.yaml_io import KeyPath, parse_yaml_with_lines

NOT_MODELLED = ("reclaimable: false", "hierarchical queues", "cpu/memory")


def _queues(paths: list[Path]) -> list[tuple[dict[str, Any], dict[KeyPath, int], Path]]:
    out = []
    for file in paths:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read Volcano manifest: {exc.strerror}",
                             where=str(file)) from None
        for chunk, offset in _documents(text):
            data, lines = parse_yaml_with_lines("\n" * offset + chunk, str(file))
            if isinstance(data, dict) and data.get("kind") == "Queue" and str(
                    data.get("apiVersion", "")).startswith("scheduling.volcano.sh/"):
                out.append((data, lines, file))
    return out


def _where(lines: dict[KeyPath, int], file: Path, path: KeyPath) -> str:
    probe = path
    while probe and probe not in lines:
        probe = probe[:-1]
    return f"{file}:{lines.get(probe, 1)}"


def _gpu(data: dict[str, Any], lines: dict[KeyPath, int], file: Path,
         path: KeyPath) -> float | None:
    node: Any = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if node is None:
        return None
    if not isinstance(node, dict):
        raise InputError(f"Queue: {'.'.join(map(str, path))}: expected a resource map",
                         where=_where(lines, file, path))
    raw = node.get(GPU_RESOURCE)
    return None if raw is None else quantity(raw, _where(lines, file, (*path, GPU_RESOURCE)),
                                             ".".join(map(str, path)) + "." + GPU_RESOURCE)


def tenancy_from_volcano(section: dict[str, Any], base: Path, where: str,
                         cluster_gpus: float, gpu_type: str) -> dict[str, Any]:
    """The ``tenancy:`` mapping from ``section`` for a cluster of ``cluster_gpus``
    GPUs of catalog type ``gpu_type``."""
    allowed = {"manifests", "local_queue_priority", "priority_classes",
               "default_priority_class"}
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise InputError(f"tenancy.volcano: unknown field(s) {', '.join(unknown)}; expected "
                         f"{', '.join(sorted(allowed))}", where=where)
    files = section.get("manifests")
    if not isinstance(files, list) or not files:
        raise InputError("tenancy.volcano.manifests: give a list of manifest files",
                         where=where)
    paths = [p if p.is_absolute() else base / p for p in (Path(str(f)) for f in files)]
    for p in paths:
        if not p.is_file():
            raise InputError(f"tenancy.volcano.manifests: file not found: {p}", where=where)
    queues = _queues(paths)
    if not queues:
        raise InputError("tenancy.volcano: the manifests define no Queue", where=where)
    weights = {}
    for data, lines, file in queues:
        w = (data.get("spec") or {}).get("weight", 1)
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            raise InputError(f"Queue: spec.weight: expected an integer >= 1, got {w!r}",
                             where=_where(lines, file, ("spec", "weight")))
        weights[str((data.get("metadata") or {}).get("name"))] = w
    total_w = sum(weights.values())
    cqs: dict[str, Any] = {}
    for data, lines, file in queues:
        name = str((data.get("metadata") or {}).get("name"))
        deserved = _gpu(data, lines, file, ("spec", "deserved"))
        nominal = deserved if deserved is not None else cluster_gpus * weights[name] / total_w
        cap = _gpu(data, lines, file, ("spec", "capability"))
        guarantee = _gpu(data, lines, file, ("spec", "guarantee", "resource")) or 0.0
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
