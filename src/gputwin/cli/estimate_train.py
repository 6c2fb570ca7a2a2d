"""``gputwin estimate train`` (minimal placeholder; full version follows)."""

from __future__ import annotations

import click


@click.command()
def train() -> None:
    """Step time, MFU, memory and time-to-train of one training job."""
    raise click.UsageError("not implemented yet")
