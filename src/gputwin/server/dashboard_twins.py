"""Dashboard pages for live twins: list and create, and a twin page that steps the twin,
submits jobs and fails nodes through the REST API (the sign-in cookie authorises it)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from gputwin.server.app import DB
from gputwin.server.dashboard import _tenant, page

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/twins")
def twins_page(request: Request, session: DB) -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    held = request.app.state.twins.twins
    rows = "".join(f"<li><a href='/ui/twins/{tid}'>{tid}</a></li>" for tid, h in held.items()
                   if h.tenant_id == tenant.id)
    return page("live twins", f"<ul id='twins'>{rows}</ul><button id='new'>new twin of the "
                "default scenario</button>" + _NEW_JS)


_NEW_JS = """<script>document.getElementById('new').onclick=async function(){const r=await
fetch('/v1/twins',{method:'POST',headers:{'Content-Type':'application/json'},
body:JSON.stringify({scenario:'default'})});const d=await r.json();
location.href='/ui/twins/'+d.id;};</script>"""


@router.get("/twins/{twin_id}")
def twin_page(twin_id: str, request: Request, session: DB) -> Response:
    tenant = _tenant(request, session)
    if tenant is None:
        return RedirectResponse("/ui/login", status_code=303)
    request.app.state.twins.get(tenant, twin_id)  # 404 unless it is the tenant's
    body = ("<pre id='state'></pre><p><button data-s='3600'>+1 h</button> <button "
            "data-s='86400'>+1 day</button> <button id='job'>submit 8 GPUs × 2 h</button> "
            "<label>node <input id='node' value='0' size='3'></label> <button id='fail'>"
            "fail</button> <button id='restore'>restore</button></p>")
    return page(f"twin {escape(twin_id)}", body + _TWIN_JS.replace("TWIN_ID", twin_id))


_TWIN_JS = """<script>const base='/v1/twins/TWIN_ID';
async function call(path,body){const r=await fetch(base+path,{method:body===undefined?'GET':
'POST',headers:{'Content-Type':'application/json'},body:body===undefined?undefined:
JSON.stringify(body)});return r.json();}
async function show(){document.getElementById('state').textContent=JSON.stringify(
await call(''),null,2);}
document.querySelectorAll('button[data-s]').forEach(b=>b.onclick=async()=>{await call('/step',
{seconds:Number(b.dataset.s)});show();});
document.getElementById('job').onclick=async()=>{await call('/jobs',{num_gpus:8,duration_s:7200});
await call('/step',{seconds:1});show();};
for(const a of ['fail','restore']){document.getElementById(a).onclick=async()=>{await call(
'/nodes/'+document.getElementById('node').value+'/'+a,{});show();};}
show();</script>"""
