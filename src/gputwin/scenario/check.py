"""Cross-check a validated scenario against the catalog (names exist, pieces agree).

Errors name the field and where it came from (``file:line`` or the ``--set`` option):
``scenario.yaml:5: cluster.system: unknown system 'dgx-h10'; did you mean 'dgx-h100'?``
"""

from __future__ import annotations

from collections.abc import Callable

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError, UnknownNameError
from gputwin.limits import MAX_GPUS, check_at_most
from gputwin.perf.split import Split, Where, check_split
from gputwin.perf.training_layout import check_layout
from gputwin.scenario.schema import Scenario, TemplateConfig
from gputwin.topology.hardware import default_system_for
from gputwin.topology.optical import hosts_per_block, torus_optics
from gputwin.yaml_io import KeyPath, format_key_path

#: Turns a key path into "file:line" or "--set ..." (the place a value came from).
Locator = Callable[[KeyPath], str]


def check_against_catalog(scenario: Scenario, catalog: Catalog, locate: Locator) -> None:
    """Raise :class:`UnknownNameError`/:class:`InputError` for the first bad name."""
    cluster = scenario.cluster

    def where(path: KeyPath) -> str:
        return f"{locate(path)}: {format_key_path(path)}"

    def known(section: str, kind: str, name: str | None, path: KeyPath) -> None:
        if name is not None and name not in catalog.section(section):
            raise UnknownNameError(kind, name, list(catalog.section(section)), where=where(path))

    groups: list[tuple[str | None, str | None, KeyPath]] = [
        (g.system, g.gpu, ("cluster", "node_groups", i))
        for i, g in enumerate(cluster.node_groups or [])]
    for system, gpu, base in groups or [(cluster.system, cluster.gpu, ("cluster",))]:
        _check_system(catalog, system, gpu, base, known, where)
    types = {_accelerator_of(catalog, s, g) for s, g, _ in groups}
    _check_total_gpus(scenario, catalog, where)
    known("storage", "storage tier", cluster.storage, ("cluster", "storage"))
    known("fabrics", "fabric", cluster.scale_out_fabric, ("cluster", "scale_out_fabric"))
    if cluster.scale_out_fabric is not None:
        fabric = catalog.fabrics[cluster.scale_out_fabric]
        if fabric.kind != "scale_out":
            raise InputError(f"fabric {fabric.name!r} is a {fabric.kind} fabric, not scale-out",
                             where=where(("cluster", "scale_out_fabric")))
    if cluster.optics is not None:
        _check_optics(scenario, catalog, where)
    synthetic = scenario.workload.synthetic
    if synthetic is not None:
        for index, template in enumerate(synthetic.templates):
            path: KeyPath = ("workload", "synthetic", "templates", index)
            known("models", "model", template.model, (*path, "model"))
            if template.gpu is not None:
                _check_template_gpu(template.gpu, types, where((*path, "gpu")))
            if template.mig_profile is not None:
                _check_mig_profile(template.mig_profile,
                                   types or {_accelerator_of(catalog, cluster.system,
                                                             cluster.gpu)},
                                   where((*path, "mig_profile")))
            _check_template_split(template, catalog.models[template.model],
                                  _under(path, where))
    trace = scenario.workload.trace
    if trace is not None:
        known("models", "model", trace.model, ("workload", "trace", "model"))


def _check_total_gpus(scenario: Scenario, catalog: Catalog,
                      where: Callable[[KeyPath], str]) -> None:
    """The cluster's GPUs (nodes x the system's GPUs, over every node group) within the GPU
    limit: ``num_nodes`` alone is bounded by it, so 999,999 DGX nodes (8 M GPUs, e.g. from
    a slurm.conf host list) passed."""
    cluster = scenario.cluster

    def per_node(system: str | None, gpu: str | None) -> int:
        spec = (catalog.systems[system] if system is not None
                else default_system_for(catalog, gpu or ""))
        return spec.num_accelerators

    parts = [(g.num_nodes, per_node(g.system, g.gpu)) for g in cluster.node_groups or []]
    if not parts and cluster.num_nodes is not None:
        parts = [(cluster.num_nodes, per_node(cluster.system, cluster.gpu))]
    check_at_most(sum(n * k for n, k in parts), MAX_GPUS, where(("cluster", "num_nodes")))


