"""Real Kueue manifests as the scenario's ``tenancy:`` — the "what-if before I apply this".

A scenario may give, instead of (or on top of) hand-written queues::

    tenancy:
      kueue:
        manifests: [kueue/flavors.yaml, kueue/queues.yaml]   # beside the scenario file
        flavors: {h100: h100-sxm-80gb}        # ResourceFlavor -> catalog GPU (default: name)
        local_queue_priority: {serving: inference-critical}  # a LocalQueue's default class
        default_priority_class: batch

Each manifest file may hold several ``---``-separated objects of API group
``kueue.x-k8s.io``; objects of other groups (Namespace, ...) are skipped. Read:

- ``ResourceFlavor``: its name (the flavour).
- ``ClusterQueue``: ``spec.cohort`` (or ``cohortName``), ``spec.queueingStrategy``, the
  ``nvidia.com/gpu`` entries of ``spec.resourceGroups[].flavors[].resources[]``
  (``nominalQuota``, ``borrowingLimit``, ``lendingLimit``) and ``spec.preemption``
  (``withinClusterQueue``, ``reclaimWithinCohort``, ``borrowWithinCohort.policy`` /
  ``maxPriorityThreshold``).
- ``LocalQueue``: ``metadata.name`` → ``spec.clusterQueue`` (a job's local queue is its
  ``queue`` field, else its tenant).
- ``WorkloadPriorityClass``: ``metadata.name`` → ``value``.

Not modelled, accepted and listed in :data:`IGNORED`: CPU/memory quotas, ``fairSharing``
weights, ``Cohort`` objects (hierarchical cohorts), ``Topology`` and
``admissionChecks``. Errors name the manifest file, its line and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

from gputwin.errors import InputError
from gputwin.scheduling.quota.model import (
    BorrowPolicy,
    QueueingStrategy,
    ReclaimPolicy,
    WithinPolicy,
)
from gputwin.yaml_io import KeyPath, parse_yaml_with_lines

GPU_RESOURCE = "nvidia.com/gpu"
IGNORED = ("cpu/memory quotas", "fairSharing", "Cohort", "Topology", "admissionChecks")
_SEPARATOR = re.compile(r"^---\s*(#.*)?$")


class ManifestDoc:
    """One manifest object with its file and line map (for error messages)."""

    def __init__(self, data: dict[str, Any], lines: dict[KeyPath, int], file: Path) -> None:
        self.data, self.lines, self.file = data, lines, file

    def where(self, path: KeyPath) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return f"{self.file}:{self.lines.get(probe, 1)}"

    def get(self, path: KeyPath, default: Any = None) -> Any:
        value: Any = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return default
            elif not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    def need(self, path: KeyPath, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.get(path)
        if not isinstance(value, kind) or isinstance(value, bool):
            name = ".".join(str(p) for p in path)
            raise InputError(f"{self.data.get('kind', 'object')}: {name}: expected {what}, "
                             f"got {value!r}", where=self.where(path))
        return value

    @property
    def name(self) -> str:
        return str(self.need(("metadata", "name"), (str, int), "a name"))


def read_manifests(paths: list[Path], api: str = "kueue.x-k8s.io/") -> list[ManifestDoc]:
    """Every object of API group ``api`` in the files, in order. Raises
    :class:`InputError`."""
    docs: list[ManifestDoc] = []
    for file in paths:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read manifest: {exc.strerror}",
                             where=str(file)) from None
        for chunk, offset in _documents(text):
            # blank lines in front keep YAML's own line numbers those of the file
            data, lines = parse_yaml_with_lines("\n" * offset + chunk, str(file))
            if data is None:
                continue
            doc = ManifestDoc(data if isinstance(data, dict) else {}, lines, file)
            if not isinstance(data, dict) or "kind" not in data:
                raise InputError("expected a Kubernetes object (apiVersion, kind, metadata)",
                                 where=doc.where(()))
            if str(data.get("apiVersion", "")).startswith(api):
                _refuse_twice(doc, docs)
                docs.append(doc)
    return docs


def _refuse_twice(doc: ManifestDoc, docs: list[ManifestDoc]) -> None:
    """One object per kind and name, as in a Kubernetes namespace: a second would silently
    replace the first (its quota or weight counted once). Raises :class:`InputError`."""
    kind = doc.data["kind"]
    if not isinstance(doc.get(("metadata", "name")), str):
        return  # the reader of that kind reports the missing name
    for d in docs:
        if d.data["kind"] == kind and d.get(("metadata", "name")) == doc.name:
            raise InputError(f"{kind} {doc.name!r} is defined twice (first at "
                             f"{d.where(('metadata', 'name'))})",
                             where=doc.where(("metadata", "name")))


def _documents(text: str) -> list[tuple[str, int]]:
    """``(document text, line offset)`` per ``---``-separated document."""
    out: list[tuple[str, int]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines()):
        if _SEPARATOR.match(line):
            out.append(("\n".join(current), start))
            current, start = [], number + 1
        else:
            current.append(line)
    out.append(("\n".join(current), start))
    return out


def tenancy_from_kueue(section: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    """The ``tenancy:`` mapping built from ``section`` (see the module doc); ``base``: the
    scenario's folder, ``where``: the scenario line of the section."""
    paths = manifest_paths(section, {"manifests", "flavors", "local_queue_priority",
                                     "default_priority_class"}, base, where, "kueue")
    docs = read_manifests(paths)
    by_kind: dict[str, list[ManifestDoc]] = {}
    for d in docs:
        by_kind.setdefault(str(d.data["kind"]), []).append(d)
    flavors = {d.name: d.name for d in by_kind.get("ResourceFlavor", [])}
    flavors.update({str(k): str(v) for k, v in (section.get("flavors") or {}).items()})
    cqs = {d.name: _cluster_queue(d) for d in by_kind.get("ClusterQueue", [])}
    if not cqs:
        raise InputError("tenancy.kueue: the manifests define no ClusterQueue", where=where)
    prio = {str(k): str(v) for k, v in (section.get("local_queue_priority") or {}).items()}
    lqs = {d.name: {"cluster_queue": str(d.need(("spec", "clusterQueue"), str,
                                                 "a ClusterQueue name")),
                    "priority_class": prio.get(d.name)}
           for d in by_kind.get("LocalQueue", [])}
    classes = {d.name: d.need(("value",), int, "an integer priority")
               for d in by_kind.get("WorkloadPriorityClass", [])}
    out: dict[str, Any] = {"flavors": flavors, "priority_classes": classes,
                           "cluster_queues": cqs, "local_queues": lqs or None}
    if section.get("default_priority_class") is not None:
        out["default_priority_class"] = str(section["default_priority_class"])
    return out


