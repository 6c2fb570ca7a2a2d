"""``gputwin server``: the twin as a multi-tenant REST service (docs/server.md).

An interface layer like ``cli/``: it calls :mod:`gputwin.api`, ``run/`` and the scenario
loader, and nothing below imports it. Parts: :mod:`.db` (engine, Alembic migrations),
:mod:`.models` (tables), :mod:`.auth` (API keys), :mod:`.app` (FastAPI routes),
:mod:`.worker` (runs executed in worker processes polling the database),
:mod:`.dashboard` (server-rendered pages) and :mod:`.cli` (the click command).
"""
