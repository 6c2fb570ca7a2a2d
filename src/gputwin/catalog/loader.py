"""Load the catalog from the bundled YAML files (and optional user files).

The catalog is read once per process (see :func:`default_catalog`) and is immutable.
Lookups by an unknown name raise :class:`UnknownNameError` with close matches.

User catalog files (``gputwin --catalog my-parts.yaml ...``, or ``catalog:`` in a
scenario) have the bundled files' format and are merged over the bundled catalog: a new
name adds an entry, a bundled name replaces that entry. They are validated like the
bundled files (errors name ``file:line`` and the field). The active user files live in
``$GPUTWIN_CATALOG`` (paths separated by ``os.pathsep``), so worker processes of
``gputwin compare`` see them too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gputwin.catalog.schema import (
    Accelerator,
    CatalogEntry,
    EncoderSpec,
    Fabric,
    ModelSpec,
    StorageTier,
    System,
)
from gputwin.errors import InputError, UnknownNameError
from gputwin.yaml_io import (
    load_yaml_with_lines,
    top_level_mapping,
    validation_error_to_input_error,
)

DATA_DIR = Path(__file__).parent / "data"
#: Environment variable listing the user catalog files in use.
CATALOG_ENV = "GPUTWIN_CATALOG"

#: YAML top-level key → (kind label, schema class)
SECTIONS: dict[str, tuple[str, type[CatalogEntry]]] = {
    "accelerators": ("accelerator", Accelerator),
    "systems": ("system", System),
    "fabrics": ("fabric", Fabric),
    "storage": ("storage tier", StorageTier),
    "models": ("model", ModelSpec),
    "encoders": ("encoder", EncoderSpec),
}

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class Catalog:
    """All catalog entries by kind and name."""

    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    systems: dict[str, System] = field(default_factory=dict)
    fabrics: dict[str, Fabric] = field(default_factory=dict)
    storage: dict[str, StorageTier] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    encoders: dict[str, EncoderSpec] = field(default_factory=dict)
    #: (section, name) → where the entry was read: ``(file, index in its section, line of
    #: each of its keys)``, for errors found after the files are merged
    origins: dict[tuple[str, str], tuple[str, int, dict[str, int]]] = field(
        default_factory=dict, compare=False, repr=False)

    def section(self, key: str) -> dict[str, Any]:
        if key not in SECTIONS:
            raise UnknownNameError("catalog section", key, list(SECTIONS))
        table: dict[str, Any] = getattr(self, key)
        return table

    def accelerator(self, name: str, *, where: str | None = None) -> Accelerator:
        return _lookup(self.accelerators, "accelerator", name, where)

    def system(self, name: str, *, where: str | None = None) -> System:
        return _lookup(self.systems, "system", name, where)

    def fabric(self, name: str, *, where: str | None = None) -> Fabric:
        return _lookup(self.fabrics, "fabric", name, where)

    def storage_tier(self, name: str, *, where: str | None = None) -> StorageTier:
        return _lookup(self.storage, "storage tier", name, where)

    def encoder(self, name: str, *, where: str | None = None) -> EncoderSpec:
        return _lookup(self.encoders, "encoder", name, where)

    def model(self, name_or_path: str, *, where: str | None = None) -> ModelSpec:
        """A catalog model by name, or a Hugging Face ``config.json`` (file or folder).
        ``where`` (here and in the other lookups): the field or flag an unknown name is
        reported at."""
        if name_or_path in self.models:
            return self.models[name_or_path]
        path = Path(name_or_path)
        if names_a_config(name_or_path):
            from gputwin.catalog.hf_config import model_from_hf_config

            return model_from_hf_config(path)
        return _lookup(self.models, "model", name_or_path, where)

    def all_names(self) -> dict[str, list[str]]:
        return {key: sorted(self.section(key)) for key in SECTIONS}

    def find(self, name: str) -> tuple[str, CatalogEntry]:
        """Find ``name`` in any section; returns ``(section, entry)``."""
        for key in SECTIONS:
            table = self.section(key)
            if name in table:
                return key, table[name]
        every = [n for names in self.all_names().values() for n in names]
        raise UnknownNameError("catalog entry", name, every)


def names_a_config(name: str) -> bool:
    """Whether a ``--model``/NAME that is no catalog name is a Hugging Face config.json path
    (a ``.json`` file, a folder, or a name with ``/``). An empty or blank name is not: as
    ``Path("")`` it is the current folder, and was read as ``./config.json``."""
    return bool(name.strip()) and (name.endswith(".json") or "/" in name
                                   or Path(name).is_dir())


def _lookup(table: dict[str, E], kind: str, name: str, where: str | None = None) -> E:
    try:
        return table[name]
    except KeyError:
        raise UnknownNameError(kind, name, list(table), where=where) from None


def load_catalog(paths: Iterable[Path]) -> Catalog:
    """Read catalog YAML files; each maps section keys to lists of entries. A file given
    again (the same file by another path too) is read once; a name defined twice in
    different files, or twice in one file, is refused."""
    tables: dict[str, dict[str, Any]] = {key: {} for key in SECTIONS}
    origins: dict[tuple[str, str], tuple[str, int, dict[str, int]]] = {}
    read: set[Path] = set()
    for path in paths:
        if Path(path).resolve() in read:  # `--catalog F --catalog F`: not a duplicate entry
            continue
        read.add(Path(path).resolve())
        raw, lines = load_yaml_with_lines(path)
        data = top_level_mapping(raw, str(path), "a mapping of catalog sections")
        for key, entries in data.items():
            if key not in SECTIONS:
                raise UnknownNameError("catalog section", str(key), list(SECTIONS), where=str(path))
            kind, schema = SECTIONS[key]
            if not isinstance(entries, list):
                raise InputError(f"{key}: expected a list of entries", where=str(path))
            for index, raw in enumerate(entries):
                try:
                    entry = schema.model_validate(raw)
                except ValidationError as exc:
                    raise validation_error_to_input_error(
                        exc, str(path), lines, prefix=(key, index)
                    ) from None
                if entry.name in tables[key]:
                    raise InputError(
                        f"{key}: duplicate {kind} {entry.name!r} "
                        f"(first defined in {origins[(key, entry.name)][0]})",
                        where=str(path),
                    )
                tables[key][entry.name] = entry
                keys = {k[2]: n for k, n in lines.items()
                        if len(k) == 3 and k[:2] == (key, index) and isinstance(k[2], str)}
                origins[(key, entry.name)] = (str(path), index, keys)
    return Catalog(**tables, origins=origins)


def merge_catalogs(base: Catalog, extra: Catalog) -> Catalog:
    """``base`` with every entry of ``extra`` added (a name in both: ``extra``'s wins).
    Raises :class:`InputError` naming ``file:line`` where an entry names another that the
    merged catalog lacks (:func:`check_references`)."""
    merged = Catalog(**{key: {**base.section(key), **extra.section(key)} for key in SECTIONS},
                     origins={**base.origins, **extra.origins})
    check_references(merged)
    return merged


def check_references(catalog: Catalog) -> None:
    """Every name an entry gives of another entry exists, and a fabric is of the kind its
    field names: a system's accelerator and fabrics, an accelerator's scale-up fabric.
    Raises :class:`InputError` naming the file, the line and the field."""
    fabrics = catalog.fabrics

    def where(section: str, name: str, key: str) -> str:
        path, index, lines = catalog.origins.get((section, name), ("catalog", 0, {}))
        line = lines.get(key)
        place = f"{path}:{line}" if line else path
        return f"{place}: {section}[{index}].{key} of {SECTIONS[section][0]} {name!r}"

    def fabric_of(section: str, name: str, key: str, fabric: str | None, kind: str) -> None:
        if fabric is None:
            return
        if fabric not in fabrics:
            raise UnknownNameError("fabric", fabric, list(fabrics),
                                   where=where(section, name, key))
        if fabrics[fabric].kind != kind:
            raise InputError(f"fabric {fabric!r} is a {fabrics[fabric].kind} fabric, not "
                             f"{kind.replace('_', '-')}", where=where(section, name, key))

    for acc in catalog.accelerators.values():
        fabric_of("accelerators", acc.name, "scale_up_fabric", acc.scale_up_fabric, "scale_up")
    for sysm in catalog.systems.values():
        if sysm.accelerator not in catalog.accelerators:
            raise UnknownNameError("accelerator", sysm.accelerator, list(catalog.accelerators),
                                   where=where("systems", sysm.name, "accelerator"))
        fabric_of("systems", sysm.name, "scale_up_fabric", sysm.scale_up_fabric, "scale_up")
        fabric_of("systems", sysm.name, "pair_bridge_fabric", sysm.pair_bridge_fabric,
                  "scale_up")
        fabric_of("systems", sysm.name, "scale_out_fabric", sysm.scale_out_fabric, "scale_out")


@functools.cache
def bundled_catalog() -> Catalog:
    """The catalog shipped with gputwin (cached for the life of the process, and parsed
    once per state of its files across processes: :mod:`gputwin.parse_cache`)."""
    from gputwin.parse_cache import cached

    paths = sorted(DATA_DIR.glob("*.yaml"))

    def load() -> Catalog:
        catalog = load_catalog(paths)
        check_references(catalog)
        return catalog

    return cached("catalog", paths, load)


def user_catalog_paths() -> list[Path]:
    """The user catalog files in use (``$GPUTWIN_CATALOG``)."""
    return [Path(p) for p in os.environ.get(CATALOG_ENV, "").split(os.pathsep) if p]


def use_user_catalogs(paths: Iterable[Path]) -> Catalog:
    """Add user catalog files (validated now; an error names ``file:line``) to those in
    use, and return the merged catalog."""
    new = [str(Path(p).resolve()) for p in paths]
    _user_catalog([Path(p) for p in new])  # validate before anything uses them
    current = [str(p) for p in user_catalog_paths()]
    merged = list(dict.fromkeys([*current, *new]))
    os.environ[CATALOG_ENV] = os.pathsep.join(merged)
    return default_catalog()


def default_catalog() -> Catalog:
    """The bundled catalog with the user catalog files in use merged over it (cached per
    set of user files)."""
    return _catalog_with(os.environ.get(CATALOG_ENV, ""))


@functools.cache
def _catalog_with(user_files: str) -> Catalog:
    paths = [Path(p) for p in user_files.split(os.pathsep) if p]
    if not paths:
        return bundled_catalog()
    return merge_catalogs(bundled_catalog(), _user_catalog(paths))


def _user_catalog(paths: list[Path]) -> Catalog:
    """User catalog files, parsed once per state of the files across processes like the
    bundled ones (an edited file is a miss; a file with errors is never cached)."""
    from gputwin.parse_cache import cached

    return cached("catalog-user", paths, lambda: load_catalog(paths))
