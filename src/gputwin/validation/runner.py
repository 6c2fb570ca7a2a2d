"""Run validation cases against the performance models and summarise the errors.

Cases live in ``validation/cases/*.yaml`` (one file per area). Each kind maps to an
evaluator: a function taking the case's ``inputs`` as keyword arguments and returning an
object with ``to_dict()``; the case's ``metric`` is read from that dict.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from gputwin.errors import GputwinError, InputError
from gputwin.validation.schema import ValidationCase
from gputwin.yaml_io import load_yaml_with_lines, validation_error_to_input_error

CASES_DIR = Path(__file__).parent / "cases"


class _HasToDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


Evaluator = Callable[..., _HasToDict]


def _evaluate_training(**inputs: Any) -> _HasToDict:
    from gputwin.requests import TrainRequest
    from gputwin.run.estimate_train import estimate_train

    fields = dict(inputs)
    check_memory = bool(fields.pop("check_memory", True))  # cases that offload to the host
    return estimate_train(TrainRequest.from_flat(fields), check_memory=check_memory)


def _evaluate_collective(**inputs: Any) -> _HasToDict:
    from gputwin.requests import CollectiveRequest, validated
    from gputwin.run.estimate_collective import estimate_collective

    return estimate_collective(validated(CollectiveRequest, inputs))


def _evaluate_serving(**inputs: Any) -> _HasToDict:
    from gputwin.requests import ServeRequest, validated
    from gputwin.run.estimate_serve import estimate_serve  # type: ignore[import-not-found,unused-ignore]

    result: _HasToDict = estimate_serve(validated(ServeRequest, inputs))
    return result


def _evaluate_serving_sim(**inputs: Any) -> _HasToDict:
    from gputwin.run.validate_serve import simulate_case

    return simulate_case(**inputs)


def _evaluate_energy(**inputs: Any) -> _HasToDict:
    from gputwin.requests import EnergyRequest
    from gputwin.run.estimate_energy import estimate_energy  # type: ignore[import-not-found,unused-ignore]

    result: _HasToDict = estimate_energy(EnergyRequest.from_flat(inputs))
    return result


@dataclass(frozen=True, slots=True)
class _Payload:
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


def _evaluate_reliability(**inputs: Any) -> _HasToDict:
    """``estimate train --failures``: a training request plus ``duration`` (e.g. 54d),
    optional ``async_checkpoint``, ``fault_rate_scale`` and ``checkpoint_bytes_per_param``;
    ``checkpoint_interval_s`` set means that interval is used (else Young/Daly)."""
    from gputwin.requests import TrainRequest
    from gputwin.run.estimate_goodput import FailureOptions, estimate_failures
    from gputwin.run.estimate_train import estimate_train
    from gputwin.units import parse_duration

    fields = dict(inputs)
    duration = fields.pop("duration", None)
    options = FailureOptions(
        duration_s=None if duration is None else parse_duration(duration),
        async_checkpoint=bool(fields.pop("async_checkpoint", False)),
        rate_scale=float(fields.pop("fault_rate_scale", 1.0)),
        checkpoint_bytes_per_param=float(fields.pop("checkpoint_bytes_per_param", 14.0)),
        interval_given="checkpoint_interval_s" in fields)
    request = TrainRequest.from_flat(fields)
    est = estimate_train(request, check_memory=False)
    return _Payload(estimate_failures(request, est, options))


def _evaluate_rag(**inputs: Any) -> _HasToDict:
    from gputwin.requests import validated
    from gputwin.run.estimate_rag import RagRequest, estimate_rag

    return estimate_rag(validated(RagRequest, inputs))


def _evaluate_vector_index(**inputs: Any) -> _HasToDict:
    """An index (``IndexSpec`` fields) and ``top_k``: recall, bytes per vector, total
    bytes and the CPU query time of one thread (GPU kinds: ``gpu`` names the part)."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.vector_index import (
        IndexSpec,
        bytes_per_vector,
        index_memory_bytes,
        recall,
        search_time_s,
    )

    fields = dict(inputs)
    top_k = int(fields.pop("top_k", 1))
    gpu = fields.pop("gpu", None)
    spec = IndexSpec(**fields)
    acc = default_catalog().accelerator(gpu) if gpu else None
    return _Payload({"recall": recall(spec, top_k), "bytes_per_vector": bytes_per_vector(spec),
                     "index_bytes": index_memory_bytes(spec),
                     "search_time_s": search_time_s(spec, top_k, acc=acc)})