def manifest_paths(section: dict[str, Any], allowed: set[str], base: Path, where: str,
                   name: str) -> list[Path]:
    """The section's checked ``manifests`` (relative to ``base``). Raises InputError."""
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise InputError(f"tenancy.{name}: unknown field(s) {', '.join(unknown)}; expected "
                         f"{', '.join(sorted(allowed))}", where=where)
    files = section.get("manifests")
    if not isinstance(files, list) or not files:
        raise InputError(f"tenancy.{name}.manifests: give a list of manifest files",
                         where=where)
    paths = [p if p.is_absolute() else base / p for p in (Path(str(f)) for f in files)]
    for p in paths:
        if not p.is_file():
            raise InputError(f"tenancy.{name}.manifests: file not found: {p}", where=where)
    return paths


def _cluster_queue(d: ManifestDoc) -> dict[str, Any]:
    spec = ("spec",)
    cohort = d.get((*spec, "cohort"), d.get((*spec, "cohortName")))
    strategy = _choice(d, (*spec, "queueingStrategy"), QueueingStrategy, "BestEffortFIFO")
    quotas: dict[str, dict[str, float | None]] = {}
    groups = d.get((*spec, "resourceGroups"), [])
    for gi, _group in enumerate(groups if isinstance(groups, list) else []):
        flavors = d.need((*spec, "resourceGroups", gi, "flavors"), list, "a list of flavours")
        for fi in range(len(flavors)):
            fpath = (*spec, "resourceGroups", gi, "flavors", fi)
            fname = str(d.need((*fpath, "name"), str, "a ResourceFlavor name"))
            resources = d.need((*fpath, "resources"), list, "a list of resources")
            for ri, res in enumerate(resources):
                if isinstance(res, dict) and res.get("name") == GPU_RESOURCE:
                    quotas[fname] = _gpu_quota(d, (*fpath, "resources", ri))
    if not quotas:
        raise InputError(f"ClusterQueue {d.name}: no {GPU_RESOURCE} quota in "
                         "spec.resourceGroups", where=d.where((*spec, "resourceGroups")))
    pre = (*spec, "preemption")
    return {
        "cohort": None if cohort is None else str(cohort),
        "queueing_strategy": strategy, "quotas": quotas,
        "preemption": {
            "within_cluster_queue": _choice(d, (*pre, "withinClusterQueue"), WithinPolicy,
                                            "Never"),
            "reclaim_within_cohort": _choice(d, (*pre, "reclaimWithinCohort"), ReclaimPolicy,
                                             "Never"),
            "borrow_within_cohort": {
                "policy": _choice(d, (*pre, "borrowWithinCohort", "policy"), BorrowPolicy,
                                  "Never"),
                "max_priority_threshold": d.get((*pre, "borrowWithinCohort",
                                                 "maxPriorityThreshold")),
            },
        },
    }


def _gpu_quota(d: ManifestDoc, path: KeyPath) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, field in (("nominalQuota", "nominal"), ("borrowingLimit", "borrowing_limit"),
                       ("lendingLimit", "lending_limit")):
        raw = d.get((*path, key))
        if raw is None:
            if key == "nominalQuota":
                raise InputError(f"ClusterQueue {d.name}: nominalQuota missing",
                                 where=d.where(path))
            out[field] = None
            continue
        out[field] = quantity(raw, d.where((*path, key)), key)
    return out


def quantity(raw: Any, where: str, field: str) -> float:
    """A Kubernetes quantity of GPUs: ``8``, ``"8"``, ``"500m"``. Raises InputError."""
    text = str(raw).strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(m?)", text)
    if isinstance(raw, bool) or match is None:
        raise InputError(f"{field}: expected a GPU count such as 8 or \"500m\", got {raw!r}",
                         where=where)
    value = float(match.group(1))
    return value / 1000.0 if match.group(2) == "m" else value


def _choice(d: ManifestDoc, path: KeyPath, kind: Any, default: str) -> str:
    value = d.get(path, default)
    options = get_args(kind)
    if value not in options:
        name = ".".join(str(p) for p in path)
        raise InputError(f"{d.data['kind']} {d.name}: {name}: expected one of "
                         f"{', '.join(options)}, got {value!r}", where=d.where(path))
    return str(value)
