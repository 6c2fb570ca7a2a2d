"""``gputwin economics``: API price list, owned-GPU TCO and a site's power supply."""

from __future__ import annotations

from typing import Any

import click

from gputwin.cli.options import FINITE, Finite, emit_json, wide_console


@click.group()
def economics() -> None:
    """Prices, total cost of ownership and power supply (see also `estimate tco`)."""


@economics.command()
@click.option("--model", default=None, help="Only APIs serving this catalog model.")
@click.option("--current", is_flag=True,
              help="Only the listings `estimate tco` compares (drop retired and superseded).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def apis(model: str | None, current: bool, as_json: bool) -> None:
    """The dated public API price list (USD per million tokens).

    Every reading is kept as dated history; `status` says which ones `estimate tco` uses:
    of each provider only its newest reading for a model (`superseded`: a newer one exists),
    never a `retired` endpoint."""
    from rich.table import Table

    from gputwin.catalog.loader import default_catalog
    from gputwin.economics.tables import api_prices, api_status, apis_for_model
    from gputwin.errors import UnknownNameError

    if model and model not in default_catalog().models:
        raise UnknownNameError("model", model, sorted(default_catalog().models),
                               where="--model")
    rows = apis_for_model(model, history=True) if model else list(api_prices())
    status = {a.name: api_status(a, model) for a in rows}
    if current:
        rows = [a for a in rows if status[a.name] == "current"]
    if as_json:
        emit_json([{**a.model_dump(), "status": status[a.name]} for a in rows])
        return
    if not rows:
        click.echo(f"no {'current ' if current else ''}public API listing serves {model} "
                   "(economics/data/api_prices.yaml)")
        return
    header = ("api", "kind", "$/M in", "$/M out", "as of", "status", "models")
    cells = [(a.name, a.kind, f"{a.usd_per_million_input:g}", f"{a.usd_per_million_output:g}",
              a.as_of, status[a.name], ", ".join(a.models) or "-") for a in rows]
    table = Table()
    for col in header:
        table.add_column(col)
    for row in cells:
        table.add_row(*row)
    # every name and model list whole: as wide as the widest cell of each column
    width = sum(max(map(len, col)) + 3 for col in zip(header, *cells, strict=True)) + 1
    wide_console(width).print(table)


@economics.command()
@click.option("--gpu", default=None, help="Accelerator (catalog) [default: all priced parts].")
@click.option("--cooling", default=None,
              help="air, air-legacy, liquid, immersion [default: the system's own].")
@click.option("--network", type=click.Choice(["infiniband", "ethernet", "none"]),
              default="infiniband", show_default=True)
@click.option("--activity", type=FINITE, default=0.6, show_default=True,
              help="Mean accelerator activity (sets the power bill).")
@click.option("--financing-rate", type=Finite(min=0), default=None)
@click.option("--electricity-usd-per-mwh", type=Finite(min=0), default=None)
@click.option("--pue", type=Finite(min=1), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def owned(gpu: str | None, as_json: bool, **kw: Any) -> None:
    """Owned cost per GPU-hour, itemised, beside the cheapest rental of each part."""
    from rich.table import Table

    from gputwin.catalog.loader import default_catalog
    from gputwin.economics.tco import OwnedAssumptions, owned_cost, rental_prices
    from gputwin.energy.tables import ESTIMATE_FOOTNOTE, ESTIMATE_MARK
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    a = OwnedAssumptions(cooling=kw["cooling"], network=kw["network"],
                         activity_frac=kw["activity"],
                         financing_rate_frac=kw["financing_rate"],
                         electricity_usd_per_mwh=kw["electricity_usd_per_mwh"], pue=kw["pue"])
    rows: list[dict[str, Any]] = []
    for name in [gpu] if gpu else sorted(cat.accelerators):
        hw = resolve_hardware(cat, gpu=name)
        cost: dict[str, Any] = owned_cost(hw.accelerator, hw.system, a).to_dict()
        rent = rental_prices(hw.accelerator.name)
        cheapest = min(rent, key=lambda r: r.usd_per_gpu_hour) if rent else None
        cost["cheapest_rental"] = cheapest._asdict() if cheapest else None
        rows.append(cost)
    if as_json:
        emit_json(rows)
        return
    table = Table()
    for col in ("gpu", "owned $/GPU-h", "capital", "facility", "maint.", "staff", "power",
                "cheapest rental"):
        table.add_column(col, justify="left" if col == "gpu" else "right")
    for r in rows:
        y = r["usd_per_gpu_year_by_item"]
        cheap = r["cheapest_rental"]
        table.add_row(r["accelerator"], f"{r['usd_per_gpu_hour']:.2f}",
                      *(f"{y[k] / 8760:.2f}" for k in ("hardware_capital", "facility_capital",
                                                       "maintenance", "staff", "power")),
                      f"{ESTIMATE_MARK if cheap['estimated'] else ''}"
                      f"{cheap['usd_per_gpu_hour']:.2f} "
                      f"({cheap['provider']}/{cheap['pricing']})" if cheap else "-")
    console = wide_console(118)  # every cell whole (the rental's provider and pricing)
    console.print(table)
    if any(r["cheapest_rental"] and r["cheapest_rental"]["estimated"] for r in rows):
        console.print(ESTIMATE_FOOTNOTE)


@economics.command()
@click.option("--region", default="US-TEX-ERCO", show_default=True, help="Grid region.")
@click.option("--load-mw", type=Finite(min=0, min_open=True), required=True,
              help="Facility power (constant), MW.")
@click.option("--ppa", multiple=True, help="TECH:MW[:USD_PER_MWH], e.g. solar-pv:150 (repeat).")
@click.option("--onsite", multiple=True, help="Firm TECH:MW[:USD_PER_MWH], e.g. smr:50.")
@click.option("--battery-mwh", type=Finite(min=0), default=0.0, show_default=True)
@click.option("--battery-mw", type=Finite(min=0), default=0.0, show_default=True)
@click.option("--interconnect-mw", type=Finite(min=0), default=None, help="Grid import limit, MW.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def supply(region: str, load_mw: float, ppa: tuple[str, ...], onsite: tuple[str, ...],
           battery_mwh: float, battery_mw: float, interconnect_mw: float | None,
           as_json: bool) -> None:
    """A year of a site's power: PPAs, on-site generation, battery and grid; 24/7 CFE score,
    location- vs market-based carbon and cost.

    \b
    Example:
      gputwin economics supply --load-mw 100 --ppa solar-pv:150 --ppa wind-onshore:150 \\
          --battery-mwh 400 --battery-mw 100
    """
    from gputwin.run.estimate_supply import estimate_supply

    t = estimate_supply(load_mw=load_mw, region=region, ppa=ppa, onsite=onsite,
                        battery_mwh=battery_mwh, battery_mw=battery_mw,
                        interconnect_mw=interconnect_mw)
    factors = t["capacity_factors"]
    if as_json:
        emit_json(t)
        return
    mwh = {k: v / 3.6e9 for k, v in t.items() if k.endswith("_j")}
    click.echo(f"{region}: {mwh['load_j']:,.0f} MWh load; on-site {mwh['onsite_j']:,.0f}, "
               f"PPA {mwh['ppa_j']:,.0f} (matched {mwh['ppa_matched_j']:,.0f}, sold "
               f"{mwh['ppa_sold_j']:,.0f}), battery out {mwh['battery_discharge_j']:,.0f}, "
               f"grid draw {mwh['grid_import_j']:,.0f} (PPAs are virtual: the site draws "
               f"its load and battery charge from the grid), unserved "
               f"{mwh['unserved_j']:,.0f} MWh")
    click.echo(f"24/7 CFE score {t['cfe_score_frac']:.1%} ({t['cfe_score_with_grid_frac']:.1%} "
               f"with the grid's carbon-free share); annual match {t['annual_match_frac']:.1%}")
    click.echo(f"carbon t CO2e: location-based {t['co2e_location_g'] / 1e6:,.0f}, "
               f"market-based hourly {t['co2e_market_hourly_g'] / 1e6:,.0f}, annual "
               f"{t['co2e_market_annual_g'] / 1e6:,.0f} (on-site {t['co2e_onsite_g'] / 1e6:,.0f})")
    click.echo(f"cost ${t['cost_total_usd'] / 1e6:,.2f}M/year (grid "
               f"{t['cost_grid_usd'] / 1e6:,.2f}, PPA {t['cost_ppa_usd'] / 1e6:,.2f} at "
               f"contract - {t['revenue_ppa_settlement_usd'] / 1e6:,.2f} its output's market "
               f"value, on-site "
               f"{t['cost_onsite_usd'] / 1e6:,.2f}, battery {t['cost_battery_usd'] / 1e6:,.2f})")
    if factors:
        click.echo("capacity factors: " + "; ".join(
            f"{f['tech']} {f['capacity_factor']:.1%} ({f['basis']})" for f in factors))


@economics.command()
@click.option("--gpu", required=True, help="Accelerator (catalog).")
@click.option("--gpu-hours", type=FINITE, required=True, help="GPU-hours of the run.")
@click.option("--utilisation", type=FINITE, default=0.8, show_default=True,
              help="Share of an owned fleet's hours doing useful work.")
@click.option("--cooling", default=None,
              help="air, air-legacy, liquid, immersion [default: the system's own].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def train(gpu: str, gpu_hours: float, utilisation: float, cooling: str | None,
          as_json: bool) -> None:
    """Rent vs own for a training run of --gpu-hours (see `estimate train`/`estimate energy`
    for the GPU-hours of a model and token count)."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.economics.tco import OwnedAssumptions, owned_cost
    from gputwin.economics.train_cost import training_options
    from gputwin.topology.hardware import resolve_hardware

    hw = resolve_hardware(default_catalog(), gpu=gpu, where=lambda f: f"--{f}")
    own, idle = (owned_cost(hw.accelerator, hw.system,
                            OwnedAssumptions(cooling=cooling, network="infiniband",
                                             activity_frac=activity))
                 for activity in (0.9, 0.0))
    rows = training_options(own, gpu_hours, utilisation, idle)
    if as_json:
        emit_json({"gpu": gpu, "gpu_hours": gpu_hours, "options": rows})
        return
    for r in rows:
        be = r.get("break_even_utilisation_frac")
        tail = f"; owning wins above {be:.0%} use" if be else ""
        click.echo(f"{r['name']:<28} ${r['cost_usd']:>14,.0f}  (${r['usd_per_gpu_hour']:.2f}"
                   f"/GPU-h, {r['basis']}{tail})")


def _own_per_million(model: str, gpu: str, tokens_per_day: float
                     ) -> tuple[float, float, float]:
    """USD and facility kWh per million tokens (input + output) of ``model`` served on an
    owned ``gpu`` fleet sized for ``tokens_per_day`` (the fleet's IT power at the TCO's
    activity x PUE over the tokens it serves), and the output share of those tokens."""
    from gputwin.run.estimate_tco import estimate_tco, tco_request

    d = estimate_tco(tco_request({"model": model, "gpu": gpu, "tokens_per_day": tokens_per_day,
                                  "peak_to_mean": 1.0, "tpot_slo_s": 0.2}))
    own = next(o for o in d["options"] if o["kind"] == "own")
    tco = d["owned_tco"]
    facility_kw = own["gpus"] * tco["it_power_w"] * tco["assumptions"]["pue"] / 1e3
    kwh_per_million = facility_kw * 24.0 / (tokens_per_day / 1e6)
    traffic = d["traffic"]
    output_frac = traffic["output_tokens_per_day"] / traffic["tokens_per_day"]
    return float(own["usd_per_million_tokens"]), kwh_per_million, output_frac


@economics.command()
@click.option("--teacher", required=True, help="Teacher model (catalog).")
@click.option("--student", required=True, help="Student model (catalog).")
@click.option("--gpu", default="h100-sxm-80gb", show_default=True)
@click.option("--distill-tokens", type=FINITE, default=1e10, show_default=True,
              help="Tokens the teacher generates (output; each carries its prompt's "
                   "share of the serving cost).")
@click.option("--train-tokens", type=FINITE, default=None,
              help="Student training tokens [default: --distill-tokens].")
@click.option("--tokens-per-day", type=FINITE, required=True, help="Production traffic.")
@click.option("--horizon-days", type=FINITE, default=365.0, show_default=True)
@click.option("--mfu", type=FINITE, default=0.4, show_default=True,
              help="Student training MFU (ESTIMATE; see `estimate train`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def distill(teacher: str, student: str, gpu: str, distill_tokens: float,
            train_tokens: float | None, tokens_per_day: float, horizon_days: float,
            mfu: float, as_json: bool) -> None:
    """Distillation as a pipeline: teacher data generation + student training vs serving
    savings (both served on owned --gpu fleets at the serving model's throughput)."""
    from gputwin.catalog.loader import default_catalog
    from gputwin.catalog.model_math import total_params
    from gputwin.economics.distill import DistillInputs, distill_economics
    from gputwin.energy.tco import OwnedAssumptions, owned_cost
    from gputwin.topology.hardware import resolve_hardware

    cat = default_catalog()
    cat.model(teacher, where="--teacher")  # unknown names first, each at its flag
    cat.model(student, where="--student")
    cat.accelerator(gpu, where="--gpu")
    hw = resolve_hardware(cat, gpu=gpu)
    t_usd, t_kwh, t_out = _own_per_million(teacher, gpu, tokens_per_day)
    s_usd, s_kwh, _ = _own_per_million(student, gpu, tokens_per_day)
    # training at full activity: its cost and its energy from the same power draw
    train = owned_cost(hw.accelerator, hw.system, OwnedAssumptions(activity_frac=1.0))
    res = distill_economics(DistillInputs(
        t_usd, s_usd, distill_tokens, float(total_params(cat.model(student))),
        train_tokens or distill_tokens, hw.accelerator.peak_flop_per_s["bf16"],
        train.usd_per_gpu_hour, tokens_per_day, horizon_days,
        mfu, t_kwh, s_kwh, train.it_power_w * float(train.assumptions["pue"]),
        teacher_output_frac=t_out))
    out = {"teacher": teacher, "student": student, "gpu": gpu,
           "teacher_usd_per_million_tokens": t_usd, "student_usd_per_million_tokens": s_usd,
           "teacher_kwh_per_million_tokens": t_kwh, "student_kwh_per_million_tokens": s_kwh,
           **res}
    if as_json:
        emit_json(out)
        return
    pay = res["payback_days"]
    click.echo(f"teacher {teacher} ${t_usd:.3f}/M, student {student} ${s_usd:.3f}/M tokens "
               f"(owned {gpu})")
    click.echo(f"data ${res['generation_usd']:,.0f} + training ${res['training_usd']:,.0f} "
               f"({res['training_gpu_hours']:,.0f} GPU-h) = ${res['upfront_usd']:,.0f}; saves "
               f"${res['savings_usd_per_day']:,.0f}/day; payback "
               f"{'never' if pay is None else f'{pay:,.0f} days'}; net over "
               f"{horizon_days:g} days ${res['net_saving_usd_over_horizon']:,.0f}")
    epay = res["energy_payback_days"]
    click.echo(f"energy: data {res['generation_kwh'] / 1e3:,.1f} MWh + training "
               f"{res['training_kwh'] / 1e3:,.1f} MWh; saves "
               f"{res['energy_saved_kwh_per_day']:,.0f} kWh/day; energy payback "
               f"{'never' if epay is None else f'{epay:,.0f} days'}")
