"""Real Kueue manifests as a scenario's tenancy (scenario/kueue.py): the manifests under
examples/kueue/ describe the same queues as examples/kueue-cohorts.yaml's hand-written
tenancy, so both load to the same model; malformed manifests name file, line and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from gputwin.cli.main import cli, main
from gputwin.errors import InputError
from gputwin.scenario import load_scenario
from gputwin.scenario.kueue import quantity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_manifests_give_the_same_tenancy_as_the_hand_written_one() -> None:
    from_manifests = load_scenario(EXAMPLES / "kueue-manifests.yaml").tenancy
    by_hand = load_scenario(EXAMPLES / "kueue-cohorts.yaml").tenancy
    assert from_manifests is not None and by_hand is not None
    renamed = json.dumps({k: v.model_dump() for k, v in
                          from_manifests.cluster_queues.items()}).replace('"h100"',
                                                                          '"h100-sxm-80gb"')
    assert renamed == json.dumps({k: v.model_dump() for k, v in by_hand.cluster_queues.items()})
    assert from_manifests.priority_classes == by_hand.priority_classes
    assert from_manifests.local_queues == by_hand.local_queues
    assert from_manifests.flavors == {"h100": "h100-sxm-80gb"}


def test_simulate_runs_against_the_manifests(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["simulate", str(EXAMPLES / "kueue-manifests.yaml"),
                                   "--json", "--out", str(tmp_path / "out")])
    assert out.exit_code == 0, out.output
    s = json.loads(out.output[out.output.index("{"):])
    assert s["num_jobs"] == 120 and s["jobs_by_status"]["completed"] > 0


def _copy(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "kueue-manifests.yaml", tmp_path)
    shutil.copytree(EXAMPLES / "kueue", tmp_path / "kueue")
    return tmp_path / "kueue" / "queues.yaml"


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("nominalQuota: 16, borrowingLimit: 16}", "nominalQuota: lots, borrowingLimit: 16}",
     "nominalQuota"),
    ("reclaimWithinCohort: Any\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue"
     "\nmetadata:\n  name: team-a",
     "reclaimWithinCohort: Sometimes\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: "
     "ClusterQueue\nmetadata:\n  name: team-a", "reclaimWithinCohort"),
    ("spec: {clusterQueue: team-b}", "spec: {clusterQueue: 7}", "clusterQueue"),
])
def test_a_malformed_manifest_names_file_line_and_field(tmp_path: Path, old: str, new: str,
                                                        field: str) -> None:
    queues = _copy(tmp_path)
    text = queues.read_text()
    assert old in text
    queues.write_text(text.replace(old, new, 1))
    line = _line_of(queues, new.split("\n")[0])
    with pytest.raises(InputError) as info:
        load_scenario(tmp_path / "kueue-manifests.yaml")
    msg = str(info.value)
    assert f"{queues}:{line}" in msg and field in msg
    with pytest.raises(SystemExit) as code:
        main(["simulate", str(tmp_path / "kueue-manifests.yaml"), "--json", "--out",
              str(tmp_path / "o")])
    assert code.value.code == 2


def test_invalid_yaml_and_missing_files(tmp_path: Path) -> None:
    queues = _copy(tmp_path)
    queues.write_text(queues.read_text().replace("value: 100", "value: [100", 1))
    with pytest.raises(InputError, match=r"queues\.yaml:\d+"):
        load_scenario(tmp_path / "kueue-manifests.yaml")
    scenario = tmp_path / "kueue-manifests.yaml"
    scenario.write_text(scenario.read_text().replace("kueue/flavors.yaml", "nope.yaml"))
    with pytest.raises(InputError, match="file not found"):
        load_scenario(scenario)


def test_quantities() -> None:
    assert quantity(8, "f", "q") == 8.0
    assert quantity("500m", "f", "q") == 0.5
    with pytest.raises(InputError, match="GPU count"):
        quantity("2Gi", "f:3", "q")


def test_an_object_defined_twice_is_refused(tmp_path: Path) -> None:
    """A second ClusterQueue of the same name used to replace the first without a word."""
    shutil.copy(EXAMPLES / "kueue-manifests.yaml", tmp_path)
    shutil.copytree(EXAMPLES / "kueue", tmp_path / "kueue")
    queues = tmp_path / "kueue" / "queues.yaml"
    queues.write_text(queues.read_text() + "\n---\n" + queues.read_text().split("---")[1])
    with pytest.raises(InputError, match="is defined twice \\(first at "):
        load_scenario(tmp_path / "kueue-manifests.yaml")
