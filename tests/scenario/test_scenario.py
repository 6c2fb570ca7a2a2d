"""Scenario loading: schema, units, overrides and catalog cross-checks, with file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from gputwin.errors import InputError, UnknownNameError
from gputwin.scenario import DEFAULT_SCENARIO, bundled_scenarios, data_dir, load_scenario
from gputwin.scenario.load import resolve_scenario_path

BASE = """\
name: t
seed: 1
horizon: 2d
cluster:
  system: dgx-h100
  num_nodes: 4
  network: {topology: fat_tree, nodes_per_leaf: 2, oversubscription: 2.0}
  storage: lustre
workload:
  synthetic:
    num_jobs: 10
    arrival: {process: poisson, mean_interarrival: 20min}
    templates:
      - {weight: 2, kind: finetune, model: llama3-8b, num_gpus: [8, 16], global_batch_size: 64,
         seq_len: 4096, tokens: [1e9, 2B]}
scheduler: {policy: fifo, placement: leaf_pack}
"""


def write(tmp_path: Path, text: str = BASE) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_with_human_units(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path))
    assert sc.horizon == 2 * 86400.0
    assert sc.workload.synthetic is not None
    assert sc.workload.synthetic.arrival.mean_interarrival == 1200.0
    tpl = sc.workload.synthetic.templates[0]
    assert tpl.tokens_range == (1e9, 2e9)
    assert tpl.num_gpus_choices == (8, 16)
    assert sc.cluster.network.oversubscription == 2.0


def test_models_are_frozen(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path))
    with pytest.raises(ValueError):
        sc.seed = 3  # type: ignore[misc]


def _error(tmp_path: Path, text: str, overrides: list[str] | None = None) -> str:
    with pytest.raises(InputError) as info:
        load_scenario(write(tmp_path, text), overrides or [])
    message = str(info.value)
    assert "\n" not in message
    return message


def test_negative_size_names_line_and_field(tmp_path: Path) -> None:
    msg = _error(tmp_path, BASE.replace("num_nodes: 4", "num_nodes: -4"))
    assert msg == (f"{tmp_path / 'scenario.yaml'}:6: cluster.num_nodes: "
                   "Input should be greater than 0 (got -4)")


def test_wrong_field_name(tmp_path: Path) -> None:
    msg = _error(tmp_path, BASE.replace("  storage: lustre", "  storrage: lustre"))
    assert msg.endswith("scenario.yaml:8: cluster.storrage: unknown field")


def test_bad_unit(tmp_path: Path) -> None:
    msg = _error(tmp_path, BASE.replace("horizon: 2d", "horizon: 2 parsecs"))
    assert "scenario.yaml:3: horizon:" in msg and "expected a duration" in msg


def test_impossible_split_names_file_line_and_key(tmp_path: Path) -> None:
    msg = _error(tmp_path, BASE.replace("global_batch_size: 64,", "global_batch_size: 64, tp: 3,"))
    assert ":14: workload.synthetic.templates[0].tp: 3 does not divide the 32 attention" in msg


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "kind"),
    [
        ("system: dgx-h100", "system: dgx-h10", 5, "cluster.system", "system"),
        ("system: dgx-h100", "gpu: h100-sxm-81gb", 5, "cluster.gpu", "GPU"),
        ("model: llama3-8b", "model: llama3-8bb", 14, "workload.synthetic.templates[0].model",
         "model"),
        ("storage: lustre", "storage: lustr", 8, "cluster.storage", "storage tier"),
    ],
)
def test_unknown_catalog_names(tmp_path: Path, old: str, new: str, line: int, field: str,
                               kind: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        load_scenario(write(tmp_path, BASE.replace(old, new)))
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'scenario.yaml'}:{line}: {field}: unknown {kind}")
    assert "did you mean" in msg


def test_gpu_instead_of_system(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, BASE.replace("system: dgx-h100", "gpu: h100-sxm-80gb")))
    assert sc.cluster.gpu == "h100-sxm-80gb" and sc.cluster.system is None


def test_overrides(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path), ["cluster.num_nodes=16", "seed=9",
                                         "workload.synthetic.templates.0.weight=5",
                                         "cluster.network={nodes_per_leaf: 8}"])
    assert sc.cluster.num_nodes == 16 and sc.seed == 9
    assert sc.workload.synthetic is not None
    assert sc.workload.synthetic.templates[0].weight == 5
    assert sc.cluster.network.nodes_per_leaf == 8
    assert sc.cluster.network.oversubscription == 1.0  # whole mapping replaced


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("cluster.num_nodes=-4",
         "--set cluster.num_nodes=-4: cluster.num_nodes: Input should be greater than 0"),
        ("cluster.nodes=4", "--set cluster.nodes=4: cluster.nodes: unknown field"),
        ("cluster.system=dgx-h10", "--set cluster.system=dgx-h10: cluster.system: unknown system"),
        ("nonsense", "--set nonsense: expected key.path=value"),
        ("workload.synthetic.templates.5.weight=1", "index out of range"),
        ("seed.x=1", "seed.x: parent is not a mapping"),
    ],
)
def test_override_errors_name_the_option(tmp_path: Path, override: str, expected: str) -> None:
    assert expected in _error(tmp_path, BASE, [override])


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    assert ":1: expected a mapping" in _error(tmp_path, "- 1\n- 2\n")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank",
                                                                        "comments"])
def test_an_empty_file_is_called_empty(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert "the file is empty (or holds only comments)" in message, message
    assert "required field" not in message


def test_workload_needs_something(tmp_path: Path) -> None:
    text = BASE.split("workload:")[0] + "workload: {}\n"
    assert "give `synthetic` and/or `trace`" in _error(tmp_path, text)


def test_trace_path_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "traces").mkdir(parents=True)
    (data / "traces" / "t.csv").write_text("timestamp,duration,num_gpus,gpu_time,cluster\n")
    monkeypatch.setenv("GPUTWIN_DATA_DIR", str(data))
    text = BASE.split("workload:")[0] + (
        "workload:\n  trace: {format: philly_csv, path: traces/t.csv}\n")
    sc = load_scenario(write(tmp_path, text))
    assert sc.workload.trace is not None
    assert Path(sc.workload.trace.path) == (data / "traces" / "t.csv").resolve()
    missing = text.replace("traces/t.csv", "traces/none.csv")
    assert ":10: workload.trace.path: file not found" in _error(tmp_path, missing)


PHILLY = data_dir() / "traces/philly-adaptdl/philly.csv"


@pytest.mark.parametrize("name", bundled_scenarios())
def test_bundled_scenarios_load(name: str) -> None:
    if name == "philly-sample" and not PHILLY.is_file():
        pytest.skip(f"needs the Philly trace at {PHILLY}")
    from gputwin.scenario.serving import is_serving_file, load_serving_scenario

    if is_serving_file(resolve_scenario_path(name)):
        with pytest.raises(InputError, match="serving scenario"):
            load_scenario(name)
        assert load_serving_scenario(resolve_scenario_path(name)).name == name
        return
    sc = load_scenario(name)
    assert sc.name == name


def test_numeric_looking_labels_stay_text(tmp_path: Path) -> None:
    text = BASE.split("workload:")[0] + (
        "workload:\n  trace: {format: philly_csv, path: t.csv, cluster: 103959}\n")
    (tmp_path / "t.csv").write_text("timestamp,duration,num_gpus,gpu_time,cluster\n")
    sc = load_scenario(write(tmp_path, text))
    assert sc.workload.trace is not None and sc.workload.trace.cluster == "103959"


def test_default_is_bundled() -> None:
    assert DEFAULT_SCENARIO.is_file()
    assert load_scenario(None).name == "default"


def test_an_empty_serving_or_catalog_file_is_called_empty(tmp_path: Path) -> None:
    from gputwin.catalog.loader import load_catalog
    from gputwin.scenario.serving import load_serving_scenario

    path = write(tmp_path, "# nothing yet\n")
    for load in (load_serving_scenario, lambda p: load_catalog([p])):
        with pytest.raises(InputError, match=r"scenario\.yaml: the file is empty"):
            load(path)
