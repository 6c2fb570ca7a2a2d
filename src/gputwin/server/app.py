"""The FastAPI application: auth, limits, error mapping; routes live in :mod:`.routes`.

``create_app(db_url)`` migrates the database and returns the app; it starts no workers
(``gputwin server`` does, see :mod:`.worker`), so tests drive it in-process through
httpx's ASGI transport and execute runs with :func:`gputwin.server.worker.run_pending`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gputwin import __version__
from gputwin.errors import InputError
from gputwin.server.auth import tenant_for_key
from gputwin.server.db import make_engine, migrate, sessions
from gputwin.server.models import Tenant

DEFAULT_MAX_BODY_BYTES = 1 << 20
COOKIE = "gputwin_key"
_bearer = HTTPBearer(auto_error=False, description="the tenant's API key (gtw_...)")


async def db(request: Request) -> AsyncIterator[Session]:
    """A session per request. Async on purpose: its teardown (returning the connection to
    the pool) then runs on the event loop, not in the thread pool, which under load can
    be full of requests waiting for a connection (a deadlock with a sync generator)."""
    with request.app.state.sessions() as session:
        yield session


DB = Annotated[Session, Depends(db)]


def current_tenant(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Tenant:
    """The tenant of the ``Authorization: Bearer KEY`` header (or the dashboard cookie).

    Uses its own short session: a connection held from here until the route's thread
    runs could, under load, deadlock the thread pool against the connection pool."""
    key = creds.credentials if creds is not None else request.cookies.get(COOKIE, "")
    tenant = None
    if key:
        with request.app.state.sessions() as session:
            tenant = tenant_for_key(session, key)
    if tenant is None:
        raise HTTPException(401, "missing or unknown API key: send Authorization: Bearer KEY",
                            headers={"WWW-Authenticate": "Bearer"})
    return tenant


TenantDep = Annotated[Tenant, Depends(current_tenant)]


def admin_tenant(tenant: TenantDep) -> Tenant:
    if tenant.role != "admin":
        raise HTTPException(403, "this needs an admin key")
    return tenant


def one_line(errors: Sequence[Any]) -> dict[str, Any]:
    """FastAPI's list of validation errors as one ``{"detail", "where"}`` like InputError."""
    first: Any = errors[0] if errors else {"loc": ["body"], "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    msg = str(first.get("msg", "invalid"))
    cause = (first.get("ctx") or {}).get("error")
    if cause and str(cause) not in msg:
        msg += f": {cause}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return {"detail": f"{where}: {msg}{more}", "where": where}


def _one_line_errors_in_schema(app: FastAPI) -> None:
    """Document 422 answers as ``{"detail": str, "where": str | null}`` (what they are)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = original()
            schema.setdefault("components", {}).setdefault("schemas", {})[
                "HTTPValidationError"] = {
                "title": "Error", "type": "object", "required": ["detail"],
                "properties": {"detail": {"type": "string"},
                               "where": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class BodyLimit:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        # read the whole body first (it is small by construction), then replay it
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
        body = b"".join(chunks)
        sent = [False]

        async def replay() -> Message:
            if not sent[0]:
                sent[0] = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        msg = f"request body too large: the limit is {self.max_bytes} bytes"
        await JSONResponse({"detail": msg}, status_code=413)(scope, receive, send)


def create_app(db_url: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """The app over ``db_url`` (migrated to the current schema first)."""
    engine = make_engine(db_url)
    migrate(engine)
    app = FastAPI(title="gputwin", version=__version__,
                  description="A digital twin of GPU clouds as a multi-tenant service.")
    app.state.engine = engine
    app.state.sessions = sessions(engine)

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "where": exc.where}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(one_line(exc.errors()), status_code=422)

    _one_line_errors_in_schema(app)

    @app.get("/v1/health", tags=["meta"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/runs", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:  # browsers ask for it (the report pages too)
        return Response(status_code=204)

    from gputwin.server import routes

    routes.register(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
