"""Serving scenarios: LLM services on GPU replicas and the requests they receive.

A serving scenario file has a top-level ``serving:`` section (see docs/serving-simulation.md)
and, optionally, the ``site:`` section of cluster scenarios (region, cooling, start date,
price book provider and pricing) for energy, carbon, water and cost::

    name: serve-default
    seed: 0
    site: {region: US-CAL-CISO, provider: neocloud, pricing: on-demand}
    serving:
      services:
        - name: chat
          model: llama3.1-8b
          gpu: h100-sxm-80gb
          replicas: 2
          slo: {ttft: 2s, tpot: 100ms}
      workload:
        - kind: synthetic
          num_requests: 2000
          arrival: {process: poisson, rate: 10}
          prompt: {dist: lognormal, mean: 1000, median: 600}
          output: {dist: lognormal, mean: 250, median: 150}

Human units are parsed here (``"2s"``, ``"100ms"``, ``"25GB/s"``); names are checked
against the catalog by :func:`load_serving_scenario` with ``file:line`` locations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from gputwin.catalog.loader import Catalog, default_catalog
from gputwin.catalog.schema import Accelerator, System
from gputwin.errors import InputError, UnknownNameError
from gputwin.input_model import InputModel
from gputwin.perf.split import Split, check_split
from gputwin.quantities import Seconds
from gputwin.scenario.generation import GenerationSection
from gputwin.scenario.overrides import (
    apply_overrides,
    error_key_path,
    key_paths,
    override_at,
    parse_override,
)
from gputwin.scenario.paths import CATALOG_FIELD_HELP, find_data_file, scenario_catalog
from gputwin.scenario.rag import check_rag_pipeline
from gputwin.scenario.serving_engine import PosInt
from gputwin.scenario.serving_failures import ServingFailuresConfig
from gputwin.scenario.serving_service import ServiceOptions
from gputwin.scenario.serving_workload import RagSource, Source, SyntheticSource, TraceSource
from gputwin.scenario.site import SiteConfig, cluster_hardware, rack_layout
from gputwin.scenario.sites import (
    PlacementOptions,
    RolloutOptions,
    RoutingOptions,
    SiteOptions,
    UserOptions,
    VariantOptions,
    no_sites_without_users,
)
from gputwin.serving.config import check_step_budget
from gputwin.topology.hardware import default_system_for
from gputwin.yaml_io import (
    KeyPath,
    format_key_path,
    load_yaml_with_lines,
    top_level_mapping,
    validation_error_to_input_error,
)


class ServingSection(InputModel):
    services: list[ServiceOptions] = Field(default_factory=list)
    workload: list[Source] = Field(default_factory=list)
    generation: GenerationSection | None = Field(default=None, description="Image/video "
                                                 "generation services (docs/economics.md)")
    max_total_gpus: PosInt | None = None
    sample_interval: Seconds | None = None
    failures: ServingFailuresConfig | None = Field(
        default=None, description="Replica faults: requests retried on other replicas, "
        "replacements after a restart (docs/reliability.md)")

    @model_validator(mode="before")
    @classmethod
    def _no_flat_price(cls, data: Any) -> Any:
        if isinstance(data, dict) and "gpu_cost_per_hour" in data:
            raise ValueError("gpu_cost_per_hour is gone: serving cost comes from the price "
                             "book; choose it with site.provider and site.pricing (gputwin "
                             "estimate energy --help lists them)")
        return data

    @model_validator(mode="after")
    def _names(self) -> ServingSection:
        if not self.services and self.generation is None:
            raise ValueError("no services: give services (LLM) or generation (diffusion)")
        if self.services and not self.workload:
            raise ValueError("services need a workload")
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique, got {names}")
        known = set(names) | {s.endpoint_name for s in self.services}
        unknown = sorted({w.service for w in self.workload} - known)
        if unknown:
            raise ValueError(f"workload names unknown service(s) {unknown}; services: {names}")
        endpoints = {s.endpoint for s in self.services if s.endpoint} & set(names)
        if endpoints:
            raise ValueError(f"endpoint name(s) {sorted(endpoints)} are also service names")
        return self


class ServingScenario(InputModel):
    """The root of a serving scenario file."""

    name: str = "serving"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    horizon: Seconds | None = Field(default=None, gt=0, description="None = until done")
    site: SiteConfig = Field(default_factory=SiteConfig, description="Region, cooling, "
                             "start date and price book provider/pricing of the energy, "
                             "carbon, water and cost accounting (as in cluster scenarios)")
    serving: ServingSection
    catalog: str | list[str] = Field(default_factory=list, description=CATALOG_FIELD_HELP)
    sites: list[SiteOptions] = Field(default_factory=list, description="Core regions and "
                                     "edge sites (docs/sites.md); empty = one site")
    users: list[UserOptions] = Field(default_factory=list, description="User populations "
                                     "(with sites)")
    routing: RoutingOptions = RoutingOptions()
    placement: PlacementOptions = PlacementOptions()
    rollout: RolloutOptions | None = Field(default=None, description="A model version "
                                           "rolled out to edge sites (with sites)")
    variants: list[VariantOptions] = Field(default_factory=list, description="Variants "
                                           "gputwin compare runs (simulate runs the file "
                                           "as written)")

    @model_validator(mode="before")
    @classmethod
    def _sites_and_users(cls, data: Any) -> Any:
        return no_sites_without_users(data)


def is_serving_file(path: Path) -> bool:
    """True when the YAML at ``path`` has a top-level ``serving:`` section and no
    ``cluster:`` (with one it is a shared-fleet cluster scenario)."""
    try:
        data, _ = load_yaml_with_lines(path)
    except InputError:
        return False
    return isinstance(data, dict) and "serving" in data and "cluster" not in data


def load_serving_scenario(path: str | Path, overrides: Sequence[str] = (), *,
                          catalog: Catalog | None = None) -> ServingScenario:
    """Read, override, validate and catalog-check a serving scenario (raises InputError).

    Relative trace paths are resolved beside the file, then in the data folder."""
    file = Path(path)
    raw, lines = load_yaml_with_lines(file)
    data = top_level_mapping(raw, str(file), "a mapping of scenario sections (serving:, ...)")
    parsed = [parse_override(t) for t in overrides]
    data = apply_overrides(data, parsed)
    try:
        sc = ServingScenario.model_validate(data)
    except ValidationError as exc:
        ov = override_at(error_key_path(exc, data), parsed, lines)
        if ov is not None:
            raise validation_error_to_input_error(exc, f"--set {ov.text}",
                                                  keys=key_paths(data)) from None
        raise validation_error_to_input_error(exc, str(file), lines) from None

    def where(key: KeyPath) -> str:
        probe = key
        while probe and probe not in lines:
            probe = probe[:-1]
        line = f"{file}:{lines[probe]}" if probe in lines else str(file)
        return f"{line}: {format_key_path(key)}"

    if sc.catalog and catalog is None:
        catalog = scenario_catalog(sc.catalog, file.parent, where(("catalog",)))
    check_serving(sc, catalog or default_catalog(), where)
    if sc.sites:
        from gputwin.scenario.sites_check import check_sites

        check_sites(sc, catalog or default_catalog(), where)
    return resolve_trace_paths(sc, file.parent, where)


def _check_engine_budget(s: ServiceOptions, base: KeyPath, where: Any,
                         catalog: Catalog) -> None:
    """The step's token budget (:func:`~gputwin.serving.config.check_step_budget`), named
    at the engine option given (the budget, else the batch size, else the speculative
    tokens). A profile's budget without chunked prefill is raised to the workload's
    longest prompt at run time (``run.serving_build.engine_config``), so it is checked
    then."""
    gpu = s.gpu if s.gpu is not None else (
        catalog.system(s.system).accelerator if s.system is not None else None)
    e = s.engine.resolved(s.dp_attention,
                          catalog.accelerator(gpu) if gpu is not None else None)
    if not e.budget_given and not e.enable_chunked_prefill:
        return
    k = s.speculative.num_tokens if s.speculative else 0
    if s.engine.max_num_batched_tokens is not None:
        key: KeyPath = (*base, "engine", "max_num_batched_tokens")
    elif s.engine.max_num_seqs is not None:
        key = (*base, "engine", "max_num_seqs")
    else:
        key = (*base, "speculative", "num_tokens")
    check_step_budget(e.max_num_batched_tokens, e.max_num_seqs, k, where=where(key))


def check_serving(sc: ServingScenario, catalog: Catalog, where: Any) -> None:
    """Raise :class:`UnknownNameError` for the first catalog name that does not exist."""

    def known(section: str, kind: str, name: str | None, key: KeyPath) -> None:
        if name is not None and name not in catalog.section(section):
            raise UnknownNameError(kind, name, list(catalog.section(section)), where=where(key))

    for i, s in enumerate(sc.serving.services):
        base: KeyPath = ("serving", "services", i)
        known("models", "model", s.model, (*base, "model"))
        known("accelerators", "GPU", s.gpu, (*base, "gpu"))
        known("systems", "system", s.system, (*base, "system"))
        if s.speculative is not None:
            known("models", "model", s.speculative.draft_model,
                  (*base, "speculative", "draft_model"))
        if s.autoscaler is not None:
            known("storage", "storage tier", s.autoscaler.storage,
                  (*base, "autoscaler", "storage"))
        pre = s.disaggregation.prefill_autoscaler if s.disaggregation else None
        if pre is not None:
            known("storage", "storage tier", pre.storage,
                  (*base, "disaggregation", "prefill_autoscaler", "storage"))
        _check_engine_budget(s, base, where, catalog)
        sys_, acc = cluster_hardware(catalog, s.system, s.gpu)
        if acc is None and s.gpu is not None:
            acc = catalog.accelerator(s.gpu)
        # the one split rule (perf.split), named at the service's own key
        check_split(catalog.models[s.model],
                    Split(tp=s.tp, pp=s.pp, ep=s.ep, dp_attention=s.dp_attention,
                          redundant_experts=s.redundant_experts), ep_over_dp=False,
                    padded_heads=acc is not None and acc.pads_attention_heads,
                    system=_service_system(catalog, s), where=_at_key(where, base))
        layout = s.disaggregation.prefill_layout if s.disaggregation else None
        if layout is not None:  # the prefill pool's own split, named at its own key
            p = layout.applied_to(s)
            check_split(catalog.models[s.model],
                        Split(tp=p.tp, pp=p.pp, ep=p.ep, dp_attention=p.dp_attention,
                              redundant_experts=p.redundant_experts), ep_over_dp=False,
                        padded_heads=acc is not None and acc.pads_attention_heads,
                        system=_service_system(catalog, p),
                        where=_at_key(where, (*base, "disaggregation", "prefill_layout")))
        if sys_ is not None and acc is not None:
            check_serving_site(sc.site, [(acc, sys_)], where)
    if sc.serving.failures is not None:
        known("storage", "storage tier", sc.serving.failures.storage,
              ("serving", "failures", "storage"))
        if sc.serving.failures.site_outages and not sc.sites:
            raise InputError("site outages need a run across sites (`sites:` and `users:`)",
                             where=where(("serving", "failures", "site_outages")))
    for i, src in enumerate(sc.serving.workload):
        if isinstance(src, RagSource) and src.pipeline is not None:
            check_rag_pipeline(src.pipeline, catalog, where, ("serving", "workload", i, "pipeline"),
                               src.chunks_per_request)


def _service_system(catalog: Catalog, s: ServiceOptions) -> System | None:
    """The node type a service runs on, as the run resolves it (``None``: not resolvable
    here; the run then says why)."""
    if s.system is not None:
        return catalog.systems.get(s.system)
    if s.gpu is None:
        return None
    try:
        return default_system_for(catalog, s.gpu)
    except InputError:
        return None


def _at_key(where: Any, base: KeyPath) -> Callable[[str], str]:
    """A :data:`gputwin.perf.split.Where` naming ``param`` under the key ``base``."""
    return lambda param: str(where((*base, param)))


def check_serving_site(site: SiteConfig, hardware: Sequence[tuple[Accelerator, System]],
                       where: Any = None) -> None:
    """Refuse a site the services cannot run in (a liquid-cooled GB200 NVL72 tray in an
    air-cooled hall: ``site.cooling``) and cluster-only options (``site.power_budget``).
    ``where`` maps a key path to its location (file:line or flag). Raises InputError."""
    loc = where or (lambda key: ".".join(str(k) for k in key))
    if site.power_budget is not None:
        raise InputError("a site power budget is not modelled in serving runs",
                         where=loc(("site", "power_budget")))
    for acc, system in hardware:
        try:
            rack_layout(site, acc, system)
        except InputError as exc:
            key = tuple((exc.where or "site").split("."))
            raise InputError(exc.detail, where=loc(key)) from None


def resolve_trace_paths(sc: ServingScenario, base: Path, where: Any) -> ServingScenario:
    sources: list[Any] = []
    for i, src in enumerate(sc.serving.workload):
        if isinstance(src, TraceSource):
            found = find_data_file(src.path, base, where(("serving", "workload", i, "path")))
            src = src.model_copy(update={"path": str(found)})
        elif isinstance(src, SyntheticSource) and src.lengths is not None:
            key = ("serving", "workload", i, "lengths", "path")
            found = find_data_file(src.lengths.path, base, where(key))
            src = src.model_copy(update={
                "lengths": src.lengths.model_copy(update={"path": str(found)})})
        sources.append(src)
    section = sc.serving.model_copy(update={"workload": sources})
    return sc.model_copy(update={"serving": section})