def _evaluate_optics(**inputs: Any) -> _HasToDict:
    """``estimate optics``: the row of ``fabric`` (default ocs-torus), plus
    ``transceivers_per_chip``, ``twisted_speedup`` and the module's ``transceiver_w`` and
    ``transceiver_pj_per_bit``; with ``num_gpus``, ``estimate fat-tree-optics`` instead
    (``fat_tree_optics`` fields plus ``modules_per_gpu``, ``optics_w_per_gpu`` and
    ``cpo_saving_w_per_switch``, what co-packaged switches save per switch)."""
    import dataclasses

    from gputwin.run.estimate_optics import estimate_optics
    from gputwin.topology.fat_tree_optics import fat_tree_optics

    fields = dict(inputs)
    if "num_gpus" in fields:
        ft = fat_tree_optics(fields.pop("num_gpus"), **fields)
        cpo = fat_tree_optics(ft.num_gpus, **fields | {"cpo_switches": True})
        return _Payload(dataclasses.asdict(ft) | {
            "modules_per_gpu": ft.modules_per_gpu, "optics_w_per_gpu": ft.optics_w_per_gpu,
            "cpo_saving_w_per_switch": (ft.optics_power_w - cpo.optics_power_w)
            / ft.num_switches})
    name = fields.pop("fabric", "ocs-torus")
    out = estimate_optics(**fields)
    row = next(f for f in out["fabrics"] if f["fabric"] == name)
    return _Payload(row | {"transceivers_per_chip": row["transceivers"] / out["num_chips"],
                           "twisted_speedup": out["twisted_speedup"],
                           "transceiver_w": out["transceiver_w"],
                           "transceiver_pj_per_bit": out["transceiver_pj_per_bit"]})


def _evaluate_generation(**inputs: Any) -> _HasToDict:
    """``estimate video``: one sample of a diffusion transformer on ``gpu``."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.diffusion import estimate_generation_on
    from gputwin.topology.hardware import resolve_hardware

    fields = dict(inputs)
    hw = resolve_hardware(default_catalog(), gpu=fields.pop("gpu", "h100-sxm-80gb"))
    return estimate_generation_on(hw, fields.pop("model"), **fields)


def _evaluate_dataflow(**inputs: Any) -> _HasToDict:
    """``estimate dataflow``: a model on an SRAM-resident part (``gpu``) under a stack."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.perf.dataflow import estimate_dataflow

    fields = dict(inputs)
    cat = default_catalog()
    return estimate_dataflow(cat.accelerator(fields.pop("gpu")), cat.model(fields.pop("model")),
                             **fields)


def _evaluate_supply(**inputs: Any) -> _HasToDict:
    """``economics supply``: a year of a site's power (``load_mw``, ``region``, ``ppa`` and
    ``onsite`` lists of ``TECH:MW[:USD_PER_MWH]``, ``battery_mwh``/``battery_mw``); ratios
    a year cannot give (no battery, no PPA) are left out, so a case on them says so."""
    from gputwin.run.estimate_supply import estimate_supply

    out = estimate_supply(**inputs)
    return _Payload({k: v for k, v in out.items() if isinstance(v, (int, float))})


