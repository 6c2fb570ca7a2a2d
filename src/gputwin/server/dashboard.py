"""Server-rendered dashboard: run list, run page (report + live progress), compare page.

Plain HTML and a little JavaScript (no build step); figures use the plotly.js the HTML
report embeds, served once at ``/ui/plotly.js``. A tenant signs in with its API key, kept in
an HttpOnly, SameSite=Strict cookie that the API accepts like the Bearer header.
"""

from __future__ import annotations

import json
from functools import cache
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from gputwin.errors import InputError
from gputwin.server.app import COOKIE, DB, current_tenant
from gputwin.server.auth import tenant_for_key
from gputwin.server.models import Run, RunResult, Tenant
from gputwin.server.routes import own_run, submit_run
from gputwin.server.routes_more import compare_rows
from gputwin.server.scenarios import bundled_text, is_serving_text
from gputwin.server.schemas import RunIn

router = APIRouter(prefix="/ui", include_in_schema=False)
CSS = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:
collapse}td,th{padding:.3rem .7rem;border-bottom:1px solid #ddd;text-align:left}
.bar{width:20rem;height:1rem;background:#eee}.fill{height:100%;background:#3b82f6}
nav a{margin-right:1rem}.err{color:#b91c1c}iframe{width:100%;height:80vh;border:1px solid #ddd}
"""


def page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)} · gputwin"
        f"</title><link rel='icon' href='/ui/favicon.ico'><style>{CSS}</style></head><body>"
        "<nav><a href='/ui/runs'>runs</a><a href='/ui/twins'>live twins</a>"
        f"<a href='/ui/logout'>sign out</a></nav><h1>{escape(title)}</h1>{body}</body></html>")


def _tenant(request: Request, session: DB) -> Tenant | None:
    try:
        return current_tenant(request, None)
    except HTTPException:
        return None


@router.get("/login")
def login_form(error: str = "") -> HTMLResponse:
    msg = f"<p class='err'>{escape(error)}</p>" if error else ""
    return page("sign in", f"{msg}<form method='post' action='/ui/login'><label>API key "
                "<input name='key' type='password' size='60' autocomplete='off'></label> "
                "<button>sign in</button></form>")


@router.post("/login")
async def login(request: Request, session: DB) -> Response:
    key = parse_qs((await request.body()).decode("utf-8", "replace")).get("key", [""])[0]
    if tenant_for_key(session, key.strip()) is None:
        return RedirectResponse("/ui/login?error=unknown+API+key", status_code=303)
    resp = RedirectResponse("/ui/runs", status_code=303)
    resp.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict")
    return resp


@router.get("/logout")
def logout() -> Response:
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("")
@router.get("/runs")
def runs_page(request: Request, session: DB) -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    runs = session.scalars(select(Run).where(Run.tenant_id == tenant.id)
                           .order_by(Run.created_at.desc()).limit(200)).all()
    rows = "".join(_run_row(session, r) for r in runs)
    table = ("<form action='/ui/compare'><table id='runs'><tr><th></th><th>run</th><th>kind"
             "</th><th>scenario</th><th>state</th><th>progress</th><th>key numbers</th></tr>"
             f"{rows}</table><button>compare selected</button></form>")
    return page(f"runs of {tenant.name}", _submit_form() + table + _COMPARE_JS)


_COMPARE_JS = """<script>document.querySelector('form[action="/ui/compare"]').onsubmit=
function(e){e.preventDefault();const ids=[...document.querySelectorAll('input[name=run]:checked'
)].map(c=>c.value);location.href='/ui/compare?runs='+ids.join(',');};</script>"""


def _submit_form() -> str:
    from gputwin.scenario.paths import bundled_scenarios

    options = "".join(f"<option>{escape(n)}</option>" for n in bundled_scenarios())
    return ("<form id='submit' method='post' action='/ui/runs'><select name='scenario'>"
            f"{options}</select> <label>--set (one KEY=VALUE per line) <textarea name='set' "
            "rows='2' cols='40'></textarea></label> <button>submit run</button></form>")


def _run_row(session: DB, run: Run) -> str:
    numbers = ""
    if run.state == "done":
        result = session.get(RunResult, run.id)
        numbers = _key_numbers(json.loads(result.summary_json)) if result else ""
    pct = int(run.progress * 100)
    return (f"<tr><td><input type='checkbox' name='run' value='{run.id}'></td><td><a href="
            f"'/ui/runs/{run.id}'>{run.id}</a></td><td>{run.kind}</td><td>"
            f"{escape(run.scenario_ref)}</td><td class='state'>{run.state}</td><td>{pct} %</td>"
            f"<td>{escape(numbers)}</td></tr>")


def _key_numbers(s: dict[str, Any]) -> str:
    parts = []
    if isinstance(s.get("num_jobs"), int):
        parts.append(f"{s['num_jobs']} jobs")
    jct = (s.get("jct_s") or {}).get("mean") if isinstance(s.get("jct_s"), dict) else None
    if isinstance(jct, int | float):
        parts.append(f"JCT mean {jct / 3600:.1f} h")
    alloc = s.get("gpu_allocation_mean_frac")
    if isinstance(alloc, int | float):
        parts.append(f"GPU alloc {alloc:.0%}")
    return ", ".join(parts)


@router.post("/runs")
async def submit_from_page(request: Request, session: DB) -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    name = form.get("scenario", ["default"])[0]
    lines = [ln.strip() for ln in form.get("set", [""])[0].splitlines() if ln.strip()]
    sets = dict(ln.split("=", 1) for ln in lines if "=" in ln)
    kind = "serve" if is_serving_text(bundled_text(name) or "") else "simulate"
    try:
        bad = next((ln for ln in lines if "=" not in ln), None)
        if bad is not None:  # was dropped without a word: the run ran without it
            raise InputError(f"override {bad!r}: expected KEY=VALUE, one per line",
                             where="set")
        body = RunIn.model_validate({"scenario": name, "set": sets, "kind": kind})
        created = submit_run(body, tenant, session, Response())
    except (InputError, HTTPException) as exc:
        text = exc.detail if isinstance(exc, HTTPException) else str(exc)
        return page("run not submitted", f"<p class='err'>{escape(str(text))}</p>")
    return RedirectResponse(f"/ui/runs/{created.id}", status_code=303)


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, session: DB) -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    run = own_run(session, tenant, run_id)
    pct = int(run.progress * 100)
    body = (f"<p>{run.kind} of <b>{escape(run.scenario_ref)}</b>: <span id='state'>"
            f"{run.state}</span> <div class='bar'><div id='fill' class='fill' "
            f"style='width:{pct}%'></div></div></p>")
    if run.error:
        body += f"<p class='err'>{escape(run.error)}</p>"
    if run.state == "done":
        body += (f"<p><a href='/v1/runs/{run.id}/summary'>summary.json</a> · <a href='/v1/"
                 f"runs/{run.id}/jobs'>jobs.csv</a></p><iframe src='/v1/runs/{run.id}/report'"
                 " title='report'></iframe>")
    elif run.state in ("queued", "running"):
        body += _LIVE_JS.replace("RUN_ID", run.id)
    return page(f"run {run.id}", body)


_LIVE_JS = """<script>const es=new EventSource('/v1/runs/RUN_ID/events');es.onmessage=function(m)
{const d=JSON.parse(m.data);document.getElementById('state').textContent=d.state;
document.getElementById('fill').style.width=Math.round(d.progress*100)+'%';
if(['done','failed','cancelled'].includes(d.state)){es.close();location.reload();}};</script>"""


@router.get("/compare")
def compare_page(request: Request, session: DB, runs: str = "") -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    ids = [r for r in runs.split(",") if r]
    summaries = []
    for run_id in ids:
        own_run(session, tenant, run_id)
        result = session.get(RunResult, run_id)
        if result is not None:
            summaries.append((run_id, json.loads(result.summary_json)))
    if len(summaries) < 2:
        return page("compare", "<p class='err'>pick at least two finished runs</p>")
    rows = compare_rows([s for _, s in summaries])
    head = "".join(f"<th>{rid}</th>" for rid, _ in summaries)
    body = "".join(f"<tr><td>{escape(m['label'])}</td>" + "".join(
        f"<td>{_fmt(v, m['unit'])}</td>" for v in m["values"]) + "</tr>" for m in rows)
    plot = _compare_plot([rid for rid, _ in summaries], rows)
    return page("compare", f"<table id='compare'><tr><th>metric</th>{head}</tr>{body}</table>"
                + plot)


def _fmt(v: float | None, unit: str) -> str:
    from gputwin.units import format_duration

    if v is None:
        return "-"
    if unit == "s":
        return format_duration(v)
    return f"{v:.1%}" if unit == "frac" else f"{v:,.4g}"


def _compare_plot(ids: list[str], rows: list[dict[str, Any]]) -> str:
    timed = [m for m in rows if m["unit"] == "s"]
    traces = [{"type": "bar", "name": rid, "x": [m["label"] for m in timed],
               "y": [None if m["values"][i] is None else m["values"][i] / 3600 for m in timed]}
              for i, rid in enumerate(ids)]
    data = json.dumps(traces).replace("</", "<\\/")
    return ("<div id='plot' style='height:420px'></div><script src='/ui/plotly.js'></script>"
            f"<script>Plotly.newPlot('plot',{data},{{barmode:'group',yaxis:{{title:'hours'}}}});"
            "</script>")


@cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)


@router.get("/plotly.js")
def plotly_js() -> Response:
    return Response(_plotly_js(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=86400"})
