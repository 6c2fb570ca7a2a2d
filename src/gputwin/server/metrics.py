"""``GET /metrics``: Prometheus text exposition (version 0.0.4) of runs and live twins.

Needs a key like every other route (Prometheus: ``authorization: {credentials: KEY}``); a
tenant sees its own series, an admin everyone's.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import func, select

from gputwin.server.app import DB, TenantDep
from gputwin.server.models import RUN_STATES, Run, RunResult, Tenant

router = APIRouter(tags=["meta"])
Sample = tuple[dict[str, str], float]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{text}}} {value:g}" if text else f"{name} {value:g}")
    return lines


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(tenant: TenantDep, session: DB, request: Request) -> PlainTextResponse:
    names = dict(session.execute(select(Tenant.id, Tenant.name)).tuples().all())
    scope = None if tenant.role == "admin" else tenant.id
    runs = select(Run.tenant_id, Run.state, func.count()).group_by(Run.tenant_id, Run.state)
    stored = select(RunResult.tenant_id, func.sum(RunResult.stored_bytes)).group_by(
        RunResult.tenant_id)
    if scope is not None:
        runs, stored = runs.where(Run.tenant_id == scope), stored.where(
            RunResult.tenant_id == scope)
    counts = {(t, s): n for t, s, n in session.execute(runs).tuples()}
    tenants = [scope] if scope is not None else list(names)
    lines = family("gputwin_runs", "gauge", "Runs by tenant and state.", (
        ({"tenant": names.get(t, t), "state": s}, float(counts.get((t, s), 0)))
        for t in tenants for s in RUN_STATES))
    lines += family("gputwin_stored_result_bytes", "gauge", "Bytes of stored run results.", (
        ({"tenant": names.get(t, t)}, float(b or 0)) for t, b in session.execute(stored)))
    twins = getattr(request.app.state, "twins", None)
    if twins is not None:
        lines += twins.metric_lines(scope, names)
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")
