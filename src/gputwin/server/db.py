"""Database engine and schema migrations.

``sqlite:///FILE`` (default, embedded) or ``postgresql://...`` (needs the ``psycopg``
driver; a bare ``postgresql://`` URL is mapped to it). :func:`migrate` runs Alembic's
``upgrade head`` programmatically at start-up, so a fresh file becomes a current database.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from gputwin.errors import InputError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
DEFAULT_DB = "sqlite:///gputwin-server.db"


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///FILE`` and ``postgresql://...``; raise InputError otherwise."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite://", "postgresql+")):
        return url
    raise InputError("expected sqlite:///FILE or postgresql://USER@HOST/DB", where="--db")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL mode and a busy timeout (several processes)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # no pool: opening a SQLite file is cheap, and a bounded pool shared by the
        # thread pool's requests can starve under load
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               poolclass=NullPool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=40)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine) -> None:
    """``alembic upgrade head`` on ``engine`` (idempotent)."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.exc import DatabaseError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except DatabaseError as exc:  # a SQLite file in a missing or read-only folder, a file
        # that is not a database, a server that refuses the connection
        reason = " ".join(str(exc.orig).split())  # one line
        raise InputError(f"cannot open the database "
                         f"{engine.url.render_as_string(hide_password=True)}: {reason}",
                         where="--db") from None


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
