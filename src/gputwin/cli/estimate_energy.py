"""``gputwin estimate energy``: energy, carbon, water and cost of a training run."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import (
    COUNT,
    FINITE,
    Finite,
    emit_json,
    option_of,
    positive_int,
    rental_price_options,
)

_COOLING = ["air", "air-legacy", "liquid", "immersion"]


def _summary(d: dict[str, Any], title: str) -> None:
    """Readable summary (rich imported only here)."""
    from rich.console import Console
    from rich.table import Table

    from gputwin.units import format_duration, format_energy, format_grams

    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim")
    table.add_column()
    hours = d["gpu_hours"]
    table.add_row("run time", f"{format_duration(d['duration_s'])} "
                              f"({hours:,.0f} GPU-hour{'' if round(hours) == 1 else 's'})")
    table.add_row("IT power", f"{d['it_power_w'] / 1e3:,.1f} kW (GPUs, hosts and network; "
                              f"of which {d['gpu_power_w']:.0f} W per GPU for the GPU itself)")
    table.add_row("energy", f"IT {format_energy(d['it_energy_j'])}, facility "
                            f"{format_energy(d['facility_energy_j'])} (PUE {d['pue']:.3f})")
    table.add_row("carbon", f"operational {format_grams(d['co2e_operational_g'])} + embodied "
                            f"{format_grams(d['co2e_embodied_g'])} CO2e "
                            f"(grid {d['carbon_intensity_mean_g_per_kwh']:.0f} g/kWh)")
    table.add_row("water", f"{d['water_total_l']:,.3g} L" if d["water_total_l"] < 100
                  else f"{d['water_total_l']:,.0f} L")
    cost = d["cost_usd"]
    compute = "n/a" if cost["compute"] is None else _usd(cost["compute"])
    table.add_row("cost", f"compute {compute}, energy {_usd(cost['energy'])} ({cost['basis']})")
    if "cost_usd_per_million_tokens" in d:
        table.add_row("cost per 1M tokens", f"${d['cost_usd_per_million_tokens']:.4f}")
    rack = d["rack"]
    verdict = (f"a {rack['nodes']}-node stack fits" if rack["ok"] else rack["reason"])
    table.add_row("rack", f"at most {rack['max_nodes']} x {d['system']} per {d['cooling']} "
                          f"rack; {verdict}")
    table.add_row("grid", d["grid_origin"])
    console = Console()
    console.print(f"[bold]{title}[/bold]")
    console.print(table)


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value < 100 else f"${value:,.0f}"


@click.command()
@click.option("--model", default=None, help="Model name (catalog) or HF config.json path.")
@click.option("--gpu", default=None, help="Accelerator name (catalog).")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--num-gpus", type=int, default=1, show_default=True, callback=positive_int)
@click.option("--tokens", type=COUNT, default=None,
              help="Training tokens (e.g. 1.2T): run time from the training model.")
@click.option("--gpu-hours", type=COUNT, default=None,
              help="Reported GPU-hours instead of --tokens [default without --tokens: one "
                   "hour of the GPUs].")
@click.option("--busy-frac", "compute_frac", type=Finite(0.0, 1.0), default=None,
              help="Share of the time the GPUs compute, instead of the training model's "
                   "(--model) [default without --model: 1, fully busy].")
@click.option("--tp", type=int, default=None, callback=positive_int,
              help="Tensor parallel size [default: the planner's layout].")
@click.option("--pp", type=int, default=None, callback=positive_int,
              help="Pipeline parallel size [default: the planner's layout].")
@click.option("--global-batch-size", type=int, default=None, callback=positive_int,
              help="Sequences per step [default: ~4M tokens].")
@click.option("--global-batch-tokens", type=COUNT, default=None,
              help="Tokens per step instead (e.g. 16M).")
@click.option("--seq-len", type=int, default=None, callback=positive_int,
              help="Sequence length [default: the model's training length].")
@click.option("--dtype", type=click.Choice(["bf16", "fp16", "fp8"]), default="bf16",
              show_default=True)
@click.option("--region", default="US-CAL-CISO", show_default=True,
              help="Grid region (e.g. GB, SG, US-CAL-CISO, CA-ON).")
@click.option("--cooling", type=click.Choice(_COOLING), default=None,
              help="Facility cooling [default: liquid for liquid-cooled systems, else air].")
@rental_price_options
@click.option("--start", default="2023-06-01T00:00", show_default=True,
              help="Start time within the grid year (UTC).")
@click.option("--grid-data", default=None,
              help="'real' (the data folder, $GPUTWIN_DATA_DIR) or a folder holding "
                   "grid/carbon-2023 and grid/price-2023 (real 2023 CSVs) instead of the "
                   "bundled synthetic profiles.")
@click.option("--power-cap", "power_cap_w", type=FINITE, default=None,
              help="Per-GPU power cap in watts.")
@click.option("--pue", type=FINITE, default=None, help="Fixed PUE instead of the weather model.")
@click.option("--carbon-intensity", "carbon_intensity_g_per_kwh", type=FINITE, default=None,
              help="Flat grid intensity in g CO2e/kWh instead of the region's series.")
@click.option("--grid-water", "include_grid_water", is_flag=True,
              help="Add the water consumed upstream by power generation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def energy(as_json: bool, **options: Any) -> None:
    """Energy, carbon (operational + embodied), water and cost of a training run."""
    from gputwin.requests import EnergyRequest
    from gputwin.run.estimate_energy import estimate_energy

    if options.get("grid_data") is not None:
        options["grid_data"] = _grid_folder(options["grid_data"])
    assumed = _defaults_without_a_run(options)
    request = EnergyRequest.from_flat({k: v for k, v in options.items() if v is not None},
                                      where=option_of(click.get_current_context().command))
    est = estimate_energy(request)
    d = est.to_dict()
    if as_json:
        emit_json(d)
        return
    title = f"{request.model or 'job'} on {request.num_gpus} x {d['gpu']} in {request.region}"
    layout = d.get("layout")
    if layout is not None:
        title += (f"; {layout['source']} layout tp{layout['tp']} pp{layout['pp']} "
                  f"cp{layout['cp']} dp{layout['dp']}, GBS {layout['global_batch_size']}")
    _summary(d, title)
    if assumed:
        click.echo(f"assumed: {'; '.join(assumed)} (give --model with --tokens or "
                   "--gpu-hours for a training run)")


def _defaults_without_a_run(options: dict[str, Any]) -> list[str]:
    """Fill in a bare ``--gpu X``: one hour of the GPUs, fully busy without a model to say
    how busy. Returns what was assumed (printed under the summary)."""
    assumed = []
    if options.get("tokens") is None and options.get("gpu_hours") is None:
        options["gpu_hours"] = float(options["num_gpus"])
        assumed.append("one hour of the GPUs")
    if options.get("model") is None and options.get("compute_frac") is None:
        options["compute_frac"] = 1.0
        assumed.append("GPUs busy computing all the time")
    return assumed


def _grid_folder(value: str) -> str | None:
    """``--grid-data`` resolved like a scenario's ``site.grid_data`` (one data-folder rule)."""
    from gputwin.errors import InputError
    from gputwin.run.energy_setup import resolve_grid_dir

    try:
        folder = resolve_grid_dir(value)
    except InputError as exc:
        raise InputError(exc.detail, where="--grid-data") from None
    return None if folder is None else str(folder)
