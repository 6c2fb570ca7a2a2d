"""``gputwin server``: serve the REST API and dashboard; ``add-tenant`` creates API keys."""

from __future__ import annotations

import click

from gputwin.cli.options import Finite
from gputwin.server.db import DEFAULT_DB

_DB_OPTION = click.option("--db", "db_url", default=DEFAULT_DB, show_default=True,
                          help="sqlite:///FILE or postgresql://USER@HOST/DB")


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@_DB_OPTION
@click.option("--workers", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Worker processes executing runs.")
@click.option("--max-body-bytes", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Largest request body accepted (413 above).")
@click.option("--lease-timeout", "lease_timeout_s", type=Finite(2.0), default=10.0,
              show_default=True,
              help="Seconds without a heartbeat after which a running run is re-queued "
                   "(its worker or server died).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Execute runs as Ray tasks on this cluster ('local' starts Ray here); "
                   "needs pip install 'gputwin[ray]'.")
@click.pass_context
def server(ctx: click.Context, host: str, port: int, db_url: str, workers: int,
           max_body_bytes: int, lease_timeout_s: float, ray_address: str | None) -> None:
    """Serve the twin as a multi-tenant REST API with a dashboard (docs/server.md).

    \b
    gputwin server add-tenant alice --db sqlite:///twin.db    # prints alice's API key
    gputwin server --port 8000 --db sqlite:///twin.db
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from gputwin.server.app import create_app
    from gputwin.server.worker import Supervisor, requeue_interrupted, start_workers

    if ray_address is not None:  # fail here, with the install hint, not in every worker
        from gputwin.run.plan_sweep import import_ray

        import_ray()
    app = create_app(db_url, max_body_bytes=max_body_bytes)
    requeued = requeue_interrupted(app.state.engine, lease_timeout_s)
    if requeued:
        click.echo(f"re-queued {requeued} run(s) interrupted by the last shutdown", err=True)
    procs = start_workers(db_url, workers, ray_address)
    keeper = Supervisor(app.state.engine, db_url, procs, lease_timeout_s=lease_timeout_s,
                        ray_address=ray_address)
    keeper.run_in_background()
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        keeper.stop()
        for proc in keeper.procs:
            proc.terminate()
        for proc in keeper.procs:
            proc.join(timeout=5)


@server.command("add-tenant")
@click.argument("name")
@click.option("--db", "db_url", default=None,
              help="sqlite:///FILE or postgresql://USER@HOST/DB  [default: the --db given "
                   f"to `gputwin server`, else {DEFAULT_DB}]")
@click.option("--admin", is_flag=True, help="Give the tenant the admin role.")
@click.option("--max-runs", type=click.IntRange(1), default=4, show_default=True,
              help="Runs the tenant may have queued or running at once.")
@click.option("--max-stored", "max_stored_bytes", type=click.IntRange(0), default=1 << 30,
              show_default=True, help="Bytes of results the tenant may keep.")
@click.pass_context
def add_tenant(ctx: click.Context, name: str, db_url: str | None, admin: bool, max_runs: int,
               max_stored_bytes: int) -> None:
    """Create tenant NAME and print its API key (last line; it is stored only hashed)."""
    from gputwin.server.auth import create_tenant
    from gputwin.server.db import make_engine, migrate, sessions

    if db_url is None:  # `gputwin server --db X add-tenant NAME` writes to X, not the default
        parent = ctx.parent.params.get("db_url") if ctx.parent is not None else None
        db_url = parent or DEFAULT_DB

    engine = make_engine(db_url)
    migrate(engine)
    with sessions(engine)() as session:
        tenant, key = create_tenant(session, name, role="admin" if admin else "user",
                                    max_concurrent_runs=max_runs,
                                    max_stored_bytes=max_stored_bytes)
    click.echo(f"tenant {tenant.name} ({tenant.id}, role {tenant.role}); API key "
               "(shown once):", err=True)
    click.echo(key)
