"""Request and response bodies of the REST API (pydantic; extra fields are rejected)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gputwin.input_model import InputModel

RunKind = Literal["simulate", "serve", "estimate-train", "plan"]


class _In(InputModel):
    model_config = ConfigDict(frozen=False, extra="forbid", populate_by_name=True)


class RunIn(_In):
    scenario: str | dict[str, Any] | None = Field(
        default=None, description="a scenario id, a bundled name (\"default\"), YAML text or "
        "a mapping; default: the bundled 'default' (simulate) or 'serve-default' (serve)")
    sets: dict[str, Any] = Field(default_factory=dict, alias="set",
                                 description="overrides, as `--set KEY=VALUE`")
    kind: RunKind = "simulate"
    params: dict[str, Any] = Field(
        default_factory=dict, description="the request of estimate-train / plan runs "
        "(gputwin.api.TrainRequest / TrainPlanRequest fields)")
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ScenarioIn(_In):
    name: str = Field(min_length=1, max_length=200)
    yaml: str | None = Field(default=None, description="the scenario as YAML text")
    scenario: dict[str, Any] | None = Field(default=None, description="... or as a mapping")


class TenantIn(_In):
    name: str = Field(min_length=1, max_length=100)
    role: Literal["user", "admin"] = "user"
    max_concurrent_runs: int = Field(default=4, ge=1, le=1000)
    max_stored_bytes: int = Field(default=1 << 30, ge=0)


class Created(BaseModel):
    id: str


class RunOut(BaseModel):
    id: str
    kind: str
    scenario: str
    state: str
    progress: float
    error: str | None
    attempts: int
    created_at: float
    started_at: float | None
    finished_at: float | None


class ScenarioOut(BaseModel):
    id: str
    name: str
    kind: str
    created_at: float


class TenantOut(BaseModel):
    id: str
    name: str
    role: str
    max_concurrent_runs: int
    max_stored_bytes: int
    api_key: str | None = None
