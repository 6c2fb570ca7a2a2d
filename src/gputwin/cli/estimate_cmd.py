"""``gputwin estimate``: analytical estimates (each subcommand in its own module)."""

from __future__ import annotations

import click

from gputwin.cli.estimate_collective import collective
from gputwin.cli.estimate_dataflow import dataflow
from gputwin.cli.estimate_energy import energy
from gputwin.cli.estimate_fat_tree_optics import fat_tree_optics_cmd
from gputwin.cli.estimate_kernel import kernel
from gputwin.cli.estimate_optics import optics
from gputwin.cli.estimate_rag import rag
from gputwin.cli.estimate_serve import serve
from gputwin.cli.estimate_tco import tco
from gputwin.cli.estimate_train import train
from gputwin.cli.estimate_video import video


@click.group()
def estimate() -> None:
    """Analytical estimates from the performance models (no simulation)."""


estimate.add_command(collective)
estimate.add_command(train)
estimate.add_command(serve)
estimate.add_command(energy)
estimate.add_command(tco)
estimate.add_command(dataflow)
estimate.add_command(video)
estimate.add_command(rag)
estimate.add_command(optics)
estimate.add_command(fat_tree_optics_cmd)
estimate.add_command(kernel)
