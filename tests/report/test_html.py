"""The rendered page: structure, values, self-containment, escaping, empty runs, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_builders import make_job, make_result, synthetic_result

from gputwin.report.html import render_report
from gputwin.run.results import SimulationResult, Timeline

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "wbr", "source"}


class _TagChecker(HTMLParser):
    """Checks that every non-void element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [v for k, v in attrs if k == "id" and v]
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def check_well_formed(page: str) -> _TagChecker:
    checker = _TagChecker()
    checker.feed(page)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == []
    assert len(checker.ids) == len(set(checker.ids)), "duplicate element ids"
    return checker


def figures_of(page: str) -> dict[str, tuple[list[dict[str, Any]], dict[str, Any]]]:
    """div id -> (data, layout) of every Plotly.newPlot call in the page."""
    decoder = json.JSONDecoder()
    found = {}
    for m in re.finditer(r"Plotly\.newPlot\(", page):
        pos = m.end()
        args = []
        for _ in range(4):
            value, pos = decoder.raw_decode(page, pos)
            args.append(value)
            pos = page.index(",", pos) + 1 if len(args) < 4 else pos
            while page[pos] == " ":
                pos += 1
        found[args[0]] = (args[1], args[2])
    return found


def card_value(page: str, label: str) -> str:
    m = re.search(r'<div class="label">' + re.escape(label)
                  + r'</div><div class="value">([^<]*)</div>', page)
    assert m, f"no card {label!r}"
    return m.group(1)


@pytest.fixture(scope="module")
def synthetic() -> SimulationResult:
    return synthetic_result(300)


@pytest.fixture(scope="module")
def page(synthetic: SimulationResult) -> str:
    return render_report(synthetic)


def test_page_is_well_formed_with_all_sections_and_figures(page: str) -> None:
    check_well_formed(page)
    assert page.startswith("<!DOCTYPE html>")
    for section in ("key-figures", "cluster", "job-times", "gpu-hours", "jobs"):
        assert f'<section id="{section}">' in page
    assert set(figures_of(page)) == {
        "fig-gpu-allocation", "fig-queue-running", "fig-job-times", "fig-jct-cdf",
        "fig-gpu-hours-kind", "fig-gpu-hours-tenant",
    }
    for table in ("table-slowest", "table-waiting", "table-failed", "table-summary"):
        assert f'id="{table}"' in page


def test_page_is_self_contained(page: str) -> None:
    assert page.count("plotly.js v") == 1  # the bundle is embedded exactly once
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link[^>]*href=", page)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", page)


def test_cards_show_counts_and_times_of_the_data(synthetic: SimulationResult, page: str) -> None:
    n_done = sum(j.status == "completed" for j in synthetic.jobs)
    n_failed = sum(j.status == "failed" for j in synthetic.jobs)
    assert card_value(page, "completed") == f"{n_done:,}"
    assert card_value(page, "failed") == f"{n_failed:,}"
    assert card_value(page, "jobs") == f"{len(synthetic.jobs):,}"
    assert card_value(page, "job energy").endswith("MWh")
    assert re.fullmatch(r"[\d.]+ (ms|s|min|h|d)", card_value(page, "p95 JCT"))


def test_p95_jct_card_formats_the_definition() -> None:
    # JCTs of 1..21 h: p95 (linear interpolation) is exactly 20 h, mean 11 h.
    jobs = [make_job(f"c{k}", end=k * 3600.0) for k in range(1, 22)]
    page = render_report(make_result(jobs, end_time_s=22 * 3600.0))
    assert card_value(page, "p95 JCT") == "20 h"
    assert card_value(page, "mean JCT") == "11 h"
    assert card_value(page, "completed") == "21"


def test_gpu_allocation_figure_is_percent_of_total_with_reference() -> None:
    tl = Timeline(time_s=[0.0, 3600.0, 7200.0], gpus_allocated=[0, 32, 64],
                  queue_length=[0, 1, 0], running_jobs=[0, 1, 2])
    page = render_report(make_result(timeline=tl, total_gpus=64, end_time_s=4 * 3600.0))
    data, layout = figures_of(page)["fig-gpu-allocation"]
    alloc, ref = data
    assert alloc["line"]["shape"] == "hv"
    assert alloc["y"] == [0, 50, 100, 100]  # held until the end of the run
    assert alloc["x"] == [0, 1, 2, 4]  # a 4 h run is plotted in hours
    assert ref["y"] == [100, 100] and "64 GPUs" in ref["name"]
    assert layout["xaxis"]["title"]["text"] == "time (h)"


