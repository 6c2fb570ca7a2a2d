"""Load a scenario file: YAML → ``--set`` overrides → schema → catalog cross-check.

Every problem becomes one :class:`InputError` line naming where it came from, e.g.
``scenario.yaml:12: cluster.num_nodes: Input should be greater than 0 (got -4)`` or
``--set cluster.num_nodes=-4: cluster.num_nodes: ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.errors import InputError
from gputwin.scenario.check import check_against_catalog
from gputwin.scenario.kueue import tenancy_from_kueue
from gputwin.scenario.overrides import (
    apply_overrides,
    error_key_path,
    key_paths,
    override_at,
    parse_override,
)
from gputwin.scenario.paths import (
    DEFAULT_SCENARIO,
    SCENARIOS_DIR,
    bundled_scenarios,
    find_data_file,
    scenario_catalog,
)
from gputwin.scenario.scheduler import scheduler_profile
from gputwin.scenario.schema import Scenario
from gputwin.scenario.shared_fleet import check_shared_serving, resolve_shared_traces
from gputwin.scenario.site import check_site
from gputwin.scenario.slurm import scheduler_from_slurm
from gputwin.scenario.volcano import tenancy_from_volcano
from gputwin.topology.hardware import default_system_for
from gputwin.yaml_io import (
    KeyPath,
    load_yaml_with_lines,
    top_level_mapping,
    validation_error_to_input_error,
)


def resolve_scenario_path(path: str | Path | None) -> Path:
    """``None`` → the bundled default; a bundled name (``philly-sample``) → its file."""
    if path is None:
        return DEFAULT_SCENARIO
    if not str(path).strip():  # Path("") is the current folder: say what was missing
        raise InputError("expected a scenario file or a bundled name (`gputwin scenario "
                         "list`), got an empty one", where="SCENARIO")
    candidate = Path(path)
    if not candidate.exists() and str(path) in bundled_scenarios():
        return SCENARIOS_DIR / f"{path}.yaml"
    return candidate


def load_scenario(
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    *,
    catalog: Catalog | None = None,
) -> Scenario:
    """Read, override, validate and cross-check a scenario. Raises :class:`InputError`."""
    file = resolve_scenario_path(path)
    raw, lines = load_yaml_with_lines(file)
    data = top_level_mapping(raw, str(file),
                             "a mapping of scenario sections (cluster:, workload:, ...)")
    if "serving" in data and "cluster" not in data:
        raise InputError(
            "this is a serving scenario (top-level `serving:`): load it with "
            "gputwin.api.load_serving_scenario, or run it with `gputwin simulate`",
            where=f"{file}:{lines.get(('serving',), 1)}")
    parsed = [parse_override(text) for text in overrides]
    data = _expand_kueue(apply_overrides(data, parsed), file, lines)
    data = _expand_slurm(data, file, lines)
    data = _expand_volcano(data, file, lines, catalog or default_catalog())

    def locate(key_path: KeyPath) -> str:
        ov = override_at(key_path, parsed)
        if ov is not None:
            return f"--set {ov.text}"
        probe = key_path
        while probe and probe not in lines:
            probe = probe[:-1]
        return f"{file}:{lines[probe]}" if probe in lines else str(file)

    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        ov = override_at(error_key_path(exc, data), parsed, lines)
        if ov is not None:
            raise validation_error_to_input_error(exc, f"--set {ov.text}",
                                                  keys=key_paths(data)) from None
        raise validation_error_to_input_error(exc, str(file), lines) from None
    if scenario.catalog and catalog is None:
        catalog = scenario_catalog(scenario.catalog, file.parent, locate(("catalog",)))
    check_against_catalog(scenario, catalog or default_catalog(), locate)
    scheduler_profile(scenario.scheduler, locate, torus=scenario.cluster.optics is not None)
    check_site(scenario.site, catalog or default_catalog(), scenario.cluster.system,
               scenario.cluster.gpu, locate)
    check_shared_serving(scenario, catalog or default_catalog(), locate)  # `serving:`
    scenario = resolve_shared_traces(scenario, file.parent, locate)
    return _resolve_trace_path(scenario, file.parent, locate)


def _expand_kueue(data: dict[str, Any], file: Path,
                  lines: dict[KeyPath, int]) -> dict[str, Any]:
    """``tenancy.kueue`` (real Kueue manifests, scenario/kueue.py) → tenancy fields; the
    scenario's own tenancy fields win."""
    tenancy = data.get("tenancy")
    if not isinstance(tenancy, dict) or "kueue" not in tenancy:
        return data
    where = f"{file}:{lines.get(('tenancy', 'kueue'), 1)}"
    section = tenancy["kueue"]
    if not isinstance(section, dict):
        raise InputError("tenancy.kueue: expected a mapping with `manifests`", where=where)
    derived = tenancy_from_kueue(section, file.parent, where)
    merged = {**derived, **{k: v for k, v in tenancy.items() if k != "kueue"}}
    return {**data, "tenancy": merged}


