"""``gputwin catalog``: list and show catalog entries with human units and their sources.

``rich`` is imported inside the functions that print, so ``gputwin --help`` stays fast.
Unknown sections or names raise :class:`UnknownNameError` (exit code 2 via ``cli.main``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from gputwin.cli.options import emit_json
from gputwin.errors import UnknownNameError

if TYPE_CHECKING:
    from gputwin.catalog.loader import Catalog
    from gputwin.catalog.schema import CatalogEntry

#: accepted spellings of each section
_ALIASES = {
    "accelerators": "accelerators", "accelerator": "accelerators", "gpus": "accelerators",
    "gpu": "accelerators", "systems": "systems", "system": "systems", "nodes": "systems",
    "fabrics": "fabrics", "fabric": "fabrics", "storage": "storage", "models": "models",
    "model": "models", "encoders": "encoders", "encoder": "encoders",
}
_SECTION_ORDER = ("accelerators", "systems", "fabrics", "storage", "models", "encoders")


# ---------------------------------------------------------------- human units
def _num(value: float) -> str:
    return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"


def fmt_flops(value: float) -> str:
    """FLOP/s as TFLOP/s or PFLOP/s."""
    return f"{_num(value / 1e15)} PFLOP/s" if value >= 1e16 else f"{_num(value / 1e12)} TFLOP/s"


def fmt_bytes(value: float) -> str:
    """Bytes in GiB (and GB), or TiB for large sizes."""
    if value >= 2**40:
        return f"{_num(value / 2**40)} TiB ({_num(value / 1e12)} TB)"
    return f"{_num(value / 2**30)} GiB ({_num(value / 1e9)} GB)"


def fmt_bandwidth(value: float) -> str:
    """Bytes/s in decimal GB/s or TB/s, with Gb/s for network-sized figures."""
    if value == 0:
        return "0 (none)"
    if value >= 1e12:
        return f"{_num(value / 1e12)} TB/s"
    return f"{_num(value / 1e9)} GB/s ({_num(value * 8 / 1e9)} Gb/s)"


def fmt_power(value: float) -> str:
    return f"{_num(value / 1e3)} kW" if value >= 1e4 else f"{_num(value)} W"


def fmt_seconds(value: float) -> str:
    if value < 1e-3:
        return f"{_num(value * 1e6)} µs"
    if value < 1.0:
        return f"{_num(value * 1e3)} ms"
    return f"{_num(value)} s"


def fmt_field(field: str, value: Any) -> str:
    """Human string for a schema field, chosen by its unit suffix."""
    if value is None:
        return "-"
    formatters: list[tuple[str, Callable[[float], str]]] = [
        ("_bytes_per_s", fmt_bandwidth), ("_bytes", fmt_bytes), ("_w", fmt_power),
        ("_frac", lambda v: f"{v:.0%}"), ("_s", fmt_seconds),
    ]
    for suffix, fmt in formatters:
        if field.endswith(suffix) and isinstance(value, int | float):
            return fmt(float(value))
    if isinstance(value, dict) and field == "peak_flop_per_s":
        return ", ".join(f"{k} {fmt_flops(v)}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# ---------------------------------------------------------------- table rows
def _gb(value: float | None, scale: float = 1e9) -> str:
    return "-" if value is None else _num(value / scale)


def _peak_t(entry: Any, dtype: str) -> str:
    value = entry.peak_flop_per_s.get(dtype)
    return "-" if value is None else _num(value / 1e12)


def _model_params(entry: Any) -> tuple[str, str]:
    from gputwin.catalog.model_math import param_counts

    counts = param_counts(entry)
    return _num(counts.total / 1e9), _num(counts.active / 1e9)


def price_of(accelerator: str) -> dict[str, Any] | None:
    """The price book's entry for an accelerator: rental USD per GPU-hour by provider class
    and pricing, capex per GPU, date and source (``None`` without an entry)."""
    from gputwin.energy.tables import default_tables

    entry = default_tables().price_book.accelerators.get(accelerator)
    if entry is None:
        return None
    return {"usd_per_gpu_hour": {k: dict(v) for k, v in entry.usd_per_gpu_hour.items()},
            "capex_usd_per_gpu": entry.capex_usd_per_gpu, "as_of": entry.as_of,
            "source": " ".join(entry.source.split())}


def _price_cells(name: str) -> list[str]:
    price = price_of(name)
    if price is None:
        return ["-", "-"]
    rents = [usd for by in price["usd_per_gpu_hour"].values() for usd in by.values()]
    return [f"{min(rents):,.2f}-{max(rents):,.2f}" if rents else "-",
            f"{price['capex_usd_per_gpu']:,.0f}"]


_COLUMNS: dict[str, tuple[list[str], Callable[[Any], list[str]]]] = {
    "accelerators": (
        ["name", "vendor", "BF16 TFLOP/s", "FP8 TFLOP/s", "memory GiB", "HBM TB/s",
         "scale-up GB/s/dir", "TDP W", "rent $/GPU-h", "capex $/GPU"],
        lambda a: [a.name, a.vendor, _peak_t(a, "bf16"), _peak_t(a, "fp8"),
                   _gb(a.memory_bytes, 2**30), _gb(a.memory_bandwidth_bytes_per_s, 1e12),
                   _gb(a.scale_up_bandwidth_bytes_per_s), _num(a.tdp_w),
                   *_price_cells(a.name)],
    ),
    "systems": (
        ["name", "accelerator", "per node", "scale-up domain", "scale-up fabric", "NICs",
         "scale-out", "max kW", "cooling"],
        lambda s: [s.name, s.accelerator, str(s.num_accelerators),
                   f"{s.scale_up_domain_size} ({s.scale_up_topology})", s.scale_up_fabric or "-",
                   f"{s.num_nics} x {_num(s.nic_bandwidth_bytes_per_s * 8 / 1e9)} Gb/s",
                   s.scale_out_fabric, _num(s.max_power_w / 1e3), s.cooling],
    ),
    "fabrics": (
        ["name", "kind", "technology", "link GB/s/dir", "latency µs", "efficiency",
         "in-network reduction"],
        lambda f: [f.name, f.kind, f.technology, _gb(f.link_bandwidth_bytes_per_s),
                   _num(f.latency_s * 1e6), f"{f.efficiency_frac:.0%}",
                   "yes" if f.in_network_reduction else "no"],
    ),
    "storage": (
        ["name", "kind", "read GB/s/node", "write GB/s/node", "aggregate read GB/s",
         "aggregate write GB/s", "latency"],
        lambda t: [t.name, t.kind, _gb(t.read_bandwidth_bytes_per_s_per_node),
                   _gb(t.write_bandwidth_bytes_per_s_per_node),
                   _gb(t.aggregate_read_bandwidth_bytes_per_s),
                   _gb(t.aggregate_write_bandwidth_bytes_per_s), fmt_seconds(t.latency_s)],
    ),
    "models": (
        ["name", "family", "layers", "hidden", "heads (kv)", "experts", "params B",
         "active B", "vocab", "max seq"],
        lambda m: [m.name, m.family, str(m.num_layers), str(m.hidden_size),
                   f"{m.num_attention_heads} ({m.kv_heads})",
                   f"{m.num_experts_per_token}/{m.num_experts}" if m.is_moe else "-",
                   *_model_params(m), str(m.vocab_size), str(m.max_seq_len)],
    ),
    "encoders": (
        ["name", "kind", "params M", "layers", "hidden", "vector dim", "max seq"],
        lambda e: [e.name, e.kind, _num(e.params / 1e6), str(e.num_layers), str(e.hidden_size),
                   str(e.embedding_dim or "-"), str(e.max_seq_len)],
    ),
}


# ---------------------------------------------------------------- helpers
def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160, highlight=False)


def _section_key(section: str) -> str:
    key = _ALIASES.get(section.lower())
    if key is None:
        raise UnknownNameError("catalog section", section, list(_SECTION_ORDER))
    return key


def _dump(entry: CatalogEntry) -> dict[str, Any]:
    data: dict[str, Any] = entry.model_dump(mode="json")
    return data


def _resolve(catalog: Catalog, name: str) -> tuple[str, CatalogEntry]:
    """Find ``name`` in any section; a path to a HF config.json is loaded as a model."""
    from gputwin.catalog.loader import names_a_config

    if names_a_config(name):
        return "models", catalog.model(name)
    return catalog.find(name)


# ---------------------------------------------------------------- commands
@click.group()
def catalog() -> None:
    """List and show accelerators, systems, fabrics, storage tiers and models."""


@catalog.command("list")
@click.argument("section", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def list_cmd(section: str | None, as_json: bool) -> None:
    """List catalog entries, all sections or one SECTION (accelerators, systems, fabrics,
    storage, models, encoders)."""
    from gputwin.catalog.loader import default_catalog

    cat = default_catalog()
    keys = [_section_key(section)] if section else list(_SECTION_ORDER)
    if as_json:
        emit_json({k: [_dump(e) | ({"price": price_of(e.name)} if k == "accelerators" else {})
                       for e in cat.section(k).values()] for k in keys})
        return
    from rich.table import Table

    console = _console()
    for key in keys:
        headers, row = _COLUMNS[key]
        table = Table(title=key, title_justify="left")
        for i, header in enumerate(headers):
            table.add_column(header, no_wrap=i == 0, justify="left" if i < 2 else "right")
        for entry in cat.section(key).values():
            table.add_row(*row(entry))
        console.print(table)


@catalog.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def show_cmd(name: str, as_json: bool) -> None:
    """Show every field of entry NAME (or of a Hugging Face config.json path) with its
    source."""
    from gputwin.catalog.loader import default_catalog

    section, entry = _resolve(default_catalog(), name)
    data = _dump(entry)
    derived = _derived(section, entry)
    if as_json:
        sources = {f: entry.source_of(f) for f in data if f not in ("source", "sources")}
        emit_json({"section": section, "entry": data, "derived": derived, "sources": sources})
        return
    _print_entry(section, entry, data, derived)


def _derived(section: str, entry: Any) -> dict[str, Any]:
    """Numbers computed from the entry (parameter counts for models) or kept beside it (the
    price book's rental prices and capex for accelerators)."""
    if section == "accelerators":
        price = price_of(entry.name)
        return {} if price is None else {"price": price}
    if section != "models":
        return {}
    from gputwin.catalog.model_math import param_counts

    counts = param_counts(entry)
    return {"total_params": counts.total, "active_params_per_token": counts.active,
            "embedding_params": counts.embedding, "attention_params": counts.attention,
            "mlp_params": counts.mlp, "router_params": counts.router, "norm_params": counts.norms}


def _print_entry(section: str, entry: Any, data: dict[str, Any], derived: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"{section}: {entry.name}", title_justify="left", show_lines=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value")
    table.add_column("source (if not the entry's)", overflow="fold")
    skip = {"name", "source", "sources"}
    for field, value in data.items():
        if field in skip or (value in ("", None) and field in ("description", "notes")):
            continue
        table.add_row(field, fmt_field(field, value), entry.sources.get(field, ""))
    for field, value in derived.items():
        if field == "price":
            rents = "; ".join(f"{prov} {pricing} ${usd:,.2f}"
                              for prov, by in value["usd_per_gpu_hour"].items()
                              for pricing, usd in by.items())
            table.add_row("rental $/GPU-h", rents or "-", f"price book, as of {value['as_of']}")
            table.add_row("capex $/GPU", f"{value['capex_usd_per_gpu']:,.0f}", value["source"])
            continue
        table.add_row(field, f"{value:,} ({value / 1e9:.2f} B)", "computed (model_math)")
    console = _console()
    console.print(table)
    console.print(f"[bold]source:[/bold] {entry.source}")
