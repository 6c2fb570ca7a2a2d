"""Database tables (SQLAlchemy 2 typed ORM). Migrations live in ``migrations/versions``.

Every row a tenant owns carries ``tenant_id``; every query for a tenant filters on it, so
another tenant's id reads as "not found". Ids are random (``run_<16 hex>``), never sequential.
"""

from __future__ import annotations

import secrets
import time
from typing import Literal, get_args

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RunState = Literal["queued", "running", "done", "failed", "cancelled"]
RUN_STATES: tuple[str, ...] = get_args(RunState)
ACTIVE_STATES = ("queued", "running")
RUN_KINDS = ("simulate", "serve", "estimate-train", "plan")


def new_id(prefix: str) -> str:
    """A random, unguessable id such as ``run_3f9a0c1d2e4b5a69``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def now_s() -> float:
    """Wall-clock time (Unix seconds): the server records when things happened."""
    return time.time()


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="user")
    max_concurrent_runs: Mapped[int] = mapped_column(Integer, default=4)
    max_stored_bytes: Mapped[int] = mapped_column(BigInteger, default=1 << 30)
    created_at: Mapped[float] = mapped_column(Float)


class ScenarioRow(Base):
    __tablename__ = "scenarios"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # cluster | serving
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("tenant_id", "idempotency_key"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    scenario_ref: Mapped[str] = mapped_column(String(200), default="")
    scenario_text: Mapped[str] = mapped_column(Text, default="")
    sets_json: Mapped[str] = mapped_column(Text, default="[]")
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: last sign of life of the worker holding the lease (a stale one is re-queued)
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class RunResult(Base):
    __tablename__ = "results"
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    summary_json: Mapped[str] = mapped_column(Text)
    # large: loaded only when asked for (a summary read must not pull megabytes)
    report_html: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    jobs_csv: Mapped[str | None] = mapped_column(Text, nullable=True, deferred=True)
    stored_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
