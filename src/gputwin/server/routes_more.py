"""Routes for scenarios, tenants (admin) and comparisons."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select

from gputwin.errors import InputError
from gputwin.server import scenarios
from gputwin.server.app import DB, TenantDep, admin_tenant
from gputwin.server.auth import create_tenant
from gputwin.server.models import RunResult, ScenarioRow, Tenant, new_id, now_s
from gputwin.server.routes import own_run
from gputwin.server.schemas import ScenarioIn, ScenarioOut, TenantIn, TenantOut

router = APIRouter(prefix="/v1")
AdminDep = Annotated[Tenant, Depends(admin_tenant)]


def _scenario_out(row: ScenarioRow) -> ScenarioOut:
    return ScenarioOut(id=row.id, name=row.name, kind=row.kind, created_at=row.created_at)


@router.post("/scenarios", status_code=201, response_model=ScenarioOut, tags=["scenarios"])
def add_scenario(body: ScenarioIn, tenant: TenantDep, session: DB) -> ScenarioOut:
    """Store a scenario after validating it as ``gputwin simulate`` would (422 names the
    field and the line of the YAML)."""
    if (body.yaml is None) == (body.scenario is None):
        raise InputError("give exactly one of `yaml` (text) or `scenario` (a mapping)",
                         where="body")
    text = scenarios.to_yaml_text(body.yaml if body.yaml is not None else body.scenario)
    scenarios.load(text)
    kind = "serving" if scenarios.is_serving_text(text) else "cluster"
    row = ScenarioRow(id=new_id("scn"), tenant_id=tenant.id, name=body.name, kind=kind,
                      text=text, created_at=now_s())
    session.add(row)
    session.commit()
    return _scenario_out(row)


@router.get("/scenarios", response_model=list[ScenarioOut], tags=["scenarios"])
def list_scenarios(tenant: TenantDep, session: DB) -> list[ScenarioOut]:
    rows = session.scalars(select(ScenarioRow).where(ScenarioRow.tenant_id == tenant.id)
                           .order_by(ScenarioRow.created_at))
    return [_scenario_out(r) for r in rows]


@router.get("/scenarios/{scenario_id}", tags=["scenarios"])
def get_scenario(scenario_id: str, tenant: TenantDep, session: DB) -> dict[str, Any]:
    row = session.scalar(select(ScenarioRow).where(ScenarioRow.id == scenario_id,
                                                   ScenarioRow.tenant_id == tenant.id))
    if row is None:
        raise HTTPException(404, f"no scenario {scenario_id!r}")
    return {**_scenario_out(row).model_dump(), "yaml": row.text}


@router.get("/tenants", response_model=list[TenantOut], tags=["admin"])
def list_tenants(_admin: AdminDep, session: DB) -> list[TenantOut]:
    rows = session.scalars(select(Tenant).order_by(Tenant.created_at))
    return [_tenant_out(t) for t in rows]


@router.post("/tenants", status_code=201, response_model=TenantOut, tags=["admin"])
def add_tenant(body: TenantIn, _admin: AdminDep, session: DB) -> TenantOut:
    """Create a tenant; the answer carries its API key, shown this once."""
    tenant, key = create_tenant(session, body.name, role=body.role,
                                max_concurrent_runs=body.max_concurrent_runs,
                                max_stored_bytes=body.max_stored_bytes)
    return _tenant_out(tenant, key)


def _tenant_out(t: Tenant, key: str | None = None) -> TenantOut:
    return TenantOut(id=t.id, name=t.name, role=t.role, max_concurrent_runs=t.max_concurrent_runs,
                     max_stored_bytes=t.max_stored_bytes, api_key=key)


@router.get("/compare", tags=["runs"])
def compare(tenant: TenantDep, session: DB,
            runs: str = Query(..., description="run ids, comma-separated (2 to 10)"),
            ) -> dict[str, Any]:
    """Key figures of finished runs side by side, with each one's change from the first."""
    ids = [r.strip() for r in runs.split(",") if r.strip()]
    if not 2 <= len(ids) <= 10:
        raise InputError(f"expected 2 to 10 run ids (got {len(ids)})", where="runs")
    summaries = []
    for run_id in ids:
        run = own_run(session, tenant, run_id)
        result = session.get(RunResult, run_id)
        if result is None:
            raise HTTPException(409, f"run {run_id!r} is {run.state}: nothing to compare")
        summaries.append(json.loads(result.summary_json))
    return {"runs": ids, "metrics": compare_rows(summaries)}


def compare_rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from gputwin.run.compare_metrics import METRICS

    rows = []
    for m in METRICS:
        if not m.path:
            continue
        values = [_dig(s, m.path) for s in summaries]
        if all(v is None for v in values):
            continue
        base = values[0]
        delta = [None if v is None or not base else (v - base) / abs(base) for v in values]
        rows.append({"key": m.key, "label": m.label, "unit": m.unit, "values": values,
                     "change_frac": delta, "higher_is_better": m.higher_is_better})
    return rows


def _dig(summary: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = summary
    for part in path:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return float(value) if isinstance(value, int | float) else None
