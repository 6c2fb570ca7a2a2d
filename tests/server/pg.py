"""A throw-away PostgreSQL server for tests (``initdb`` + ``pg_ctl``), one per session.

Skips with a reason where the binaries or the psycopg driver are missing. As root
(containers), the server runs as the ``postgres`` user via ``runuser``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest


def _prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL as")
    if shutil.which("runuser") is None:
        pytest.skip("running as root and `runuser` is missing")
    return ["runuser", "-u", "postgres", "--"]


def pg_server() -> Iterator[str]:
    """Yields the URL of the server's ``postgres`` database; stops the server after."""
    pytest.importorskip("psycopg", reason="PostgreSQL tests need the psycopg driver")
    for tool in ("initdb", "pg_ctl", "postgres"):
        if shutil.which(tool) is None:
            pytest.skip(f"no `{tool}` on PATH: install PostgreSQL to run these tests")
    prefix = _prefix()
    root = tempfile.mkdtemp(prefix="gputwin-pg-")
    os.chmod(root, 0o755)
    if prefix:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = [*prefix]
    subprocess.run([*run, "initdb", "-D", data, "-U", "gputwin", "-A", "trust"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    subprocess.run([*run, "pg_ctl", "-D", data, "-o", opts, "-l", f"{root}/log", "-w",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://gputwin@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run, "pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)



def fresh_database(server_url: str) -> str:
    """A new empty database on the server; returns its URL."""
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + f"/{name}"