def _evaluate_tco(**inputs: Any) -> _HasToDict:
    """``economics owned``: one owned ``gpu`` under :class:`OwnedAssumptions` fields (e.g.
    ``cooling``); ``facility_usd_per_mw`` is the facility capex per MW of critical IT."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.energy.tco import OwnedAssumptions, owned_cost
    from gputwin.topology.hardware import resolve_hardware

    fields = dict(inputs)
    hw = resolve_hardware(default_catalog(), gpu=fields.pop("gpu", "h100-sxm-80gb"))
    return owned_cost(hw.accelerator, hw.system, OwnedAssumptions(**fields))


def _evaluate_kernel(**inputs: Any) -> _HasToDict:
    """One GEMM or fused-attention pass at the models' per-kernel rate
    (:func:`gputwin.perf.kernel.kernel_estimate`: ``op``, ``part``, ``dtype`` and the shape)."""
    from gputwin.perf.kernel import kernel_estimate

    return kernel_estimate(**inputs)


EVALUATORS: dict[str, Evaluator] = {
    "kernel": _evaluate_kernel,
    "dataflow": _evaluate_dataflow,
    "optics": _evaluate_optics,
    "generation": _evaluate_generation,
    "training": _evaluate_training,
    "collective": _evaluate_collective,
    "serving": _evaluate_serving,
    "serving_sim": _evaluate_serving_sim,
    "energy": _evaluate_energy,
    "reliability": _evaluate_reliability,
    "rag": _evaluate_rag,
    "vector_index": _evaluate_vector_index,
    "supply": _evaluate_supply,
    "tco": _evaluate_tco,
}


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: ValidationCase
    predicted: float | None
    error: str = ""  # set when the model could not evaluate the case

    @property
    def rel_error(self) -> float | None:
        """Signed relative error (predicted − published) / published."""
        if self.predicted is None:
            return None
        return (self.predicted - self.case.published) / self.case.published

    @property
    def within(self) -> bool:
        """The prediction is inside the case's tolerance."""
        err = self.rel_error
        return err is not None and abs(err) <= self.case.tolerance_frac

    @property
    def is_known_gap(self) -> bool:
        """Outside its tolerance, but documented as a known gap of the model."""
        return self.predicted is not None and not self.within and bool(self.case.known_gap)

    @property
    def passed(self) -> bool:
        """Within tolerance, or a documented known gap (not a failure of the suite)."""
        return self.within or self.is_known_gap


def load_cases(paths: Iterable[Path] | None = None) -> list[ValidationCase]:
    """Read cases from YAML files (default: every bundled suite). Ids must be unique."""
    files = sorted(CASES_DIR.glob("*.yaml")) if paths is None else list(paths)
    cases: list[ValidationCase] = []
    seen: dict[str, str] = {}
    for path in files:
        data, lines = load_yaml_with_lines(path)
        if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
            raise InputError("expected a mapping with a list under `cases`", where=str(path))
        for index, raw in enumerate(data["cases"]):
            try:
                case = ValidationCase.model_validate(raw)
            except ValidationError as exc:
                raise validation_error_to_input_error(
                    exc, str(path), lines, prefix=("cases", index)
                ) from None
            if case.id in seen:
                raise InputError(f"duplicate case id {case.id!r} (also in {seen[case.id]})",
                                 where=str(path))
            seen[case.id] = str(path)
            cases.append(case)
    return cases


def run_case(case: ValidationCase) -> CaseResult:
    """Evaluate one case; model errors are recorded on the result, not raised."""
    try:
        payload = EVALUATORS[case.kind](**case.inputs).to_dict()
    except GputwinError as exc:
        return CaseResult(case, None, error=str(exc))
    except TypeError as exc:  # inputs that do not match the evaluator's keywords
        return CaseResult(case, None, error=f"bad inputs: {exc}")
    value = metric_value(payload, case.metric)
    if value is None:
        return CaseResult(case, None, error=f"metric {case.metric!r} not in the estimate")
    return CaseResult(case, value)


def metric_value(payload: dict[str, Any], metric: str) -> float | None:
    """``metric`` read from ``payload``: a key, a dotted path into nested dicts
    (``by_cause.gpu``) or a sum of such terms (``by_cause.gpu+by_cause.hbm``); ``None``
    when a term is missing."""
    total = 0.0
    for term in metric.split("+"):
        node: Any = payload
        if term in payload:
            node = payload[term]
        else:
            for key in term.split("."):
                if not isinstance(node, dict) or key not in node:
                    return None
                node = node[key]
        if node is None or isinstance(node, dict):
            return None
        total += float(node)
    return total


def run_cases(cases: Sequence[ValidationCase]) -> list[CaseResult]:
    return [run_case(case) for case in cases]


@dataclass(frozen=True, slots=True)
class ErrorStats:
    count: int
    median_abs_error: float
    worst_abs_error: float
    worst_case: str


def error_stats(results: Sequence[CaseResult]) -> ErrorStats | None:
    """Median and worst absolute relative error over the results that evaluated."""
    scored = [(abs(r.rel_error), r.case.id) for r in results if r.rel_error is not None]
    if not scored:
        return None
    worst = max(scored)
    return ErrorStats(
        count=len(scored),
        median_abs_error=statistics.median(e for e, _ in scored),
        worst_abs_error=worst[0],
        worst_case=worst[1],
    )
