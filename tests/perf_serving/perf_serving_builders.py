"""Builders for the serving-model tests (imported by module name, like perf_builders)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gputwin.catalog.loader import default_catalog
from gputwin.perf.engines import ENGINES_PATH
from gputwin.perf.serving import ServingConfig, ServingPerf, prepare_serving
from gputwin.topology.hardware import resolve_hardware


def make_perf(model: str = "llama3.1-8b", gpu: str = "h100-sxm-80gb", **kw: Any) -> ServingPerf:
    cat = default_catalog()
    hw = resolve_hardware(cat, gpu=gpu)
    draft = kw.pop("draft_model", None)
    spec = cat.model(draft) if isinstance(draft, str) else None
    return prepare_serving(ServingConfig(cat.model(model), hw, draft_model=spec,
                                         **kw))


def write_engines_yaml(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    """The bundled engines.yaml, changed by ``mutate``, written to ``tmp_path``."""
    data = yaml.safe_load(ENGINES_PATH.read_text())
    mutate(data)
    path = tmp_path / "engines.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def components_total_s(perf: ServingPerf, components: dict[str, float]) -> float:
    """A step's seconds rebuilt from :func:`gputwin.perf.serving.step_components`: host
    time per step and per sequence, per-layer overhead, compute and memory units at their
    efficiencies, and the fixed part (what ``step_time_s`` must equal)."""
    cal = perf.calibration
    a = cal.for_accelerator(perf.config.hw.accelerator.name)
    step_oh, seq_oh = cal.host_overheads(perf.config.engine, perf.config.hw.accelerator.vendor)
    return (components["steps"] * step_oh + components["seqs"] * seq_oh
            + components["layers"] * cal.layer_overhead_s
            + components["compute_unit_s"] / a.compute_eff_mult
            + components["memory_unit_s"] / a.bandwidth_frac + components["fixed_s"])
