"""Volcano Queue manifests as a scenario's tenancy (scenario/volcano.py): weights become
deserved shares of the cluster, capability a borrowing limit, guarantee an unlendable
part; errors name the manifest file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gputwin.errors import InputError
from gputwin.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_weights_capability_and_guarantee() -> None:
    t = load_scenario(EXAMPLES / "volcano-queues.yaml").tenancy
    assert t is not None
    q = {n: c.quotas["h100-sxm-80gb"] for n, c in t.cluster_queues.items()}
    assert {n: x.nominal for n, x in q.items()} == {n: 16.0 for n in q}  # 64 GPUs / 4
    assert q["serving"].borrowing_limit == 16.0 and q["serving"].lending_limit == 8.0
    assert q["team-b"].borrowing_limit == 32.0 and q["team-c"].borrowing_limit is None
    assert all(c.cohort == "volcano" for c in t.cluster_queues.values())
    assert t.local_queues is not None and t.local_queues["serving"].priority_class == \
        "inference-critical"


def _copy(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "volcano-queues.yaml", tmp_path)
    shutil.copytree(EXAMPLES / "volcano", tmp_path / "volcano")
    return tmp_path / "volcano" / "queues.yaml"


def test_uneven_weights_and_deserved(tmp_path: Path) -> None:
    queues = _copy(tmp_path)
    text = queues.read_text().replace("name: team-a\nspec:\n  weight: 1",
                                      "name: team-a\nspec:\n  weight: 5")
    text = text.replace("name: team-c\nspec:\n  weight: 1",
                        "name: team-c\nspec:\n  weight: 1\n  deserved: {nvidia.com/gpu: 4}")
    queues.write_text(text)
    t = load_scenario(tmp_path / "volcano-queues.yaml").tenancy
    assert t is not None
    nominal = {n: c.quotas["h100-sxm-80gb"].nominal for n, c in t.cluster_queues.items()}
    assert nominal["team-a"] == pytest.approx(64 * 5 / 8, abs=1e-3)
    assert nominal["team-c"] == 4.0


@pytest.mark.parametrize(("old", "new", "field"), [
    ("name: team-b\nspec:\n  weight: 1", "name: team-b\nspec:\n  weight: heavy", "weight"),
    ("capability: {nvidia.com/gpu: 48}", "capability: {nvidia.com/gpu: many}", "capability"),
    # both used to load: the second queue replaced the first (its weight counted once), and
    # a guarantee above the capability was kept
    ("name: team-a", "name: serving  # again", "Queue 'serving' is defined twice"),
    ("resource: {nvidia.com/gpu: 8}", "resource: {nvidia.com/gpu: 800}",
     "spec.guarantee (800 GPUs) exceeds its spec.capability (32)"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, old: str, new: str,
                                         field: str) -> None:
    queues = _copy(tmp_path)
    queues.write_text(queues.read_text().replace(old, new))
    line = next(i for i, t in enumerate(queues.read_text().splitlines(), 1)
                if new.split("\n")[-1] in t)
    with pytest.raises(InputError) as info:
        load_scenario(tmp_path / "volcano-queues.yaml")
    assert f"queues.yaml:{line}" in str(info.value) and field in str(info.value)
