"""Routes for runs: submit, read, results, cancel, progress events, compare."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gputwin.server import scenarios
from gputwin.server.app import DB, TenantDep
from gputwin.server.models import (
    ACTIVE_STATES,
    Run,
    RunResult,
    RunState,
    ScenarioRow,
    Tenant,
    new_id,
    now_s,
)
from gputwin.server.schemas import Created, RunIn, RunOut

router = APIRouter(prefix="/v1", tags=["runs"])
TERMINAL = ("done", "failed", "cancelled")


def run_out(run: Run) -> RunOut:
    return RunOut(id=run.id, kind=run.kind, scenario=run.scenario_ref, state=run.state,
                  progress=run.progress, error=run.error, attempts=run.attempts,
                  created_at=run.created_at, started_at=run.started_at,
                  finished_at=run.finished_at)


def own_run(session: Session, tenant: Tenant, run_id: str) -> Run:
    """The tenant's run ``run_id``; another tenant's run is "not found", like a wrong id."""
    run = session.scalar(select(Run).where(Run.id == run_id, Run.tenant_id == tenant.id))
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return run


def scenario_text(session: Session, tenant: Tenant, ref: str | dict[str, Any] | None,
                  kind: str = "simulate") -> tuple[str, str]:
    """(reference shown in listings, YAML text) of a run's or twin's scenario."""
    if ref is None:
        ref = "serve-default" if kind == "serve" else "default"
    if isinstance(ref, str) and "\n" not in ref:
        row = session.scalar(select(ScenarioRow).where(ScenarioRow.id == ref,
                                                       ScenarioRow.tenant_id == tenant.id))
        if row is not None:
            return row.id, row.text
        text = scenarios.bundled_text(ref)
        if text is not None:
            return ref, text
        raise HTTPException(404, f"no scenario {ref!r} (not an id of yours, not a bundled "
                                 "name)")
    return "inline", scenarios.to_yaml_text(ref)


def _check_quota(session: Session, tenant: Tenant) -> None:
    active = session.scalar(select(func.count()).select_from(Run).where(
        Run.tenant_id == tenant.id, Run.state.in_(ACTIVE_STATES))) or 0
    if active >= tenant.max_concurrent_runs:
        raise HTTPException(429, f"quota: {active} runs queued or running, the limit is "
                                 f"{tenant.max_concurrent_runs}; wait or cancel one")
    stored = session.scalar(select(func.coalesce(func.sum(RunResult.stored_bytes), 0))
                            .where(RunResult.tenant_id == tenant.id)) or 0
    if stored >= tenant.max_stored_bytes:
        raise HTTPException(507, f"quota: {stored} bytes of results stored, the limit is "
                                 f"{tenant.max_stored_bytes}; delete runs to free space")


def _existing(session: Session, tenant: Tenant, key: str | None) -> Run | None:
    if key is None:
        return None
    return session.scalar(select(Run).where(Run.tenant_id == tenant.id,
                                            Run.idempotency_key == key))


@router.post("/runs", status_code=201, response_model=Created)
def submit_run(body: RunIn, tenant: TenantDep, session: DB, response: Response) -> Created:
    """Queue a run; the same ``idempotency_key`` again answers the first run's id."""
    prior = _existing(session, tenant, body.idempotency_key)
    if prior is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return Created(id=prior.id)
    _check_quota(session, tenant)
    sets = scenarios.set_list(body.sets)
    ref, text = "", ""
    if body.kind in ("simulate", "serve"):
        ref, text = scenario_text(session, tenant, body.scenario, body.kind)
        scenarios.load(text, sets, body.kind)  # InputError → 422, naming field and line
    else:
        _validate_params(body)
    run = Run(id=new_id("run"), tenant_id=tenant.id, kind=body.kind, scenario_ref=ref,
              scenario_text=text, sets_json=json.dumps(sets), params_json=json.dumps(
                  body.params), idempotency_key=body.idempotency_key, state="queued",
              progress=0.0, attempts=0, created_at=now_s())
    session.add(run)
    try:
        session.commit()
    except IntegrityError:  # a concurrent request with the same idempotency key won
        session.rollback()
        prior = _existing(session, tenant, body.idempotency_key)
        if prior is None:
            raise
        return Created(id=prior.id)
    return Created(id=run.id)


def _validate_params(body: RunIn) -> None:
    from gputwin.api import TrainPlanRequest, TrainRequest
    from gputwin.requests import validated

    kind: Any = TrainRequest if body.kind == "estimate-train" else TrainPlanRequest
    validated(kind, body.params, lambda f: f"params.{f}")
    scenarios.check_params(body.params)


