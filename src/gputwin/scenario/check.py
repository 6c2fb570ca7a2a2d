"""Cross-check a validated scenario against the catalog (names exist, pieces agree).

Errors name the field and where it came from (``file:line`` or the ``--set`` option):
``scenario.yaml:5: cluster.system: unknown system 'dgx-h10'; did you mean 'dgx-h100'?``
"""

from __future__ import annotations

from collections.abc import Callable

from gputwin.catalog.loader import Catalog
from gputwin.catalog.schema import ModelSpec
from gputwin.errors import InputError, UnknownNameError
from gputwin.perf.split import Split, Where, check_split
from gputwin.scenario.schema import Scenario, TemplateConfig
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

    known("systems", "system", cluster.system, ("cluster", "system"))
    known("accelerators", "GPU", cluster.gpu, ("cluster", "gpu"))
    if cluster.system is not None and cluster.gpu is not None:
        built_from = catalog.systems[cluster.system].accelerator
        if built_from != cluster.gpu:
            raise InputError(f"system {cluster.system!r} is built from {built_from!r}, "
                             f"not {cluster.gpu!r}", where=where(("cluster", "gpu")))
    if cluster.system is None and cluster.gpu is not None and not any(
        s.accelerator == cluster.gpu for s in catalog.systems.values()
    ):
        raise InputError(f"no catalog system is built from {cluster.gpu!r}; name a `system`",
                         where=where(("cluster", "gpu")))
    known("storage", "storage tier", cluster.storage, ("cluster", "storage"))
    known("fabrics", "fabric", cluster.scale_out_fabric, ("cluster", "scale_out_fabric"))
    if cluster.scale_out_fabric is not None:
        fabric = catalog.fabrics[cluster.scale_out_fabric]
        if fabric.kind != "scale_out":
            raise InputError(f"fabric {fabric.name!r} is a {fabric.kind} fabric, not scale-out",
                             where=where(("cluster", "scale_out_fabric")))
    synthetic = scenario.workload.synthetic
    if synthetic is not None:
        for index, template in enumerate(synthetic.templates):
            path: KeyPath = ("workload", "synthetic", "templates", index)
            known("models", "model", template.model, (*path, "model"))
            _check_template_split(template, catalog.models[template.model],
                                  _under(path, where))
    trace = scenario.workload.trace
    if trace is not None:
        known("models", "model", trace.model, ("workload", "trace", "model"))


def _check_template_split(template: TemplateConfig, model: ModelSpec, where: Where) -> None:
    """The one split check (perf.split) for every GPU count a template may draw."""
    split = Split(tp=template.tp, pp=template.pp, cp=template.cp, ep=template.ep)
    for num_gpus in template.num_gpus_choices:
        check_split(model, split, seq_len=template.seq_len, num_gpus=num_gpus, where=where)


def _under(prefix: KeyPath, where: Callable[[KeyPath], str]) -> Where:
    """A :data:`Where` naming the keys of one mapping (``prefix``) in the scenario file."""
    return lambda param: where((*prefix, param))