def _expand_slurm(data: dict[str, Any], file: Path,
                  lines: dict[KeyPath, int]) -> dict[str, Any]:
    """``scheduler.slurm`` (a real slurm.conf, scenario/slurm.py) → scheduler fields (the
    scenario's own win) and, when absent, ``cluster.num_nodes``."""
    scheduler = data.get("scheduler")
    if not isinstance(scheduler, dict) or "slurm" not in scheduler:
        return data
    where = f"{file}:{lines.get(('scheduler', 'slurm'), 1)}"
    section = scheduler["slurm"]
    if not isinstance(section, dict):
        raise InputError("scheduler.slurm: expected a mapping with `conf`", where=where)
    derived, num_nodes = scheduler_from_slurm(section, file.parent, where)
    merged = {**derived, **{k: v for k, v in scheduler.items() if k != "slurm"}}
    out = {**data, "scheduler": merged}
    cluster = data.get("cluster")
    if isinstance(cluster, dict) and "num_nodes" not in cluster and not cluster.get(
            "from_trace") and not cluster.get("node_groups"):
        if num_nodes is None:  # else: "cluster: give `num_nodes`", far from the cause
            raise InputError(f"{section.get('conf')}: its partition lists no GPU node "
                             "(NodeName=... Gres=gpu:N); give cluster.num_nodes", where=where)
        out["cluster"] = {**cluster, "num_nodes": num_nodes}
    return out


def _expand_volcano(data: dict[str, Any], file: Path, lines: dict[KeyPath, int],
                    catalog: Catalog) -> dict[str, Any]:
    """``tenancy.volcano`` (real Volcano Queue manifests, scenario/volcano.py) → tenancy
    fields; needs the cluster's size and GPU type (queue weights are shares of it)."""
    tenancy = data.get("tenancy")
    if not isinstance(tenancy, dict) or "volcano" not in tenancy:
        return data
    where = f"{file}:{lines.get(('tenancy', 'volcano'), 1)}"
    section, cluster = tenancy["volcano"], data.get("cluster")
    if not isinstance(section, dict):
        raise InputError("tenancy.volcano: expected a mapping with `manifests`", where=where)
    try:
        assert isinstance(cluster, dict) and isinstance(cluster.get("num_nodes"), int)
        system = (catalog.system(cluster["system"]) if cluster.get("system")
                  else default_system_for(catalog, cluster["gpu"]))
    except (AssertionError, KeyError, InputError):
        raise InputError("tenancy.volcano: needs cluster.num_nodes and a known cluster."
                         "system (or gpu): queue weights are shares of the cluster",
                         where=where) from None
    gpus = float(cluster["num_nodes"] * system.num_accelerators)
    derived = tenancy_from_volcano(section, file.parent, where, gpus, system.accelerator)
    merged = {**derived, **{k: v for k, v in tenancy.items() if k != "volcano"}}
    return {**data, "tenancy": merged}


def _resolve_trace_path(
    scenario: Scenario, base: Path, locate: Callable[[KeyPath], str]
) -> Scenario:
    trace = scenario.workload.trace
    if trace is None:
        return scenario
    try:
        found = find_data_file(trace.path, base, locate(("workload", "trace", "path")))
    except InputError as exc:
        raise InputError(f"workload.trace.path: {exc.detail}", where=exc.where) from None
    new_trace = trace.model_copy(update={"path": str(found)})
    new_workload = scenario.workload.model_copy(update={"trace": new_trace})
    return scenario.model_copy(update={"workload": new_workload})