@router.get("/runs", response_model=list[RunOut])
def list_runs(tenant: TenantDep, session: DB, state: RunState | None = None,
              limit: int = Query(100, ge=1, le=1000)) -> list[RunOut]:
    query = select(Run).where(Run.tenant_id == tenant.id)
    if state is not None:
        query = query.where(Run.state == state)
    rows = session.scalars(query.order_by(Run.created_at.desc()).limit(limit))
    return [run_out(r) for r in rows]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: str, tenant: TenantDep, session: DB) -> RunOut:
    return run_out(own_run(session, tenant, run_id))


@router.delete("/runs/{run_id}", response_model=RunOut)
def cancel_run(run_id: str, tenant: TenantDep, session: DB) -> RunOut:
    """Cancel a queued or running run (a running one stops at its next progress point);
    an ended run is deleted with its results (frees stored bytes)."""
    run = own_run(session, tenant, run_id)
    out = run_out(run)
    if run.state in TERMINAL:
        result = session.get(RunResult, run_id)
        if result is not None:
            session.delete(result)
            session.flush()
        session.delete(run)
        session.commit()
        return out
    run.state, run.finished_at, run.lease = "cancelled", now_s(), None
    session.commit()
    return run_out(run)


def _result(session: Session, tenant: Tenant, run_id: str) -> RunResult:
    run = own_run(session, tenant, run_id)
    result = session.get(RunResult, run_id)
    if result is None:
        raise HTTPException(409, f"run {run_id!r} is {run.state}: no results"
                                 + (f" ({run.error})" if run.error else ""))
    return result


@router.get("/runs/{run_id}/summary")
def run_summary(run_id: str, tenant: TenantDep, session: DB) -> Response:
    """The summary JSON, byte for byte what ``gputwin simulate --json`` prints."""
    text = _result(session, tenant, run_id).summary_json
    return Response(text, media_type="application/json")


@router.get("/runs/{run_id}/report", response_class=HTMLResponse)
def run_report(run_id: str, tenant: TenantDep, session: DB) -> HTMLResponse:
    html = _result(session, tenant, run_id).report_html
    if html is None:
        raise HTTPException(404, "this kind of run has no report")
    return HTMLResponse(html)


@router.get("/runs/{run_id}/jobs")
def run_jobs(run_id: str, tenant: TenantDep, session: DB,
             format: str = Query("csv", pattern="^(csv|parquet)$")) -> Response:
    """One row per job (per request for serving runs): CSV, or Parquet with pyarrow."""
    csv_text = _result(session, tenant, run_id).jobs_csv
    if csv_text is None:
        raise HTTPException(404, "this kind of run has no jobs table")
    if format == "csv":
        return Response(csv_text, media_type="text/csv")
    return Response(_parquet(csv_text), media_type="application/vnd.apache.parquet")


def _parquet(csv_text: str) -> bytes:
    try:
        import pyarrow as pa  # type: ignore[import-untyped, import-not-found, unused-ignore]
        import pyarrow.csv as pacsv  # type: ignore[import-untyped, import-not-found, unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:
        raise HTTPException(406, "Parquet needs pyarrow on the server; ask for CSV") from None
    table = pacsv.read_csv(pa.BufferReader(csv_text.encode("utf-8")))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


@router.get("/runs/{run_id}/events")
async def run_events(run_id: str, tenant: TenantDep, request: Request) -> StreamingResponse:
    """Server-sent events: ``data: {"state": ..., "progress": ...}`` until the run ends."""
    sessions = request.app.state.sessions
    with sessions() as session:
        own_run(session, tenant, run_id)

    async def stream() -> AsyncIterator[str]:
        last = None
        while not await request.is_disconnected():
            with sessions() as session:
                run = session.get(Run, run_id)
                now = (run.state, run.progress) if run is not None else ("gone", 0.0)
            if now != last:
                last = now
                yield f"data: {json.dumps({'state': now[0], 'progress': now[1]})}\n\n"
            if now[0] in (*TERMINAL, "gone"):
                return
            await asyncio.sleep(0.25)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


def register(app: FastAPI) -> None:
    from gputwin.server import dashboard, dashboard_twins, metrics, routes_more, twins

    app.state.twins = twins.Registry()

    app.include_router(router)
    app.include_router(routes_more.router)
    app.include_router(dashboard.router)
    app.include_router(dashboard_twins.router)
    app.include_router(metrics.router)
    app.include_router(twins.router)
