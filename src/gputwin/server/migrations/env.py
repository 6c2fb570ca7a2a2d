"""Alembic environment: runs on the connection that :func:`gputwin.server.db.migrate` passes
in ``config.attributes["connection"]`` (no ini file, no URL in a log line)."""

from __future__ import annotations

from alembic import context

from gputwin.server.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
