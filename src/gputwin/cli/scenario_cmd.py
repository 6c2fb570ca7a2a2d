"""``gputwin scenario list|schema``: the bundled scenarios, and a JSON Schema for editors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gputwin.cli.options import OutPath, emit_json


@click.group("scenario")
def scenario() -> None:
    """Bundled scenarios and the scenario file format."""


def scenario_rows(folders: list[Path]) -> list[dict[str, str]]:
    """One row per scenario file in ``folders``: name, kind, description, path."""
    from gputwin.errors import InputError
    from gputwin.yaml_io import load_yaml_with_lines

    rows = []
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            try:
                data, _ = load_yaml_with_lines(path)
            except InputError:
                continue
            if not isinstance(data, dict):
                continue
            kind = "serving" if "serving" in data and "cluster" not in data else "cluster"
            text = " ".join(str(data.get("description") or _first_comment(path)).split())
            rows.append({"name": path.stem, "kind": kind, "description": text,
                         "path": str(path)})
    return rows


def _first_comment(path: Path) -> str:
    from gputwin.textio import read_text

    for line in read_text(path).splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
        if line.strip():
            break
    return ""


@scenario.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """The bundled scenarios (run one with `gputwin simulate NAME`), and the examples/
    folder of the current directory when there is one."""
    from gputwin.scenario.paths import SCENARIOS_DIR

    folders = [SCENARIOS_DIR] + ([Path("examples")] if Path("examples").is_dir() else [])
    rows = scenario_rows(folders)
    if as_json:
        emit_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="scenarios", title_justify="left")
    for column in ("name", "kind", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        shown = row["name"] if Path(row["path"]).parent == SCENARIOS_DIR else row["path"]
        table.add_row(shown, row["kind"], row["description"])
    Console().print(table)


def scenario_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario file: a cluster or a serving scenario."""
    from pydantic.json_schema import models_json_schema

    from gputwin.scenario.schema import Scenario
    from gputwin.scenario.serving import ServingScenario

    refs, defs = models_json_schema([(Scenario, "validation"), (ServingScenario, "validation")])
    _add_manifest_inputs(defs["$defs"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "gputwin scenario",
        "description": "A gputwin scenario file: a training cluster (cluster:, workload:) "
                       "or an LLM serving fleet (serving:). Quantities accept units "
                       "('2h', '80GiB'). See docs/scenario.md.",
        "anyOf": list(refs.values()),
        **defs,
    }


def _add_manifest_inputs(defs: dict[str, Any]) -> None:
    """The sections that scenario.load expands from external files before validation
    (Kueue/Volcano manifests under ``tenancy:``, slurm.conf under ``scheduler:``): an editor
    must accept them as written, so they are added to the generated schema here."""
    manifest = {"type": "object", "properties": {"manifests": {
        "type": "array", "items": {"type": "string"}}}}
    tenancy = defs["TenancyConfig"]
    tenancy["properties"]["kueue"] = {**manifest, "description": "Kueue manifests "
                                      "(ResourceFlavor, ClusterQueue, LocalQueue, ...): "
                                      "docs/multi-tenancy.md"}
    tenancy["properties"]["volcano"] = {**manifest, "description": "Volcano queues: "
                                        "docs/multi-tenancy.md"}
    tenancy.pop("required", None)  # the manifests supply the cluster queues
    defs["SchedulerConfig"]["properties"]["slurm"] = {
        "type": "object", "properties": {"conf": {"type": "string"}},
        "description": "a slurm.conf read as the scheduler profile: docs/scheduling.md"}


@scenario.command("schema")
@click.option("--out", type=OutPath(dir_okay=False), default=None,
              help="Write the schema to this file instead of stdout.")
def schema_cmd(out: Path | None) -> None:
    """Print the JSON Schema of scenario files, for editors that validate YAML
    (e.g. `# yaml-language-server: $schema=gputwin-scenario.json` at the top of a file)."""
    text = json.dumps(scenario_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    from gputwin.textio import write_text_atomic

    write_text_atomic(out, text, where=f"--out {out}")
    click.echo(f"wrote {out}")
