"""Server tests need the ``server`` extra; without it they are not collected (say why)."""

from __future__ import annotations

import importlib.util

MISSING = [m for m in ("fastapi", "sqlalchemy", "alembic", "httpx", "uvicorn")
           if importlib.util.find_spec(m) is None]
if MISSING:  # pip install -e '.[server]' (or '.[test]') to run them
    collect_ignore_glob = ["test_*.py"]
else:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest
    from tests.server import pg
    from tests.server.builders import Twin, make_twin

    @pytest.fixture(scope="session")
    def pg_server() -> Iterator[str]:
        """A throw-away PostgreSQL server (skips with a reason where there is none)."""
        yield from pg.pg_server()

    @pytest.fixture()
    def pg_url(pg_server: str) -> str:
        """A fresh, empty database on it."""
        return pg.fresh_database(pg_server)

    @pytest.fixture()
    def twin(tmp_path: Path) -> Iterator[Twin]:
        """An app over a fresh SQLite file with tenants alice, bob (users) and root (admin)."""
        t = make_twin(f"sqlite:///{tmp_path / 'twin.db'}")
        yield t
        t.client.close()
        t.app.state.engine.dispose()
