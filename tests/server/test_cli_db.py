"""`gputwin server ... add-tenant`: the database named is the one written, and one that
cannot be opened is an error at --db (exit 2), not a SQLAlchemy traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gputwin.cli.main import main
from gputwin.server.db import make_engine, sessions
from gputwin.server.models import Tenant


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # errors exit through SystemExit
        code = exc.code
    return int(code or 0), capsys.readouterr().err


def _tenants(db: Path) -> list[str]:
    engine = make_engine(f"sqlite:///{db}")
    with sessions(engine)() as session:
        return list(session.scalars(select(Tenant.name)))


def test_add_tenant_uses_the_db_given_to_the_server_group(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # was: the group's --db was ignored and the tenant went to ./gputwin-server.db
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "twin.db"
    code, err = run_cli(["server", "--db", f"sqlite:///{db}", "add-tenant", "alice"], capsys)
    assert code == 0, err
    assert _tenants(db) == ["alice"]
    assert not (tmp_path / "gputwin-server.db").exists()


def test_add_tenant_own_db_option_wins(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    group, own = tmp_path / "group.db", tmp_path / "own.db"
    code, err = run_cli(["server", "--db", f"sqlite:///{group}", "add-tenant", "bob",
                         "--db", f"sqlite:///{own}"], capsys)
    assert code == 0, err
    assert _tenants(own) == ["bob"] and not group.exists()


def test_a_database_that_cannot_be_opened_is_an_error_at_db(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: sqlalchemy.exc.OperationalError traceback, exit 1
    db = tmp_path / "missing" / "folder" / "twin.db"
    code, err = run_cli(["server", "add-tenant", "alice", "--db", f"sqlite:///{db}"], capsys)
    assert code == 2
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert "--db: cannot open the database sqlite:///" in err
    assert "unable to open database file" in err


def test_a_file_that_is_not_a_database_is_an_error_at_db(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # was: sqlalchemy.exc.DatabaseError traceback ("file is not a database"), exit 1
    db = tmp_path / "notes.txt"
    db.write_text("not a database, just some text that is long enough to be read\n" * 20)
    code, err = run_cli(["server", "add-tenant", "alice", "--db", f"sqlite:///{db}"], capsys)
    assert code == 2
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert "--db: cannot open the database sqlite:///" in err and "not a database" in err
