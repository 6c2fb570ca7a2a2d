"""API keys: ``gtw_`` + 32 random bytes (URL-safe), stored only as a SHA-256 hash.

A key is shown once, when the tenant is created. A 256-bit random token needs no slow
hash (there is nothing to brute-force), so lookups are one indexed equality on the hash.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from gputwin.errors import InputError
from gputwin.server.models import Tenant, new_id, now_s

KEY_PREFIX = "gtw_"
ROLES = ("user", "admin")


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_tenant(session: Session, name: str, *, role: str = "user",
                  max_concurrent_runs: int = 4, max_stored_bytes: int = 1 << 30,
                  ) -> tuple[Tenant, str]:
    """Add a tenant; returns it and its API key (the only time the key exists in clear).

    Raises InputError for an empty or taken name or an unknown role."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("expected 1 to 100 characters", where="tenant name")
    if role not in ROLES:
        raise InputError(f"expected one of {', '.join(ROLES)} (got {role!r})", where="role")
    if session.scalar(select(Tenant).where(Tenant.name == name)) is not None:
        raise InputError(f"tenant {name!r} exists already", where="tenant name")
    key = new_key()
    tenant = Tenant(id=new_id("ten"), name=name, key_hash=hash_key(key), role=role,
                    max_concurrent_runs=max_concurrent_runs,
                    max_stored_bytes=max_stored_bytes, created_at=now_s())
    session.add(tenant)
    session.commit()
    return tenant, key


def tenant_for_key(session: Session, key: str) -> Tenant | None:
    """The tenant whose key this is, or ``None`` (compares hashes, never keys)."""
    if not key.startswith(KEY_PREFIX):
        return None
    return session.scalar(select(Tenant).where(Tenant.key_hash == hash_key(key)))
