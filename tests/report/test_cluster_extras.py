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
    assert "Fault rates: Llama 3 405B" in page  # which rates the faults were drawn at


def test_simulate_table_has_a_faults_row_only_with_failures() -> None:
    """simulate's text table names the faults and the rates they were drawn at (the
    example scales the catalog by 30); a run without failures has no such row."""
    from gputwin.report.cluster_extras import faults_cli_line

    summary = simulate(load_scenario(EXAMPLES / "failures-checkpoints.yaml")).summary
    line = faults_cli_line(summary)
    assert line is not None and "interruptions" in line and "ETTR" in line
    assert line.endswith("(arXiv 2407.21783, Table 5) x 30")
    plain = simulate(load_scenario(EXAMPLES / "fabric-contention.yaml",
                                   ["workload.synthetic.num_jobs=10"])).summary
    assert faults_cli_line(plain) is None


def test_rates_line_counts_given_and_mixed_scales() -> None:
    from gputwin.reliability.faults import rates_line

    def rates(*scales: float | None) -> dict[str, object]:
        return {"catalog": "C", "models": {str(i): {"scale": s} for i, s in enumerate(scales)}}

    assert rates_line(rates(1.0, 1.0)) == "C"
    assert rates_line(rates(2.0, 2.0)) == "C x 2"
    assert rates_line(rates(2.0, 3.0, None)) == "C (scaled per model); 1 model(s) at given rates"
