"""``/v1/twins``: live cluster twins held in the web process (:class:`LiveTwin`).

A twin advances on demand (``step``, ``run-until``) or with the wall clock (``speed``:
simulated seconds per wall second, caught up lazily on each request). Twins live in
memory: they end with the server process (runs, not twins, are the durable record). Each
request takes the twin's lock; advancing is bounded by ``MAX_EVENTS`` per request.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import ConfigDict, Field

from gputwin.input_model import InputModel
from gputwin.server import scenarios
from gputwin.server.app import DB, TenantDep
from gputwin.server.metrics import family
from gputwin.server.models import Tenant, new_id
from gputwin.server.routes import scenario_text
from gputwin.server.schemas import Created

router = APIRouter(prefix="/v1/twins", tags=["twins"])
MAX_EVENTS = 2_000_000
MAX_TWINS_PER_TENANT = 4


class TwinIn(InputModel):
    model_config = ConfigDict(frozen=False, extra="forbid", populate_by_name=True)
    scenario: str | dict[str, Any] | None = None
    sets: dict[str, Any] = Field(default_factory=dict, alias="set")
    speed: float = Field(default=0.0, ge=0.0, le=1e7,
                         description="simulated seconds per wall second; 0 = on demand only")


class StepIn(InputModel):
    model_config = ConfigDict(frozen=False, extra="forbid")
    seconds: float | None = Field(default=None, gt=0, le=1e9)
    time_s: float | None = Field(default=None, ge=0, le=1e10)


class JobIn(InputModel):
    model_config = ConfigDict(frozen=False, extra="forbid")
    num_gpus: int = Field(gt=0, le=1_000_000)
    duration_s: float = Field(gt=0, le=1e9)
    tenant: str = Field(default="live", max_length=100)
    priority: int = 0


@dataclass
class Held:
    tenant_id: str
    twin: Any  # gputwin.run.live.LiveTwin
    speed: float
    wall_start: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def catch_up(self) -> None:
        if self.speed > 0:
            target = (time.monotonic() - self.wall_start) * self.speed
            if target > self.twin.now_s:
                self.twin.run_until(target, MAX_EVENTS)


class Registry:
    def __init__(self) -> None:
        self.twins: dict[str, Held] = {}

    def get(self, tenant: Tenant, twin_id: str) -> Held:
        held = self.twins.get(twin_id)
        if held is None or held.tenant_id != tenant.id:
            raise HTTPException(404, f"no twin {twin_id!r}")
        return held

    def metric_lines(self, scope: str | None, names: dict[str, str]) -> list[str]:
        rows = [(tid, h) for tid, h in self.twins.items() if scope in (None, h.tenant_id)]
        states = []
        for tid, h in rows:
            with h.lock:
                states.append(({"twin": tid, "tenant": names.get(h.tenant_id, "")},
                               h.twin.state()))
        lines: list[str] = []
        for key, help_text in (("gpus_total", "GPUs in the twin's cluster."),
                               ("gpus_allocated", "GPUs allocated to jobs."),
                               ("queue_length", "Jobs waiting in the scheduler queue."),
                               ("running_jobs", "Jobs running."),
                               ("nodes_down", "Nodes failed (down)."),
                               ("gpu_power_w", "GPU power drawn now (W), without PUE."),
                               ("time_s", "The twin's simulated time.")):
            name = "gputwin_twin_" + {"time_s": "sim_time_seconds",
                                      "gpu_power_w": "gpu_power_watts"}.get(key, key)
            lines += family(name, "gauge", help_text, ((labels, float(st[key]))
                                                       for labels, st in states
                                                       if st[key] is not None))
        return lines


def registry(request: Request) -> Registry:
    reg: Registry = request.app.state.twins
    return reg


@router.post("", status_code=201, response_model=Created)
def create_twin(body: TwinIn, tenant: TenantDep, session: DB, request: Request) -> Created:
    """Build a live twin from a cluster scenario (id, bundled name, YAML or mapping)."""
    from gputwin.run.live import LiveTwin

    reg = registry(request)
    if sum(h.tenant_id == tenant.id for h in reg.twins.values()) >= MAX_TWINS_PER_TENANT:
        raise HTTPException(429, f"quota: at most {MAX_TWINS_PER_TENANT} live twins")
    _, text = scenario_text(session, tenant, body.scenario)
    if scenarios.is_serving_text(text):
        raise HTTPException(422, "live twins take a cluster scenario, not a serving one")
    sc = scenarios.load(text, scenarios.set_list(body.sets))
    twin_id = new_id("twin")
    reg.twins[twin_id] = Held(tenant.id, LiveTwin(sc), body.speed)
    return Created(id=twin_id)


@router.get("")
def list_twins(tenant: TenantDep, request: Request) -> list[dict[str, Any]]:
    reg = registry(request)
    return [{"id": tid, "speed": h.speed} for tid, h in reg.twins.items()
            if h.tenant_id == tenant.id]


@router.get("/{twin_id}")
def twin_state(twin_id: str, tenant: TenantDep, request: Request) -> dict[str, Any]:
    held = registry(request).get(tenant, twin_id)
    with held.lock:
        held.catch_up()
        return {"id": twin_id, **held.twin.state()}


@router.post("/{twin_id}/step")
def step(twin_id: str, body: StepIn, tenant: TenantDep, request: Request) -> dict[str, Any]:
    """Advance by ``seconds`` or to ``time_s`` (run-until); answers the new state."""
    held = registry(request).get(tenant, twin_id)
    if (body.seconds is None) == (body.time_s is None):
        raise HTTPException(422, "give exactly one of `seconds` or `time_s`")
    with held.lock:
        held.catch_up()
        target = body.time_s if body.time_s is not None else held.twin.now_s + body.seconds
        fired = held.twin.run_until(target, MAX_EVENTS)
        return {"id": twin_id, "events": fired, **held.twin.state()}


@router.post("/{twin_id}/jobs", status_code=201)
def submit_job(twin_id: str, body: JobIn, tenant: TenantDep,
               request: Request) -> dict[str, str]:
    from gputwin.run.live import LiveJob

    held = registry(request).get(tenant, twin_id)
    with held.lock:
        held.catch_up()
        job_id = held.twin.submit(LiveJob(body.num_gpus, body.duration_s, body.tenant,
                                          body.priority))
    return {"job_id": job_id}


@router.post("/{twin_id}/nodes/{node}/{action}")
def node_action(twin_id: str, node: int, action: Literal["drain", "fail", "restore"],
                tenant: TenantDep, request: Request) -> dict[str, Any]:
    """``drain`` (finish its jobs, take no new), ``fail`` (down: its jobs are re-queued)
    or ``restore`` (up)."""
    health = {"drain": "draining", "fail": "down", "restore": "up"}[action]
    held = registry(request).get(tenant, twin_id)
    with held.lock:
        held.catch_up()
        stopped = held.twin.set_node_health(node, health)
        return {"node": node, "health": health, "stopped_jobs": stopped}


@router.delete("/{twin_id}", status_code=204)
def delete_twin(twin_id: str, tenant: TenantDep, request: Request) -> None:
    reg = registry(request)
    reg.get(tenant, twin_id)
    del reg.twins[twin_id]
