"""``gputwin estimate collective`` (minimal placeholder; full version follows)."""

from __future__ import annotations

import click


@click.command()
def collective() -> None:
    """Time of one collective (all-reduce, all-gather, ...) on a GPU fabric."""
    raise click.UsageError("not implemented yet")