def _check_optics(scenario: Scenario, catalog: Catalog,
                  where: Callable[[KeyPath], str]) -> None:
    """``cluster.optics``: one 3D-torus system whose nodes tile whole blocks."""
    cluster = scenario.cluster
    assert cluster.optics is not None
    path: KeyPath = ("cluster", "optics")
    if cluster.node_groups or cluster.from_trace:
        raise InputError("optics: give one torus system (no node_groups / from_trace)",
                         where=where(path))
    system = (catalog.systems[cluster.system] if cluster.system is not None
              else default_system_for(catalog, cluster.gpu or ""))
    try:
        per_block = hosts_per_block(system.scale_up_topology, system.num_accelerators)
        torus_optics(1, 1.0, cluster.optics.transceiver, ocs=False)
    except InputError as exc:
        raise InputError(exc.detail, where=where(path)) from None
    nodes = cluster.num_nodes or 0
    if nodes % per_block:
        raise InputError(f"a torus cluster is whole blocks of {per_block} {system.name} "
                         f"nodes; got {nodes}", where=where(("cluster", "num_nodes")))


def _check_template_split(template: TemplateConfig, model: ModelSpec, where: Where) -> None:
    """The one split check (perf.split) for every GPU count a template may draw, and the
    layout checks (perf.training_layout) of a DualPipe schedule, an A2A overlap or the
    memory-saving knobs (recomputed modules or layers, activation offload)."""
    split = Split(tp=template.tp, pp=template.pp, cp=template.cp, ep=template.ep,
                  interleave=template.interleave)
    for num_gpus in template.num_gpus_choices:
        check_split(model, split, seq_len=template.seq_len, num_gpus=num_gpus, where=where)
    layout_rules = (template.pipeline_schedule != "1f1b" or template.moe_a2a_overlap
                 or template.offload_activation_layers > 0
                 or template.offload_modules is not None
                 or template.recompute_modules is not None
                 or template.recompute_num_layers is not None)
    if not layout_rules or template.global_batch_size is None or not template.layout_given:
        return
    parallel, training = template.layout(template.seq_len or model.training_seq_len)
    for num_gpus in template.num_gpus_choices:
        try:
            check_layout(model, num_gpus, parallel, training)
        except InputError as exc:
            key = exc.detail.split(" ", 1)[0]
            raise InputError(exc.detail, where=where(
                key if key in TemplateConfig.model_fields else "pipeline_schedule")) from None


def _under(prefix: KeyPath, where: Callable[[KeyPath], str]) -> Where:
    """A :data:`Where` naming the keys of one mapping (``prefix``) in the scenario file."""
    return lambda param: where((*prefix, param))


def _check_system(catalog: Catalog, system: str | None, gpu: str | None, base: KeyPath,
                  known: Callable[[str, str, str | None, KeyPath], None],
                  where: Callable[[KeyPath], str]) -> None:
    """One ``system``/``gpu`` pair (the cluster's, or a node group's) against the catalog."""
    known("systems", "system", system, (*base, "system"))
    known("accelerators", "GPU", gpu, (*base, "gpu"))
    if system is not None and gpu is not None:
        built_from = catalog.systems[system].accelerator
        if built_from != gpu:
            raise InputError(f"system {system!r} is built from {built_from!r}, not {gpu!r}",
                             where=where((*base, "gpu")))
    if system is None and gpu is not None and not any(
        s.accelerator == gpu for s in catalog.systems.values()
    ):
        raise InputError(f"no catalog system is built from {gpu!r}; name a `system`",
                         where=where((*base, "gpu")))


def _accelerator_of(catalog: Catalog, system: str | None, gpu: str | None) -> str:
    if gpu is not None:
        return gpu
    assert system is not None
    return catalog.systems[system].accelerator


def _check_template_gpu(value: str, types: set[str], where: str) -> None:
    """A template's ``gpu`` names GPU types of the cluster's node groups."""
    wanted = [t.strip() for t in value.split("|") if t.strip()]
    if not types:
        raise InputError("a template's `gpu` chooses among node groups; this cluster has one "
                         "GPU type (use cluster.node_groups for a mixed fleet)", where=where)
    for t in wanted:
        if t not in types:
            raise UnknownNameError("GPU type of the cluster", t, sorted(types), where=where)


def _check_mig_profile(name: str, gpus: set[str], where: str) -> None:
    """A template's MIG profile exists on the cluster's GPU (every type of a mixed fleet)."""
    from gputwin.cluster.mig import MigGeometry

    for gpu in sorted(gpus):
        try:
            MigGeometry.for_gpu(gpu).profile(name)
        except InputError as exc:
            raise InputError(exc.detail, where=where) from None
