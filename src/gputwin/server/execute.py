"""Execute one run (in a worker process): scenario or request → summary, report, jobs.

Returns plain text outputs that the worker stores in the database; nothing is written to
disk. ``progress(frac)`` is called now and then with 0–1; it may raise to stop the run
(cancellation, or the server went away).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gputwin.errors import InputError
from gputwin.server import scenarios

Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class Outputs:
    summary_json: str
    report_html: str | None = None
    jobs_csv: str | None = None

    @property
    def size_bytes(self) -> int:
        return sum(len(t.encode("utf-8")) for t in (self.summary_json, self.report_html,
                                                     self.jobs_csv) if t is not None)


def execute(kind: str, text: str, sets: Sequence[str], params: Mapping[str, Any],
            progress: Progress) -> Outputs:
    """Run ``kind`` (simulate | serve | estimate-train | plan). Raises InputError."""
    if kind in ("simulate", "serve"):
        sc = scenarios.load(text, sets, kind)
        if scenarios.is_serving_text(text):
            return _serving(sc, progress)
        return _cluster(sc, progress)
    if kind == "estimate-train":
        from gputwin.api import TrainRequest, estimate_train
        from gputwin.requests import validated

        scenarios.check_params(params)
        def where(field: str) -> str:
            return f"params.{field}"

        est = estimate_train(validated(TrainRequest, params, where), where=where)
        return Outputs(_dumps(est.to_dict()))
    if kind == "plan":
        from gputwin.api import TrainPlanRequest, plan_train
        from gputwin.requests import validated

        scenarios.check_params(params)
        plan = plan_train(validated(TrainPlanRequest, params, lambda f: f"params.{f}"))
        return Outputs(_dumps(plan.to_dict()))
    raise InputError("expected simulate, serve, estimate-train or plan", where="kind")


def shared_plotly(html: str) -> str:
    """The report with its inline plotly.js (3.5 MB, the same in every report) replaced by
    the server's copy at ``/ui/plotly.js``, so a stored report costs kilobytes."""
    from plotly.offline import get_plotlyjs

    inline = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    return html.replace(inline, '<script src="/ui/plotly.js"></script>', 1)


def _dumps(value: Any) -> str:
    from gputwin.run.outputs import json_safe

    return json.dumps(json_safe(value), indent=2) + "\n"


def _cluster(sc: Any, progress: Progress) -> Outputs:
    from gputwin.api import simulate
    from gputwin.report.html import render_report
    from gputwin.run.outputs import jobs_csv, summary_json

    horizon_s = sc.horizon
    def report(now_s: float) -> None:
        progress(min(now_s / horizon_s, 1.0) if horizon_s else 0.0)

    result = simulate(sc, progress=report)
    return Outputs(summary_json(result), shared_plotly(render_report(result)),
                   jobs_csv(result.jobs))


def _serving(sc: Any, progress: Progress) -> Outputs:
    from gputwin.api import simulate_serving
    from gputwin.report.serving import render_serving_report
    from gputwin.run.serving_outputs import requests_csv, serving_summary_json

    horizon_s = sc.horizon
    def report(now_s: float) -> None:
        progress(min(now_s / horizon_s, 1.0) if horizon_s else 0.0)

    result = simulate_serving(sc, progress=report)
    return Outputs(serving_summary_json(result), shared_plotly(render_serving_report(result)),
                   requests_csv(result))
