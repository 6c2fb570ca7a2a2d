"""The report's power and carbon section (report/energy.py)."""

from __future__ import annotations

from pathlib import Path

from gputwin.report.energy import energy_cards, energy_cli_line, energy_figures
from gputwin.report.html import render_report
from gputwin.run.simulate import simulate
from gputwin.scenario import load_scenario

SCENARIO = """\
cluster: {system: dgx-h100, num_nodes: 2}
workload:
  synthetic:
    num_jobs: 6
    arrival: {mean_interarrival: 30min}
    templates: [{model: llama3-8b, num_gpus: 8, global_batch_size: 32, seq_len: 2048,
                 tokens: [1e8, 4e8]}]
"""


def _run(tmp_path: Path, site: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO + site)
    return simulate(load_scenario(path))


def test_section_present_with_site_and_consistent(tmp_path: Path) -> None:
    result = _run(tmp_path, "site: {region: GB, cooling: air}\n")
    page = render_report(result)
    assert 'id="power-carbon"' in page and "Power and carbon" in page
    assert "embodied carbon: wall-clock" in page  # the basis its embodied CO2e is charged on
    for div in ("fig-power", "fig-carbon", "fig-cumulative"):
        assert f'id="{div}"' in page
    labels = [c[0] for c in energy_cards(result)]
    assert labels[:5] == ["facility energy", "CO2e", "water", "cost", "$ / GPU-hour"]
    figs = dict(energy_figures(result))
    power = figs["fig-power"]["data"]
    it_kw, fac_kw = power[0]["y"], power[1]["y"]
    assert all(f >= i * 0.999 for i, f in zip(it_kw, fac_kw, strict=True))  # PUE >= 1
    cum = figs["fig-cumulative"]["data"][0]["y"]
    assert cum == sorted(cum)  # cumulative CO2e never decreases
    line = energy_cli_line(result.summary)
    assert line is not None and "t CO2e" in line and "GB" in line


def test_water_card_says_when_it_includes_the_grid_s_water(tmp_path: Path) -> None:
    """With ``include_grid_water`` the run's water_l adds the grid's upstream water: the
    card must not call it on-site cooling alone."""
    on_site = dict((c[0], c[2]) for c in energy_cards(_run(tmp_path, "site: {region: GB}\n")))
    both = _run(tmp_path, "site: {region: GB, include_grid_water: true}\n")
    assert on_site["water"] == "on-site cooling"
    assert dict((c[0], c[2]) for c in energy_cards(both))["water"] == \
        "on-site cooling + grid upstream"


def test_no_section_without_site(tmp_path: Path) -> None:
    result = _run(tmp_path, "")
    page = render_report(result)
    assert 'id="power-carbon"' not in page
    assert energy_cards(result) == [] and energy_cli_line(result.summary) is None
    assert render_report(result) == page  # still deterministic