def test_long_runs_are_plotted_in_days(synthetic: SimulationResult, page: str) -> None:
    _, layout = figures_of(page)["fig-queue-running"]
    assert layout["xaxis"]["title"]["text"] == "time (d)"


HOSTILE = '<script>alert("x")</script>&<img src=x onerror=alert(1)>'


def test_hostile_text_is_escaped_everywhere() -> None:
    jobs = [
        make_job(HOSTILE, kind=HOSTILE, tenant=HOSTILE, end=100.0),
        make_job("f", kind=HOSTILE, status="failed", end=50.0, reason=HOSTILE),
    ]
    result = make_result(jobs, name=HOSTILE, summary={HOSTILE: HOSTILE})
    page = render_report(result)
    check_well_formed(page)
    assert HOSTILE not in page
    assert "<img" not in page
    tags = check_well_formed(page).tags
    assert "img" not in tags  # no injected element
    # Only our scripts: plotly.js, one per figure, and the table sorter.
    assert tags.count("script") == 1 + len(figures_of(page)) + 1
    assert page.count("<script") == page.count("</script>")
    assert "&lt;script&gt;" in page  # shown, as text


def test_empty_run_renders_notes_and_no_plots() -> None:
    page = render_report(make_result(end_time_s=0.0))
    check_well_formed(page)
    assert figures_of(page) == {}
    assert "plotly.js v" not in page  # nothing to draw, nothing to embed
    assert "This run has no jobs." in page
    assert "No timeline samples were recorded" in page
    assert card_value(page, "p95 JCT") == "—"
    assert card_value(page, "GPU allocation") == "—"
    # With a horizon but no jobs, nothing was allocated: 0 % is the truth, not a gap.
    assert card_value(render_report(make_result(end_time_s=60.0)), "GPU allocation") == "0.0 %"


def test_run_where_nothing_completed() -> None:
    jobs = [make_job("r", status="running", start=10.0, end=None),
            make_job("q", status="queued", start=None, end=None, reason="needs 512 GPUs")]
    tl = Timeline(time_s=[0.0], gpus_allocated=[8], queue_length=[1], running_jobs=[1])
    page = render_report(make_result(jobs, tl, end_time_s=600.0))
    check_well_formed(page)
    figs = figures_of(page)
    assert "fig-jct-cdf" not in figs and "fig-job-times" not in figs
    assert "No job completed in this run." in page
    assert card_value(page, "mean JCT") == "—"
    assert "(still queued)" in page and "needs 512 GPUs" in page
    # One sample: the step is held to the end of the run, not drawn as a lone point.
    data, _ = figs["fig-gpu-allocation"]
    assert data[0]["x"] == [0, 10]  # 600 s horizon plotted in minutes
    assert data[0]["y"] == [12.5, 12.5]


def test_output_is_deterministic_within_and_across_processes(page: str,
                                                               synthetic: SimulationResult) -> None:
    assert render_report(synthetic) == page
    code = ("import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
            "from report_builders import synthetic_result;"
            "from gputwin.report.html import render_report;"
            "print(hashlib.sha256(render_report(synthetic_result(300)).encode()).hexdigest())")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == hashlib.sha256(page.encode()).hexdigest()


def test_big_timelines_are_downsampled_for_plotting() -> None:
    n = 60_000
    t = [float(i) for i in range(n)]
    gpus = [(i * 7919) % 1000 for i in range(n)]  # changes at every sample
    gpus[12_345] = 1024
    tl = Timeline(time_s=t, gpus_allocated=gpus, queue_length=[i % 5 for i in range(n)],
                  running_jobs=[i % 3 for i in range(n)])
    page = render_report(make_result(timeline=tl, total_gpus=1024, end_time_s=float(n)))
    data, _ = figures_of(page)["fig-gpu-allocation"]
    xs, ys = data[0]["x"], data[0]["y"]
    assert len(xs) <= 20_000
    assert max(ys) == 100  # the one-sample peak survives
    assert ys[0] == 0 and xs[-1] == pytest.approx(n / 3600.0, rel=1e-5)
    assert "plots show at most 20,000" in page


def test_tables_are_capped_and_say_so() -> None:
    jobs = [make_job(f"j{i:03d}", end=100.0 + i) for i in range(60)]
    jobs += [make_job(f"f{i:03d}", status="failed", end=10.0 + i, reason="oom")
             for i in range(150)]
    page = render_report(make_result(jobs, end_time_s=1000.0))
    assert "Slowest completed jobs (by JCT) — showing 25 of 60" in page
    assert "Failed jobs and why — showing 100 of 150" in page
    slowest = page.split('id="table-slowest"')[1].split("</table>")[0]
    assert slowest.index(">j059<") < slowest.index(">j058<")  # longest JCT first
