"""Report sections for faults, fabric contention and mixed fleets (present only with them)."""

from __future__ import annotations

from pathlib import Path

from gputwin.report.html import render_report
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _page(name: str, *overrides: str) -> str:
    return render_report(simulate(load_scenario(EXAMPLES / name, list(overrides))))


def test_each_section_appears_with_its_scenario_section() -> None:
    fabric = _page("fabric-contention.yaml", "workload.synthetic.num_jobs=30")
    assert '<section id="fabric">' in fabric and "jobs crossed leaf switches" in fabric
    assert '<section id="faults">' not in fabric and '<section id="gpu-types">' not in fabric
    mixed = _page("mixed-fleet.yaml", "workload.synthetic.num_jobs=20")
    assert '<section id="gpu-types">' in mixed and "a100-sxm-80gb" in mixed
    plain = _page("fabric-contention.yaml", "workload.synthetic.num_jobs=10",
                  "cluster.network.contention=false")
    assert '<section id="fabric">' not in plain


def test_faults_section_lists_causes_and_checkpoints() -> None:
    page = _page("failures-checkpoints.yaml")
    assert '<section id="faults">' in page
    assert "Checkpoints (sync writes)" in page and "<td>gpu</td>" in page
