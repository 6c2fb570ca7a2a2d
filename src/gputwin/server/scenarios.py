"""Scenario input for the server: the CLI's own loaders, fed from text kept in the database.

A scenario arrives as YAML text (line numbers in errors refer to it), a JSON mapping (dumped
to YAML first), a stored scenario id or a bundled name. It is written to a private temporary
folder as ``scenario.yaml`` and read by :func:`gputwin.scenario.load.load_scenario` or
:func:`gputwin.scenario.serving.load_serving_scenario`, so the server accepts exactly what
``gputwin simulate`` accepts, with the same ``scenario.yaml:LINE: field: ...`` messages. A
scenario that names a trace file must find it in the data folder, and one that names any
other file (catalog files, config.json paths, grid folders) is refused: a tenant cannot make
the server read arbitrary files.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from gputwin.errors import InputError
from gputwin.scenario.paths import SCENARIOS_DIR, bundled_scenarios, data_dir
from gputwin.yaml_io import parse_yaml_value

FILE_NAME = "scenario.yaml"


def to_yaml_text(value: Any, where: str = "scenario") -> str:
    """YAML text of a scenario given as text or as a mapping. Raises InputError."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return yaml.safe_dump(dict(value), sort_keys=False)
    raise InputError("expected a scenario id, a bundled name, YAML text or a mapping",
                     where=where)


def bundled_text(name: str) -> str | None:
    """The YAML of a bundled scenario (``default``, ``serve-default`` ...), else ``None``."""
    if name not in bundled_scenarios():
        return None
    return (SCENARIOS_DIR / f"{name}.yaml").read_text(encoding="utf-8")


def set_list(sets: Mapping[str, Any] | None) -> list[str]:
    """``{"cluster.num_nodes": 64}`` → ``["cluster.num_nodes=64"]`` (values as JSON/YAML)."""
    out = []
    for key, value in (sets or {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"{key}={text}")
    return out


def is_serving_text(text: str) -> bool:
    try:
        data = parse_yaml_value(text, FILE_NAME)
    except InputError:
        return False
    return isinstance(data, dict) and "serving" in data and "cluster" not in data


@contextmanager
def scenario_file(text: str) -> Iterator[Path]:
    """``text`` as ``scenario.yaml`` in a private temporary folder; InputError messages
    raised inside name ``scenario.yaml``, not the temporary path."""
    with tempfile.TemporaryDirectory(prefix="gputwin-srv-") as tmp:
        path = Path(tmp) / FILE_NAME
        path.write_text(text, encoding="utf-8")
        try:
            yield path
        except InputError as exc:
            raise _relocated(exc, tmp) from None


def _relocated(exc: InputError, tmp: str) -> InputError:
    def strip(s: str | None) -> str | None:
        return None if s is None else s.replace(tmp + "/", "").replace(tmp, ".")

    return InputError(strip(exc.detail) or "", where=strip(exc.where))


def load(text: str, sets: Sequence[str] = (), kind: str = "simulate") -> Any:
    """Validate ``text`` (+ ``--set`` overrides) exactly like the CLI; returns the typed
    scenario (cluster or serving). ``kind`` 'serve' needs a serving scenario. Raises
    InputError."""
    is_serving = is_serving_text(text)
    if kind == "serve" and not is_serving:
        raise InputError("kind 'serve' needs a serving scenario (top-level `serving:`)",
                         where="kind")
    _check_no_server_files(text, sets)
    with scenario_file(text) as path:
        if is_serving:
            from gputwin.api import load_serving_scenario

            serving = load_serving_scenario(path, sets)
            _check_serving_traces(serving)
            return serving
        from gputwin.api import load_scenario

        sc = load_scenario(path, sets)
        trace = sc.workload.trace
        if trace is not None:
            from gputwin.workload.traces import path_options

            _check_inside_data(trace.path, "workload.trace.path")
            for key, used in path_options(trace.format, trace.path, trace.options).items():
                _check_inside_data(used, f"workload.trace.options.{key}")
        return sc


#: scenario fields naming a file or folder the loaders would read: refused on the server
#: (``model``: only a Hugging Face config.json path, not a catalog name)
_FILE_FIELDS = ("catalog", "model", "grid_data")


def _check_no_server_files(text: str, sets: Sequence[str]) -> None:
    """Refuse a scenario (or override) that names a file or folder of the server's:
    ``catalog:`` files, a ``model:`` given as a config.json path, a ``grid_data:``
    folder. Raises InputError naming the field."""
    fields: list[tuple[str, Any]] = []
    with suppress(InputError):  # the loader reports a YAML error itself, with its line
        _collect(parse_yaml_value(text, FILE_NAME), "", fields)
    for item in sets:
        key, _, value = item.partition("=")
        parsed: Any = value
        with suppress(yaml.YAMLError):
            parsed = yaml.safe_load(value)
        _collect({key: parsed}, "", fields)
    for where, value in fields:
        if _names_a_file(where.rsplit(".", 1)[-1], value):
            raise InputError("the server reads no file named by a scenario (catalog files, "
                             "config.json paths, grid folders); use catalog names",
                             where=f"{FILE_NAME}: {where}")


def check_params(params: Mapping[str, Any]) -> None:
    """The same rule for the request of estimate-train / plan runs (``params.model``).
    Raises InputError."""
    for key in ("model",):
        if _names_a_file(key, params.get(key)):
            raise InputError("the server reads no config.json path; give a catalog model "
                             "name", where=f"params.{key}")


def _collect(value: Any, prefix: str, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{prefix}{key}"
            if str(key).rsplit(".", 1)[-1] in _FILE_FIELDS:
                out.append((where, item))
            _collect(item, where + ".", out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, f"{prefix}{i}.", out)


def _names_a_file(field: str, value: Any) -> bool:
    if value is None or value == [] or value == "":
        return False
    if field == "catalog":
        return True
    if field == "grid_data":
        return value not in ("synthetic", "real")
    from gputwin.catalog.loader import default_catalog, names_a_config

    # the loaders' own rule, so a bare name that happens to be a folder here counts too
    return (isinstance(value, str) and value not in default_catalog().models
            and names_a_config(value))


def _check_serving_traces(sc: Any) -> None:
    for i, src in enumerate(sc.serving.workload):
        path = getattr(src, "path", None)
        if isinstance(path, str):
            _check_inside_data(path, f"serving.workload.{i}.path")
        lengths_path = getattr(getattr(src, "lengths", None), "path", None)  # synthetic's
        if isinstance(lengths_path, str):
            _check_inside_data(lengths_path, f"serving.workload.{i}.lengths.path")


def _check_inside_data(path: str, where: str) -> None:
    root = data_dir().resolve()
    if not Path(path).resolve().is_relative_to(root):
        raise InputError("the server reads trace files only from its data folder; give a "
                         "path relative to it", where=f"{FILE_NAME}: {where}")

