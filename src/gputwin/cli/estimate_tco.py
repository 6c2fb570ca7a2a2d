"""``gputwin estimate tco``: build vs buy -- hosted APIs, rented GPUs, an owned fleet."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import COUNT, DURATION, FINITE, emit_json, positive_int


def _print(d: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from gputwin.energy.tables import ESTIMATE_FOOTNOTE, ESTIMATE_MARK
    from gputwin.units import format_duration

    t = d["traffic"]
    r = d["replica"]
    console = Console()
    console.print(f"[bold]{d['model']}: {t['tokens_per_day']:.3g} tokens/day "
                  f"({t['input_tokens_per_day']:.3g} in, {t['output_tokens_per_day']:.3g} "
                  f"out), peak/mean {t['peak_to_mean']:g}[/bold]")
    console.print(f"replica on {d['accelerator']}: tp={r['tp']} batch {r['batch_size']}, "
                  f"{r['output_tokens_per_s']:,.0f} output tok/s, TPOT "
                  f"{r['tpot_s'] * 1e3:.1f} ms, TTFT ~{format_duration(r['ttft_s'])}")
    own = d["owned_tco"]
    items = ", ".join(f"{k} ${v:,.0f}" for k, v in own["usd_per_gpu_year_by_item"].items())
    console.print(f"owned TCO ${own['usd_per_gpu_hour']:.2f}/GPU-h ({items} per GPU-year)")
    table = Table(show_edge=False)
    for col in ("option", "GPUs", "$/month", "$/M tok", "break-\neven", "rate"):
        table.add_column(col, justify="left" if col == "option" else "right",
                         no_wrap=col == "option", overflow="fold")
    for o in d["options"]:
        be_s = _break_even(o)
        est = ESTIMATE_MARK if o.get("price_estimated") else ""
        table.add_row(o["name"], str(o["gpus"] or ""), f"{est}{o['monthly_usd']:,.0f}",
                      f"{est}{o['usd_per_million_tokens']:.3f}", be_s, est + _rate(o))
    console.print(table)
    if any(o.get("price_estimated") for o in d["options"]):
        console.print(ESTIMATE_FOOTNOTE)
    if d["break_even_against"]:
        console.print(f"break-even: tokens/day above which the fleet is cheaper than the "
                      f"cheapest API ({d['break_even_against']}); rate: $ per GPU-hour, or an "
                      "API's $ per M input / output tokens")


def _break_even(option: dict[str, Any]) -> str:
    """The break-even column: blank for an API, or when no API serves the model (nothing
    to break even against); ``never`` when the fleet never gets cheaper."""
    if option["kind"] == "api" or "break_even_tokens_per_day" not in option:
        return ""
    be = option["break_even_tokens_per_day"]
    return "never" if be is None else _volume(be)


def _volume(tokens_per_day: float) -> str:
    """``2.85e8`` (three figures, exponent without its sign and leading zero)."""
    return f"{tokens_per_day:.3g}".replace("e+0", "e").replace("e+", "e")


def _rate(o: dict[str, Any]) -> str:
    if o["kind"] == "api":
        basis: str = o["basis"]
        return basis.split(" per M")[0].rsplit(" ", 1)[-1].replace("/$", "/")
    return f"${o['usd_per_gpu_hour']:.2f}/h"


@click.command()
@click.option("--model", required=True, help="Model name (catalog).")
@click.option("--tokens-per-day", type=COUNT, required=True,
              help="Input + output tokens a day (e.g. 2e9); split by the request shape.")
@click.option("--gpu", default=None, help="Accelerator for the rented/owned fleet.")
@click.option("--system", default=None, help="System (node) name (catalog).")
@click.option("--input-tokens", type=int, default=1024, show_default=True,
              callback=positive_int, help="Prompt tokens per request.")
@click.option("--output-tokens", type=int, default=256, show_default=True,
              callback=positive_int, help="Output tokens per request.")
@click.option("--peak-to-mean", type=FINITE, default=2.0, show_default=True,
              help="Peak over mean traffic (the fleet is sized for the peak).")
@click.option("--tpot-slo", type=DURATION, default="50ms", show_default=True,
              help="Time per output token SLO (e.g. 50ms; a bare number is seconds).")
@click.option("--ttft-slo", type=DURATION, default="2s", show_default=True,
              help="Time to first token SLO (e.g. 2s; a bare number is seconds).")
@click.option("--tp", type=int, default=None, callback=positive_int,
              help="Tensor parallel size [default: the cheapest that meets the SLOs].")
@click.option("--weights", default="bf16", show_default=True, help="Weight dtype.")
@click.option("--kv-cache", default="bf16", show_default=True, help="KV cache dtype.")
@click.option("--cooling", default=None,
              help="Owned facility cooling (air, air-legacy, liquid, immersion) [default: the "
              "system's own: liquid for a liquid-cooled system, else air].")
@click.option("--network", type=click.Choice(["infiniband", "ethernet", "none"]),
              default="ethernet", show_default=True, help="Owned scale-out network class.")
@click.option("--financing-rate", type=FINITE, default=None,
              help="Cost of capital per year (fraction) [default: tco.yaml].")
@click.option("--electricity-usd-per-mwh", type=FINITE, default=None,
              help="Owned fleet's electricity price [default: tco.yaml].")
@click.option("--pue", type=FINITE, default=None, help="Owned facility PUE [default: tco.yaml].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tco(as_json: bool, tpot_slo: float, ttft_slo: float, financing_rate: float | None,
        **kw: Any) -> None:
    """Serve a model: public APIs vs renting GPUs vs owning a fleet, per million tokens.

    \b
    Example:
      gputwin estimate tco --model llama3-70b --tokens-per-day 2e9 --gpu h100-sxm-80gb
    """
    from gputwin.run.estimate_tco import estimate_tco, tco_request

    req = tco_request({**kw, "tpot_slo_s": tpot_slo, "ttft_slo_s": ttft_slo,
                       "financing_rate_frac": financing_rate})
    result = estimate_tco(req)
    if as_json:
        emit_json(result)
    else:
        _print(result)
